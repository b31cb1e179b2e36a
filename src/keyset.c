/*-------------------------------------------------------------------------
 *
 * keyset.c
 *		In-memory key sets for the validator.
 *
 * The parent key set lets the validator read each child row once and test
 * it against the parent with one hash probe, instead of a join per batch.
 * It hashes parent values with the left-hand and child values with the
 * right-hand hash function of the reference's pinned equality operator, so
 * cross-type keys (int4 child, int8 parent) work, and compares with that
 * operator under the parent column's collation, as the foreign key would
 * (integer and uuid keys are hashed and compared in place, as those
 * functions do: see ParentKeySet).
 * A single integer column (the serial key of most schemas) is a bitmap over
 * the parent's key range, built as the keys come, while that range is dense
 * enough.
 * The set is used only when every operator is hashable and the column types are
 * the operators' own input types; otherwise the validator confirms every
 * distinct child key against the parent's index instead.  A set that would
 * outgrow its memory limit reports so, and the caller falls back the same
 * way.
 *
 * The set is filled as the parent's owner and probed as the child's owner
 * (validate.c), each in a restricted security context; the hash and
 * equality functions it calls are members of the operator's families, which
 * compare.c allows only when a superuser or the owner of both tables owns
 * them.
 *
 * A batch's child keys are grouped by binary image, the finest grouping,
 * so that each group is judged against the parent as each of its rows would
 * be.  The orphans a pass reports are then grouped as GROUP BY groups them:
 * by the child type's own equality (its default hash operator class, under
 * the child column's collation), so numeric 2.0 and 2.00, or citext 'abc'
 * and 'ABC', are one key, shown as the first row read has it.  (That
 * equality can be coarser than the comparison with the parent, as citext's
 * is against a text parent: grouping first would judge 'ABC' by 'abc'.)  A
 * type without a hash function (money, bit, tsvector, ...) is grouped by
 * binary image, which for these types is the same.  The tracking trigger's
 * groups count rows per binary image: a key that changed only in its bytes
 * is then recorded, and merely re-checked.
 *
 * src/keyset.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/nbtree.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/hashfn.h"
#include "nodes/makefuncs.h"
#include "lib/stringinfo.h"
#include "parser/parse_coerce.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "columns.h"
#include "keyset.h"

/*
 * The parent key set is an open-addressing hash table of fixed-size slots
 * in one array: a probe usually touches one cache line, which matters
 * since every child row probes it.
 */
typedef struct KeySlot
{
	uint32		hash;
	bool		used;
	Datum		values[FLEXIBLE_ARRAY_MEMBER];
} KeySlot;

struct ParentKeySet
{
	MemoryContext cxt;
	int			nkeys;
	FmgrInfo	eq[INDEX_MAX_KEYS];
	FmgrInfo	parent_hash[INDEX_MAX_KEYS];
	FmgrInfo	child_hash[INDEX_MAX_KEYS];
	Oid			collations[INDEX_MAX_KEYS];
	bool		byval[INDEX_MAX_KEYS];
	int16		typlen[INDEX_MAX_KEYS];
	Size		limit;
	uint64		count;
	Size		slot_size;
	uint64		capacity;		/* a power of 2, at least twice count */
	char	   *slots;

	/*
	 * One integer column compared with integer equality (the common case
	 * of a serial key) goes into a bitmap as its values come, probed without
	 * hashing and within a few cache lines: bit i stands for the value base
	 * + i, and the bitmap widens, by doubling, to take a value outside it for
	 * as long as it stays dense enough (see bitmap_dense()).  A value that
	 * would make it too sparse turns its bits into an array of values, which
	 * keyset_complete() makes a hash table, sized once.  (Gathering every
	 * value in an array first held eight bytes a key at the peak, where a
	 * dense key's bitmap holds one bit; growing a hash table as keys came
	 * held two tables at once.)
	 */
	bool		integer_key;
	Oid			parent_type;
	Oid			child_type;
	int64		min;
	int64		max;
	int64		base;			/* the value of the bitmap's bit 0, a multiple of 64 */
	uint64		nwords;			/* the bitmap's size in 64-bit words */
	uint64	   *bitmap;
	int64	   *ints;			/* once the values are too sparse for it */
	uint64		maxints;

	/*
	 * One uuid column compared with uuid equality, whose values are equal
	 * exactly when their bytes are: each slot holds the 16 bytes, compared
	 * and hashed in place (as uuid_hash() hashes them), so that a probe
	 * reads one slot and calls no function.  In the hash table of integer
	 * keys, likewise, each slot holds the value as an int64, hashed as
	 * hashint8() hashes it (as hashint2() and hashint4() hash the same
	 * value), and compared as one.
	 */
	bool		uuid_key;
};

