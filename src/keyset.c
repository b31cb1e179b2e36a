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
 * operator under the parent column's collation, as the foreign key would.
 * It is used only when every operator is hashable and the column types are
 * the operators' own input types; otherwise the validator confirms every
 * distinct child key against the parent's index instead.  A set that would
 * outgrow its memory limit reports so, and the caller falls back the same
 * way.
 *
 * The batch's child keys (and orphans()'s results, as jsonb) are grouped by
 * binary image, which is enough to
 * count rows per key: keys that compare equal but differ in image simply
 * become separate groups, and their JSON forms are merged when recorded.
 *
 * src/keyset.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "nodes/makefuncs.h"
#include "lib/stringinfo.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "keyset.h"

typedef struct ParentKey
{
	struct ParentKey *chain;
	uint32		hash;
	Datum		values[FLEXIBLE_ARRAY_MEMBER];
} ParentKey;

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
	uint32		nbuckets;		/* a power of 2 */
	ParentKey **buckets;
};

struct ChildKeyGroup
{
	MemoryContext cxt;
	int			nkeys;
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
	set->nbuckets = 1024;
	set->buckets = MemoryContextAllocZero(cxt, set->nbuckets * sizeof(ParentKey *));
	return set;
}

static void
keyset_grow(ParentKeySet *set)
{
	uint32		nbuckets = set->nbuckets * 2;
	ParentKey **buckets;

	buckets = MemoryContextAllocZero(set->cxt, nbuckets * sizeof(ParentKey *));
	for (uint32 b = 0; b < set->nbuckets; b++)
	{
		ParentKey  *key = set->buckets[b];

		while (key)
		{
			ParentKey  *next = key->chain;
			uint32		nb = key->hash & (nbuckets - 1);

			key->chain = buckets[nb];
			buckets[nb] = key;
			key = next;
		}
	}
	pfree(set->buckets);
	set->buckets = buckets;
	set->nbuckets = nbuckets;
}

/*
 * Add a parent key (no NULLs).  Returns false, adding nothing, once the set
 * has reached its memory limit.
 */
bool
keyset_add(ParentKeySet *set, Datum *values)
{
	ParentKey  *key;
	uint32		hash = 0;
	uint32		b;
	MemoryContext oldcxt;

	if ((set->count & 1023) == 0 &&
		MemoryContextMemAllocated(set->cxt, true) > set->limit)
		return false;

	oldcxt = MemoryContextSwitchTo(set->cxt);
	key = palloc(offsetof(ParentKey, values) + set->nkeys * sizeof(Datum));
	for (int i = 0; i < set->nkeys; i++)
	{
		key->values[i] = datumCopy(values[i], set->byval[i], set->typlen[i]);
		hash = hash_combine(hash,
							DatumGetUInt32(FunctionCall1Coll(&set->parent_hash[i],
															 set->collations[i],
															 values[i])));
	}
	MemoryContextSwitchTo(oldcxt);
	key->hash = hash;
	b = hash & (set->nbuckets - 1);
	key->chain = set->buckets[b];
	set->buckets[b] = key;
	if (++set->count > set->nbuckets)
		keyset_grow(set);
	return true;
}

/*
 * Does the set hold a parent key equal to these child values (no NULLs)?
 */
bool
keyset_contains(ParentKeySet *set, Datum *child_values)
{
	uint32		hash = 0;

	for (int i = 0; i < set->nkeys; i++)
		hash = hash_combine(hash,
							DatumGetUInt32(FunctionCall1Coll(&set->child_hash[i],
															 set->collations[i],
															 child_values[i])));

	for (ParentKey *key = set->buckets[hash & (set->nbuckets - 1)];
		 key != NULL; key = key->chain)
	{
		int			i;

		if (key->hash != hash)
			continue;
		for (i = 0; i < set->nkeys; i++)
		{
			if (!DatumGetBool(FunctionCall2Coll(&set->eq[i], set->collations[i],
												key->values[i],
												child_values[i])))
				break;
		}
		if (i == set->nkeys)
			return true;
	}
	return false;
}

uint64
keyset_count(ParentKeySet *set)
{
	return set->count;
}

/*
 * Create an empty group of child keys, in the given (per-batch) context.
 */
ChildKeyGroup *
childkeys_create(int nkeys, Oid *types, MemoryContext cxt)
{
	ChildKeyGroup *group = MemoryContextAllocZero(cxt, sizeof(ChildKeyGroup));

	group->cxt = cxt;
	group->nkeys = nkeys;
	for (int i = 0; i < nkeys; i++)
		get_typlenbyval(types[i], &group->typlen[i], &group->byval[i]);
	group->nbuckets = 256;
	group->buckets = MemoryContextAllocZero(cxt, group->nbuckets * sizeof(ChildKey *));
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

	for (int i = 0; i < group->nkeys; i++)
		hash = hash_combine(hash, isnull[i] ? 0x9e3779b9 :
							image_hash(values[i], group->byval[i], group->typlen[i]));

	b = hash & (group->nbuckets - 1);
	for (key = group->buckets[b]; key != NULL; key = key->chain)
	{
		int			i;

		if (key->hash != hash)
			continue;
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
		key->values[i] = isnull[i] ? (Datum) 0 :
			datumCopy(values[i], group->byval[i], group->typlen[i]);
	}
	MemoryContextSwitchTo(oldcxt);
	key->hash = hash;
	key->rows = rows;
	key->orphan = false;
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
 * functions run as the current user.
 */
Datum
key_to_jsonb(RiReference *ref, Datum *values, bool *isnull)
{
	StringInfoData buf;

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
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}