/* Is this function integer equality between int2, int4 and int8? */
static bool
is_integer_equality(Oid funcid)
{
	switch (funcid)
	{
		case F_INT2EQ:
		case F_INT4EQ:
		case F_INT8EQ:
		case F_INT24EQ:
		case F_INT42EQ:
		case F_INT28EQ:
		case F_INT82EQ:
		case F_INT48EQ:
		case F_INT84EQ:
			return true;
		default:
			return false;
	}
}

/* The hash of an integer, as hashint8() computes it (see above). */
static inline uint32
integer_hash(int64 value)
{
	uint32		lohalf = (uint32) value;
	uint32		hihalf = (uint32) (value >> 32);

	lohalf ^= (value >= 0) ? hihalf : ~hihalf;
	return hash_combine(0, hash_bytes_uint32(lohalf));
}

/* The hash of a uuid's bytes, as uuid_hash() computes it. */
static inline uint32
uuid_bytes_hash(const pg_uuid_t *uuid)
{
	return hash_combine(0, hash_bytes(uuid->data, UUID_LEN));
}

/* An int2, int4 or int8 Datum as int64. */
static inline int64
integer_value(Oid type, Datum value)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(value);
		case INT4OID:
			return DatumGetInt32(value);
		default:
			return DatumGetInt64(value);
	}
}

#define SLOT(set, i) ((KeySlot *) ((set)->slots + (i) * (set)->slot_size))

/* How a reference's child keys compare, see above */
struct KeyEquality
{
	int			nkeys;
	bool		by_image[INDEX_MAX_KEYS];	/* no hash function */
	bool		equal_images;	/* equal keys are alike bit for bit */
	FmgrInfo	hash[INDEX_MAX_KEYS];
	FmgrInfo	eq[INDEX_MAX_KEYS];
	Oid			collations[INDEX_MAX_KEYS];
	bool		byval[INDEX_MAX_KEYS];
	int16		typlen[INDEX_MAX_KEYS];
	bool		json_faithful;	/* see keyeq_json_faithful() */
};

struct ChildKeyGroup
{
	MemoryContext cxt;
	int			nkeys;
	KeyEquality *equality;		/* NULL: by binary image */
	bool		flatten;		/* keep detoasted copies */
	bool		byval[INDEX_MAX_KEYS];
	int16		typlen[INDEX_MAX_KEYS];
	uint64		count;
	uint32		nbuckets;
	ChildKey  **buckets;
	ChildKey   *first;
	ChildKey   *last;
};

/*
 * Can the parent key set serve this reference?  Every operator must be
 * hashable, with the column types as its input types (or binary-coercible to
 * them).
 */
bool
keyset_supported(RiReference *ref)
{
	for (int i = 0; i < ref->nkeys; i++)
	{
		Oid			left;
		Oid			right;
		RegProcedure lhash;
		RegProcedure rhash;

		op_input_types(ref->eq_operators[i], &left, &right);
		if (!IsBinaryCoercible(ref->parent_types[i], left) ||
			!IsBinaryCoercible(ref->child_types[i], right))
			return false;
		if (!get_op_hash_functions(ref->eq_operators[i], &lhash, &rhash))
			return false;
	}
	return true;
}

/*
 * Create an empty parent key set; "limit" bounds its memory.
 */
ParentKeySet *
keyset_create(RiReference *ref, MemoryContext parent, Size limit)
{
	MemoryContext cxt;
	ParentKeySet *set;

	cxt = AllocSetContextCreate(parent, "ri_policy parent keys",
								ALLOCSET_DEFAULT_SIZES);
	set = MemoryContextAllocZero(cxt, sizeof(ParentKeySet));
	set->cxt = cxt;
	set->nkeys = ref->nkeys;
	set->limit = limit;
	for (int i = 0; i < ref->nkeys; i++)
	{
		RegProcedure lhash;
		RegProcedure rhash;

		if (!get_op_hash_functions(ref->eq_operators[i], &lhash, &rhash))
			elog(ERROR, "operator %u is not hashable", ref->eq_operators[i]);
		fmgr_info_cxt(get_opcode(ref->eq_operators[i]), &set->eq[i], cxt);
		fmgr_info_cxt(lhash, &set->parent_hash[i], cxt);
		fmgr_info_cxt(rhash, &set->child_hash[i], cxt);
		set->collations[i] = ref->parent_collations[i];
		get_typlenbyval(ref->parent_types[i], &set->typlen[i], &set->byval[i]);
	}
	set->integer_key = (ref->nkeys == 1 &&
						is_integer_equality(get_opcode(ref->eq_operators[0])));
	set->parent_type = getBaseType(ref->parent_types[0]);
	set->child_type = getBaseType(ref->child_types[0]);
	set->min = PG_INT64_MAX;
	set->max = PG_INT64_MIN;
	set->uuid_key = (ref->nkeys == 1 && get_opcode(ref->eq_operators[0]) == F_UUID_EQ);
	set->slot_size = MAXALIGN(offsetof(KeySlot, values) +
							  (set->uuid_key ? UUID_LEN : ref->nkeys * sizeof(Datum)));
	if (set->integer_key)
		return set;				/* the bitmap starts with the first value */
	set->capacity = 1024;
	set->slots = MemoryContextAllocZero(cxt, set->capacity * set->slot_size);
	return set;
}

/* Put a slot's contents at its place in a table of the given capacity. */
static void
keyset_place(ParentKeySet *set, char *slots, uint64 capacity, KeySlot *from)
{
	uint64		mask = capacity - 1;
	uint64		i = from->hash & mask;
	KeySlot    *to;

	for (;;)
	{
		to = (KeySlot *) (slots + i * set->slot_size);
		if (!to->used)
			break;
		i = (i + 1) & mask;
	}
	memcpy(to, from, set->slot_size);
}

/*
 * Double the table.  Returns false if that would exceed the memory limit.
 */
static bool
keyset_grow(ParentKeySet *set)
{
	uint64		capacity = set->capacity * 2;
	char	   *slots;

	if (MemoryContextMemAllocated(set->cxt, true) + capacity * set->slot_size > set->limit)
		return false;
	slots = MemoryContextAllocExtended(set->cxt, capacity * set->slot_size,
									   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (uint64 i = 0; i < set->capacity; i++)
	{
		KeySlot    *slot = SLOT(set, i);

		if (slot->used)
			keyset_place(set, slots, capacity, slot);
	}
	pfree(set->slots);
	set->slots = slots;
	set->capacity = capacity;
	return true;
}

/* The multiple of 64 at or below v: the base of a bitmap that holds v */
#define BITMAP_FLOOR(v) ((v) & ~INT64CONST(63))

/* A bitmap this small (1MB) is dense enough whatever it holds */
#define BITMAP_SMALL_WORDS (1024 * 1024 / sizeof(uint64))

/*
 * May a bitmap of this many words hold this many keys?  Only if it is no
 * larger than an array of the keys would be (one value in 64 of its range
 * used, at least), or small.
 */
static inline bool
bitmap_dense(uint64 nwords, uint64 count)
{
	return nwords <= Max(count, BITMAP_SMALL_WORDS);
}

static inline void
bitmap_set(ParentKeySet *set, int64 v)
{
	uint64		bit = (uint64) v - (uint64) set->base;

	Assert(v >= set->base && bit / 64 < set->nwords);
	set->bitmap[bit / 64] |= UINT64CONST(1) << (bit % 64);
}

/*
 * Widen the bitmap to hold v, doubling it where that stays dense and within
 * the range of int64.  Returns false, changing nothing, when even the
 * smallest bitmap that holds v would be too sparse for the keys it would
 * then hold, or exceed the memory limit.
 */
static bool
bitmap_widen(ParentKeySet *set, int64 v)
{
	bool		below = v < set->base;
	uint64		need;			/* words to add on v's side */
	uint64		room;			/* words int64 leaves on that side */
	uint64		grow;
	uint64	   *bitmap;

	if (below)
	{
		need = ((uint64) set->base - (uint64) BITMAP_FLOOR(v)) / 64;
		room = ((uint64) set->base - (uint64) PG_INT64_MIN) / 64;
	}
	else
	{
		need = ((uint64) v - (uint64) set->base) / 64 + 1 - set->nwords;
		room = ((uint64) PG_INT64_MAX - (uint64) set->base) / 64 + 1 - set->nwords;
	}
	if (!bitmap_dense(set->nwords + need, set->count + 1))
		return false;
	grow = Max(need, Min(set->nwords, room));
	grow = Min(grow, Max(set->count + 1, BITMAP_SMALL_WORDS) - set->nwords);
	Assert(grow >= need);
	if (MemoryContextMemAllocated(set->cxt, true) +
		(set->nwords + grow) * sizeof(uint64) > set->limit)
		return false;

	bitmap = MemoryContextAllocExtended(set->cxt,
										(set->nwords + grow) * sizeof(uint64),
										MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	memcpy(bitmap + (below ? grow : 0), set->bitmap,
		   set->nwords * sizeof(uint64));
	pfree(set->bitmap);
	set->bitmap = bitmap;
	if (below)
		set->base = (int64) ((uint64) set->base - grow * 64);
	set->nwords += grow;
	return true;
}

/*
 * The keys are too sparse for a bitmap: make its bits an array of values.
 * Returns false if the array would exceed the memory limit.
 */
static bool
bitmap_to_ints(ParentKeySet *set)
{
	uint64		n = 0;

	set->maxints = 1024;
	while (set->maxints < set->count * 2)
		set->maxints *= 2;
	if (MemoryContextMemAllocated(set->cxt, true) +
		set->maxints * sizeof(int64) > set->limit)
		return false;
	set->ints = MemoryContextAllocExtended(set->cxt,
										   set->maxints * sizeof(int64),
										   MCXT_ALLOC_HUGE);
	for (uint64 w = 0; w < set->nwords; w++)
	{
		uint64		word = set->bitmap[w];

		while (word != 0)
		{
			int			bit = pg_rightmost_one_pos64(word);

			set->ints[n++] = (int64) ((uint64) set->base + w * 64 + bit);
			word &= word - 1;
		}
	}
	Assert(n <= set->count);
	set->count = n;				/* duplicates were one bit */
	pfree(set->bitmap);
	set->bitmap = NULL;
	return true;
}

/* keyset_add() of an integer key */
static bool
keyset_add_integer(ParentKeySet *set, int64 v)
{
	if (set->ints == NULL && set->bitmap == NULL)
	{
		/* the first value */
		set->base = BITMAP_FLOOR(v);
		set->nwords = 1;
		set->bitmap = MemoryContextAllocZero(set->cxt, sizeof(uint64));
	}
	if (set->bitmap != NULL && (v < set->base ||
								((uint64) v - (uint64) set->base) / 64 >= set->nwords) &&
		!bitmap_widen(set, v) && !bitmap_to_ints(set))
		return false;

	if (set->bitmap != NULL)
		bitmap_set(set, v);
	else
	{
		if (set->count == set->maxints)
		{
			if (MemoryContextMemAllocated(set->cxt, true) +
				set->maxints * 2 * sizeof(int64) > set->limit)
				return false;
			set->maxints *= 2;
			set->ints = repalloc_huge(set->ints, set->maxints * sizeof(int64));
		}
		set->ints[set->count] = v;
	}
	set->count++;
	set->min = Min(set->min, v);
	set->max = Max(set->max, v);
	return true;
}

/*
 * Add a parent key (no NULLs).  Returns false, adding nothing, once the set
 * would exceed its memory limit.
 */
bool
keyset_add(ParentKeySet *set, Datum *values)
{
	char		buf[offsetof(KeySlot, values) + INDEX_MAX_KEYS * sizeof(Datum)];
	KeySlot    *slot = (KeySlot *) buf;
	uint32		hash = 0;
	MemoryContext oldcxt;

	if (set->integer_key)
		return keyset_add_integer(set, integer_value(set->parent_type, values[0]));

	if ((set->count + 1) * 2 > set->capacity && !keyset_grow(set))
		return false;
	if ((set->count & 1023) == 0 &&
		MemoryContextMemAllocated(set->cxt, true) > set->limit)
		return false;

	if (set->uuid_key)
	{
		const pg_uuid_t *uuid = DatumGetUUIDP(values[0]);

		memcpy(slot->values, uuid->data, UUID_LEN);
		slot->hash = uuid_bytes_hash(uuid);
		slot->used = true;
		keyset_place(set, set->slots, set->capacity, slot);
		set->count++;
		return true;
	}

	oldcxt = MemoryContextSwitchTo(set->cxt);
	for (int i = 0; i < set->nkeys; i++)
	{
		/* a flat copy: a TOAST pointer could outlive its value */
		slot->values[i] = set->typlen[i] == -1 ?
			PointerGetDatum(PG_DETOAST_DATUM_COPY(values[i])) :
			datumCopy(values[i], set->byval[i], set->typlen[i]);
		hash = hash_combine(hash,
							DatumGetUInt32(FunctionCall1Coll(&set->parent_hash[i],
															 set->collations[i],
															 values[i])));
	}
	MemoryContextSwitchTo(oldcxt);
	slot->hash = hash;
	slot->used = true;
	keyset_place(set, set->slots, set->capacity, slot);
	set->count++;
	return true;
}

/* Say what the complete set of integer keys is, for a DBA's DEBUG1 */
static bool
keyset_report(ParentKeySet *set)
{
	if (set->bitmap != NULL)
		ereport(DEBUG1,
				(errmsg_internal("parent key set: " UINT64_FORMAT " integer keys in a bitmap of " UINT64_FORMAT " bytes",
								 set->count, set->nwords * sizeof(uint64))));
	else
		ereport(DEBUG1,
				(errmsg_internal("parent key set: " UINT64_FORMAT " integer keys in a hash table of " UINT64_FORMAT " slots",
								 set->count, set->capacity)));
	return true;
}

/*
 * All keys are in.  An integer key's bitmap, built as they came, is
 * complete.  Integer values gathered in an array (too sparse for a bitmap
 * at some point) become one if they are dense enough after all and it fits
 * the memory limit, or else the hash table.  Returns false if that would
 * exceed the memory limit.
 */
bool
keyset_complete(ParentKeySet *set)
{
	uint64		capacity = 1024;

	if (!set->integer_key)
		return true;
	if (set->bitmap != NULL)
		return keyset_report(set);

	if (set->count > 0)
	{
		int64		base = BITMAP_FLOOR(set->min);
		uint64		nwords = ((uint64) set->max - (uint64) base) / 64 + 1;

		if (bitmap_dense(nwords, set->count) &&
			MemoryContextMemAllocated(set->cxt, true) +
			nwords * sizeof(uint64) <= set->limit)
		{
			set->base = base;
			set->nwords = nwords;
			set->bitmap = MemoryContextAllocExtended(set->cxt,
													 nwords * sizeof(uint64),
													 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
			for (uint64 i = 0; i < set->count; i++)
				bitmap_set(set, set->ints[i]);
			pfree(set->ints);
			set->ints = NULL;
			return keyset_report(set);
		}
	}

	/* the hash table, at most half full */
	while (capacity < set->count * 2)
		capacity *= 2;
	if (MemoryContextMemAllocated(set->cxt, true) + capacity * set->slot_size > set->limit)
		return false;
	set->capacity = capacity;
	set->slots = MemoryContextAllocExtended(set->cxt, capacity * set->slot_size,
											MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (uint64 i = 0; i < set->count; i++)
	{
		char		buf[offsetof(KeySlot, values) + sizeof(Datum)];
		KeySlot    *slot = (KeySlot *) buf;

		slot->values[0] = Int64GetDatum(set->ints[i]);
		slot->hash = integer_hash(set->ints[i]);
		slot->used = true;
		keyset_place(set, set->slots, set->capacity, slot);
	}
	if (set->ints != NULL)
		pfree(set->ints);
	set->ints = NULL;
	return keyset_report(set);
}

/*
 * Does the set hold a parent key equal to these child values (no NULLs)?
 */
bool
keyset_contains(ParentKeySet *set, Datum *child_values)
{
	if (set->bitmap != NULL)
	{
		int64		v = integer_value(set->child_type, child_values[0]);
		uint64		bit;

		if (v < set->min || v > set->max)
			return false;
		bit = (uint64) v - (uint64) set->base;
		return (set->bitmap[bit / 64] & (UINT64CONST(1) << (bit % 64))) != 0;
	}
	return keyset_contains_hashed(set, child_values,
								  keyset_child_hash(set, child_values));
}

/*
 * Is the set a hash table, whose probes are worth pipelining (see
 * keyset_prefetch())?  A bitmap is probed within a few cache lines.
 */
bool
keyset_hashed(ParentKeySet *set)
{
	return set->bitmap == NULL;
}

/* The hash of child values (no NULLs) as the set's hash table knows it. */
uint32
keyset_child_hash(ParentKeySet *set, Datum *child_values)
{
	uint32		hash = 0;

	if (set->integer_key)
		return integer_hash(integer_value(set->child_type, child_values[0]));
	if (set->uuid_key)
		return uuid_bytes_hash(DatumGetUUIDP(child_values[0]));
	for (int i = 0; i < set->nkeys; i++)
		hash = hash_combine(hash,
							DatumGetUInt32(FunctionCall1Coll(&set->child_hash[i],
															 set->collations[i],
															 child_values[i])));
	return hash;
}

/*
 * Start loading the slot where a probe of this hash begins.  A table of
 * many keys outgrows the CPU's caches, and a probe then waits for memory
 * almost all its time; a caller that hashes several keys first and probes
 * them after lets those waits overlap.
 */
void
keyset_prefetch(ParentKeySet *set, uint32 hash)
{
#if defined(__GNUC__) || defined(__clang__)
	__builtin_prefetch(SLOT(set, hash & (set->capacity - 1)));
#endif
}

/*
 * keyset_contains() of a hash table, given the values' hash
 * (keyset_child_hash()).
 */
bool
keyset_contains_hashed(ParentKeySet *set, Datum *child_values, uint32 hash)
{
	uint64		mask = set->capacity - 1;
	int64		integer = 0;
	const pg_uuid_t *uuid = NULL;

	Assert(set->bitmap == NULL);
	if (set->integer_key)
		integer = integer_value(set->child_type, child_values[0]);
	else if (set->uuid_key)
		uuid = DatumGetUUIDP(child_values[0]);
	for (uint64 b = hash & mask;; b = (b + 1) & mask)
	{
		KeySlot    *slot = SLOT(set, b);
		int			i;

		if (!slot->used)
			return false;
		if (slot->hash != hash)
			continue;
		if (set->integer_key)
		{
			if (DatumGetInt64(slot->values[0]) == integer)
				return true;
			continue;
		}
		if (uuid != NULL)
		{
			if (memcmp(slot->values, uuid->data, UUID_LEN) == 0)
				return true;
			continue;
		}
		for (i = 0; i < set->nkeys; i++)
		{
			if (!DatumGetBool(FunctionCall2Coll(&set->eq[i], set->collations[i],
												slot->values[i],
												child_values[i])))
				break;
		}
		if (i == set->nkeys)
			return true;
	}
}

uint64
keyset_count(ParentKeySet *set)
{
	return set->count;
}

/*
 * Create an empty group of child keys, grouped by binary image, in the
 * given (per-batch) context.
 */
ChildKeyGroup *
childkeys_create(int nkeys, Oid *types, MemoryContext cxt)
{
	ChildKeyGroup *group = MemoryContextAllocZero(cxt, sizeof(ChildKeyGroup));

	group->cxt = cxt;
	group->nkeys = nkeys;
	for (int i = 0; i < nkeys; i++)
		get_typlenbyval(types[i], &group->typlen[i], &group->byval[i]);
	group->nbuckets = 16;			/* grows with the keys */
	group->buckets = MemoryContextAllocZero(cxt, group->nbuckets * sizeof(ChildKey *));
	return group;
}

/*
 * Create an empty group of a reference's child keys, grouped by the child
 * type's equality ("equality", from keyeq_create()).  With "flatten", the
 * group keeps detoasted copies of the values, so that it may outlive the
 * snapshot they were read with.  Hashing and comparing run the type's
 * functions as the current user: the caller switches to the child's owner.
 */
ChildKeyGroup *
childkeys_create_eq(RiReference *ref, KeyEquality *equality, bool flatten,
					MemoryContext cxt)
{
	ChildKeyGroup *group = childkeys_create(ref->nkeys, ref->child_types, cxt);

	group->equality = equality;
	group->flatten = flatten;
	return group;
}

/* A hash of a value's binary image, as datum_image_eq compares it. */
static uint32
image_hash(Datum value, bool byval, int16 typlen)
{
	if (byval)
		return hash_bytes_uint32((uint32) DatumGetUInt32(value)) ^
			hash_bytes_uint32((uint32) (((uint64) value) >> 32));
	if (typlen > 0)
		return hash_bytes((const unsigned char *) DatumGetPointer(value), typlen);
	if (typlen == -1)
	{
		struct varlena *v = PG_DETOAST_DATUM_PACKED(value);
		uint32		h = hash_bytes((const unsigned char *) VARDATA_ANY(v),
								   VARSIZE_ANY_EXHDR(v));

		if ((Pointer) v != DatumGetPointer(value))
			pfree(v);
		return h;
	}
	return hash_bytes((const unsigned char *) DatumGetCString(value),
					  strlen(DatumGetCString(value)));
}

static bool equal_means_same_image(Oid type, Oid collation);

/*
 * How the child keys of a reference compare: the child type's default hash
 * operator class (its hash function and equality operator, as GROUP BY
 * uses them) under the child column's collation, or binary image for a
 * type without one.  Allocated in "cxt".
 */
KeyEquality *
keyeq_create(RiReference *ref, MemoryContext cxt)
{
	KeyEquality *equality = MemoryContextAllocZero(cxt, sizeof(KeyEquality));

	equality->nkeys = ref->nkeys;
	equality->equal_images = true;
	for (int i = 0; i < ref->nkeys; i++)
	{
		TypeCacheEntry *entry;

		equality->collations[i] = ri_child_column_collation(ref, i);
		equality->equal_images &= equal_means_same_image(ref->child_types[i],
														 equality->collations[i]);
		get_typlenbyval(ref->child_types[i], &equality->typlen[i], &equality->byval[i]);
		entry = lookup_type_cache(getBaseType(ref->child_types[i]),
								  TYPECACHE_EQ_OPR | TYPECACHE_HASH_PROC);
		if (!OidIsValid(entry->hash_proc) || !OidIsValid(entry->eq_opr))
		{
			equality->by_image[i] = true;
			continue;
		}
		fmgr_info_cxt(entry->hash_proc, &equality->hash[i], cxt);
		fmgr_info_cxt(get_opcode(entry->eq_opr), &equality->eq[i], cxt);
	}

	/* to_jsonb() uses a type's cast to json if it has one, else its output */
	equality->json_faithful = true;
	for (int i = 0; i < ref->nkeys; i++)
	{
		Oid			castfunc;

		if (find_coercion_pathway(JSONOID, getBaseType(ref->child_types[i]),
								  COERCION_EXPLICIT, &castfunc) == COERCION_PATH_FUNC)
			equality->json_faithful = false;
	}
	return equality;
}

/*
 * Are equal values of this type, under this collation, alike bit for bit,
 * as its b-tree operator class says (its equalimage support function, which
 * b-tree deduplication asks)?  Not numeric's (2.0 and 2.00), float's (0 and
 * -0), nor text's under a nondeterministic collation.
 */
static bool
equal_means_same_image(Oid type, Oid collation)
{
	Oid			base = getBaseType(type);
	Oid			opclass = GetDefaultOpClass(base, BTREE_AM_OID);
	Oid			opcintype;
	Oid			proc;

	if (!OidIsValid(opclass))
		return false;
	opcintype = get_opclass_input_type(opclass);
	proc = get_opfamily_proc(get_opclass_family(opclass), opcintype, opcintype,
							 BTEQUALIMAGE_PROC);
	return OidIsValid(proc) &&
		DatumGetBool(OidFunctionCall1Coll(proc, collation, ObjectIdGetDatum(opcintype)));
}

/*
 * Do equal keys have equal images, so equal jsonb forms too (key_to_jsonb
 * writes each value's output)?
 */
bool
keyeq_equal_images(KeyEquality *equality)
{
	return equality->equal_images;
}

/*
 * Are two keys with the same jsonb bytes (key_to_jsonb) equal?  So when
 * each value's jsonb form is its type's output, which PostgreSQL's types
 * keep apart (their input reads it back), or a number or boolean built from
 * it; a cast to json, which a user can define, may map several values to
 * one form.
 */
bool
keyeq_json_faithful(KeyEquality *equality)
{
	return equality->json_faithful;
}

/* The hash of a key (values of the child's types), consistent with keyeq_equal. */
uint32
keyeq_hash(KeyEquality *equality, Datum *values, bool *isnull)
{
	uint32		hash = 0;

	for (int i = 0; i < equality->nkeys; i++)
	{
		uint32		h;

		if (isnull[i])
			h = 0x9e3779b9;
		else if (equality->by_image[i])
			h = image_hash(values[i], equality->byval[i], equality->typlen[i]);
		else
			h = DatumGetUInt32(FunctionCall1Coll(&equality->hash[i],
												 equality->collations[i],
												 values[i]));
		hash = hash_combine(hash, h);
	}
	return hash;
}

/* Are two keys equal, column by column (a NULL equals a NULL)? */
bool
keyeq_equal(KeyEquality *equality, Datum *a, bool *anull, Datum *b, bool *bnull)
{
	for (int i = 0; i < equality->nkeys; i++)
	{
		if (anull[i] || bnull[i])
		{
			if (anull[i] != bnull[i])
				return false;
		}
		else if (equality->by_image[i])
		{
			if (!datum_image_eq(a[i], b[i], equality->byval[i], equality->typlen[i]))
				return false;
		}
		else if (!DatumGetBool(FunctionCall2Coll(&equality->eq[i],
												 equality->collations[i],
												 a[i], b[i])))
			return false;
	}
	return true;
}

static void
childkeys_grow(ChildKeyGroup *group)
{
	uint32		nbuckets = group->nbuckets * 2;
	ChildKey  **buckets;

	buckets = MemoryContextAllocZero(group->cxt, nbuckets * sizeof(ChildKey *));
	for (ChildKey *key = group->first; key; key = key->next)
	{
		uint32		b = key->hash & (nbuckets - 1);

		key->chain = buckets[b];
		buckets[b] = key;
	}
	pfree(group->buckets);
	group->buckets = buckets;
	group->nbuckets = nbuckets;
}

/*
 * Count rows of this key; return its group entry.  A new key gets an entry
 * only if "create"; otherwise NULL is returned for it.  New entries start as
 * not known to be orphans.
 */
ChildKey *
childkeys_add(ChildKeyGroup *group, Datum *values, bool *isnull, int64 rows,
			  bool create)
{
	uint32		hash = 0;
	ChildKey   *key;
	uint32		b;
	MemoryContext oldcxt;

	if (group->equality != NULL)
		hash = keyeq_hash(group->equality, values, isnull);
	else
		for (int i = 0; i < group->nkeys; i++)
			hash = hash_combine(hash, isnull[i] ? 0x9e3779b9 :
								image_hash(values[i], group->byval[i], group->typlen[i]));

	b = hash & (group->nbuckets - 1);
	for (key = group->buckets[b]; key != NULL; key = key->chain)
	{
		int			i;

		if (key->hash != hash)
			continue;
		if (group->equality != NULL)
			i = keyeq_equal(group->equality, key->values, key->isnull,
							values, isnull) ? group->nkeys : 0;
		else
			for (i = 0; i < group->nkeys; i++)
			{
				if (key->isnull[i] != isnull[i] ||
					(!isnull[i] &&
					 !datum_image_eq(key->values[i], values[i],
									 group->byval[i], group->typlen[i])))
					break;
			}
		if (i == group->nkeys)
		{
			key->rows += rows;
			return key;
		}
	}
	if (!create)
		return NULL;

	oldcxt = MemoryContextSwitchTo(group->cxt);
	key = palloc(sizeof(ChildKey));
	key->values = palloc(group->nkeys * sizeof(Datum));
	key->isnull = palloc(group->nkeys * sizeof(bool));
	for (int i = 0; i < group->nkeys; i++)
	{
		key->isnull[i] = isnull[i];
		if (isnull[i])
			key->values[i] = (Datum) 0;
		else if (group->flatten && group->typlen[i] == -1)
			key->values[i] = PointerGetDatum(PG_DETOAST_DATUM_COPY(values[i]));
		else
			key->values[i] = datumCopy(values[i], group->byval[i], group->typlen[i]);
	}
	MemoryContextSwitchTo(oldcxt);
	key->hash = hash;
	key->rows = rows;
	key->orphan = false;
	key->tag = 0;
	key->next = NULL;
	key->chain = group->buckets[b];
	group->buckets[b] = key;
	if (group->last)
		group->last->next = key;
	else
		group->first = key;
	group->last = key;
	if (++group->count > group->nbuckets)
		childkeys_grow(group);
	return key;
}

ChildKey *
childkeys_first(ChildKeyGroup *group)
{
	return group->first;
}

uint64
childkeys_count(ChildKeyGroup *group)
{
	return group->count;
}

/*
 * The jsonb form of a key: an object from child column names to values,
 * each value exactly as to_jsonb() renders it (so keys compare equal to
 * jsonb_build_object('col', col, ...) in a user's query).  Type output
 * functions (or a type's cast to json) run as the current user: the caller
 * switches to the child's owner first.
 */
Datum
key_to_jsonb(RiReference *ref, Datum *values, bool *isnull)
{
	/*
	 * Made in a scratch context, reset at each key: a pass formats
	 * thousands of keys into one batch's context, whose growth (a new
	 * block, and its pages faulted in, every few keys) cost more than
	 * formatting them.
	 */
	static MemoryContext scratch = NULL;
	MemoryContext oldcxt = CurrentMemoryContext;
	StringInfoData buf;
	Datum		result;

	if (scratch == NULL)
		scratch = AllocSetContextCreate(TopMemoryContext, "ri_policy key formatting",
										ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(scratch);
	MemoryContextSwitchTo(scratch);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < ref->nkeys; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, ref->child_columns[i]);
		appendStringInfoString(&buf, ": ");
		if (isnull[i])
			appendStringInfoString(&buf, "null");
		else
		{
			FmgrInfo	flinfo;
			FuncExpr   *expr;
			Jsonb	   *value;

			/* to_jsonb(anyelement) learns the type from its call expression */
			fmgr_info(F_TO_JSONB, &flinfo);
			expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
								list_make1(makeNullConst(ref->child_types[i], -1,
														 InvalidOid)),
								InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
			fmgr_info_set_expr((Node *) expr, &flinfo);
			value = DatumGetJsonbP(FunctionCall1(&flinfo, values[i]));
			appendStringInfoString(&buf, JsonbToCString(NULL, &value->root,
														VARSIZE(value)));
		}
	}
	appendStringInfoChar(&buf, '}');
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	MemoryContextSwitchTo(oldcxt);
	result = datumCopy(result, false, -1);
	MemoryContextReset(scratch);
	return result;
}
