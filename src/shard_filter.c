/*-------------------------------------------------------------------------
 *
 * shard_filter.c
 *		The parent's integer and uuid keys as the shards of a Citus child
 *		test them.
 *
 * Validating a Citus child, the coordinator sends the parent's keys to the
 * workers in the child's query, so that each shard returns only the keys
 * no parent row equals (citus.c).  Integer keys too scattered for runs, a
 * bitmap or a multirange go as a set of integers, one bytea (in
 * SetReader's format, below: about a byte a key for a table's generated
 * keys), which each shard tests every row against:
 *
 *	ri_policy._int8_in_keys(c.k::int8, '\x...'::bytea)
 *
 * For a constant set (as Citus writes it into each shard's query), the
 * first call hashes the set into an open-addressing table kept for the
 * rest of the query, and every row then costs one probe: a few times less
 * than PostgreSQL's hashed "= ANY" over the same integers, which calls the
 * type's hash and equality functions through fmgr and keeps larger entries.
 * A set that is not a constant (a PL/pgSQL variable, a column) is searched
 * from the start at each call, so the answer never depends on what an
 * earlier call saw.
 *
 * Any role may call the function with any bytea: one that is not a set of
 * integers in that format is refused with an error, whatever the key.  The
 * answer is exact (equality of int8), so the filter built on it drops only
 * keys that have a parent.
 *
 * uuid keys, scattered by nature, go the same way as their 16 bytes each,
 * one after the other, to ri_policy._uuid_in_keys(c.k, '\x...'::bytea):
 * equality of uuids is equality of their bytes.
 *
 * src/shard_filter.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "shard_filter.h"

PG_FUNCTION_INFO_V1(ri_policy_int8_in_keys);
PG_FUNCTION_INFO_V1(ri_policy_uuid_in_keys);

/* A slot no key occupies; a set holding this value says so apart */
#define EMPTY_SLOT	PG_INT64_MIN

typedef struct Int8KeySet
{
	uint64		mask;			/* slots, less one (a power of two, less one) */
	uint64		seed;			/* of the hash: see set_seed() */
	bool		has_empty;		/* does the set hold EMPTY_SLOT itself? */
	int64		slots[FLEXIBLE_ARRAY_MEMBER];
} Int8KeySet;

#define MAX_SET_KEYS	RI_SET_MAX_INT8_KEYS

/*
 * The seed of a set's hash, new for each table: the hash (below) can be
 * inverted, so that whoever writes the keys of a set could otherwise choose
 * keys that all fall in one slot, and make building it take time quadratic
 * in their number.
 */
static uint64
set_seed(void)
{
	return pg_prng_uint64(&pg_global_prng_state);
}

/* A 64-bit finalizer (splitmix64's): every bit of the key moves the slot */
static inline uint64
mix64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/*
 * The set's integers in ascending order, decoded one at a time from its
 * bytes: the first as its distance from PG_INT64_MIN, each other as its
 * distance from the one before, less one; each distance a varint (seven
 * bits a byte, the least significant first, the high bit set on every byte
 * but the last).  Consecutive keys, as tables mostly have, take a byte
 * each.
 */
typedef struct SetReader
{
	const unsigned char *next;
	const unsigned char *end;
	uint64		offset;			/* the last integer's distance from the least */
	bool		first;
} SetReader;

static void
set_reader_init(SetReader *rd, bytea *keys)
{
	rd->next = (const unsigned char *) VARDATA_ANY(keys);
	rd->end = rd->next + VARSIZE_ANY_EXHDR(keys);
	rd->offset = 0;
	rd->first = true;
}

static void
set_invalid(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid set of integer keys"),
			 errdetail_internal("%s", detail)));
}

/* The set's next integer into *v; false at its end */
static bool
set_next(SetReader *rd, int64 *v)
{
	uint64		distance = 0;
	int			shift = 0;

	if (rd->next == rd->end)
		return false;
	for (;;)
	{
		unsigned char b;

		if (rd->next == rd->end)
			set_invalid("It ends inside a value.");
		b = *rd->next++;
		if (shift == 63 && b > 1)
			set_invalid("A value exceeds 64 bits.");
		distance |= (uint64) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			break;
		shift += 7;
	}
	if (rd->first)
		rd->offset = distance;
	else if (distance >= PG_UINT64_MAX - rd->offset)
		set_invalid("A value exceeds the range of bigint.");
	else
		rd->offset += distance + 1;
	rd->first = false;
	/* two's complement: offset 0 is PG_INT64_MIN */
	*v = (int64) (rd->offset ^ (UINT64CONST(1) << 63));
	return true;
}

/* Hash the set's integers into a table in "cxt" */
static Int8KeySet *
set_build(bytea *keys, MemoryContext cxt)
{
	SetReader	rd;
	Size		n = 0;
	Size		nslots = 16;
	Int8KeySet *set;
	int64		v;

	set_reader_init(&rd, keys);
	while (set_next(&rd, &v))
	{
		CHECK_FOR_INTERRUPTS();
		if (++n > MAX_SET_KEYS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("set of integer keys is too large"),
					 errdetail("A set holds at most %zu keys.", MAX_SET_KEYS)));
	}
	while (nslots < 2 * n)
		nslots *= 2;
	set = MemoryContextAlloc(cxt, offsetof(Int8KeySet, slots) +
							 nslots * sizeof(int64));
	set->mask = nslots - 1;
	set->seed = set_seed();
	set->has_empty = false;
	for (Size i = 0; i < nslots; i++)
		set->slots[i] = EMPTY_SLOT;
	set_reader_init(&rd, keys);
	while (set_next(&rd, &v))
	{
		uint64		slot;

		CHECK_FOR_INTERRUPTS();
		if (v == EMPTY_SLOT)
		{
			set->has_empty = true;
			continue;
		}
		/* the values are distinct: no need to look for one already there */
		for (slot = mix64((uint64) v ^ set->seed) & set->mask;
			 set->slots[slot] != EMPTY_SLOT;
			 slot = (slot + 1) & set->mask)
			;
		set->slots[slot] = v;
	}
	return set;
}

static inline bool
set_contains(const Int8KeySet *set, int64 v)
{
	uint64		slot;

	if (v == EMPTY_SLOT)
		return set->has_empty;
	for (slot = mix64((uint64) v ^ set->seed) & set->mask;; slot = (slot + 1) & set->mask)
	{
		if (set->slots[slot] == v)
			return true;
		if (set->slots[slot] == EMPTY_SLOT)
			return false;
	}
}

/*
 * Is argument "argnum" of the call a constant in the expression?  Not
 * get_fn_expr_arg_stable(), which also trusts external parameters: a
 * PL/pgSQL simple expression is evaluated again, by the same FmgrInfo, with
 * other values of its parameters.
 */
static bool
arg_is_const(FmgrInfo *flinfo, int argnum)
{
	Node	   *expr = flinfo ? flinfo->fn_expr : NULL;
	List	   *args;

	if (expr == NULL || !IsA(expr, FuncExpr))
		return false;
	args = ((FuncExpr *) expr)->args;
	return argnum < list_length(args) && IsA(list_nth(args, argnum), Const);
}

/*
 * ri_policy._int8_in_keys(key int8, keys bytea) RETURNS boolean (strict):
 * is "key" one of the integers of "keys"?
 */
Datum
ri_policy_int8_in_keys(PG_FUNCTION_ARGS)
{
	int64		key = PG_GETARG_INT64(0);
	Int8KeySet *set = (Int8KeySet *) fcinfo->flinfo->fn_extra;

	if (set == NULL)
	{
		bytea	   *keys = PG_GETARG_BYTEA_PP(1);

		if (!arg_is_const(fcinfo->flinfo, 1))
		{
			SetReader	rd;
			int64		v;
			bool		found = false;

			/* all of it, so that a bad set fails whatever the key */
			set_reader_init(&rd, keys);
			while (set_next(&rd, &v))
			{
				CHECK_FOR_INTERRUPTS();
				found |= (v == key);
			}
			PG_RETURN_BOOL(found);
		}
		set = set_build(keys, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = set;
	}
	PG_RETURN_BOOL(set_contains(set, key));
}

/*
 * A set of uuids: an open-addressing table of their 16 bytes, with a flag a
 * slot, since every value of the bytes is a uuid.
 */
typedef struct UuidKeySet
{
	uint64		mask;
	uint64		seed;			/* see set_seed() */
	bool	   *used;
	pg_uuid_t  *slots;
} UuidKeySet;

#define MAX_UUID_KEYS	RI_SET_MAX_UUID_KEYS

static inline uint64
uuid_slot(const UuidKeySet *set, const pg_uuid_t *u)
{
	uint64		a;
	uint64		b;

	memcpy(&a, u->data, sizeof(a));
	memcpy(&b, u->data + sizeof(a), sizeof(b));

	/*
	 * Mixed in turn: with mix64(a ^ seed ^ mix64(b)), uuids whose halves
	 * give one a ^ mix64(b) would share a slot whatever the seed.
	 */
	return mix64(mix64(a ^ set->seed) ^ b) & set->mask;
}

/* The number of uuids in "keys", or an error if it holds a partial one */
static Size
uuid_set_length(bytea *keys)
{
	Size		len = VARSIZE_ANY_EXHDR(keys);

	if (len % UUID_LEN != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid set of uuid keys"),
				 errdetail("Its length, %zu bytes, is not a multiple of %d.", len, UUID_LEN)));
	if (len / UUID_LEN > MAX_UUID_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("set of uuid keys is too large"),
				 errdetail("A set holds at most %zu keys.", MAX_UUID_KEYS)));
	return len / UUID_LEN;
}

static UuidKeySet *
uuid_set_build(const char *bytes, Size n, MemoryContext cxt)
{
	Size		nslots = 16;
	UuidKeySet *set = MemoryContextAlloc(cxt, sizeof(UuidKeySet));

	while (nslots < 2 * n)
		nslots *= 2;
	set->mask = nslots - 1;
	set->seed = set_seed();
	set->used = MemoryContextAllocZero(cxt, nslots * sizeof(bool));
	set->slots = MemoryContextAlloc(cxt, nslots * sizeof(pg_uuid_t));
	for (Size i = 0; i < n; i++)
	{
		const pg_uuid_t *u = (const pg_uuid_t *) (bytes + i * UUID_LEN);
		uint64		slot;

		CHECK_FOR_INTERRUPTS();
		for (slot = uuid_slot(set, u);
			 set->used[slot] && memcmp(&set->slots[slot], u, UUID_LEN) != 0;
			 slot = (slot + 1) & set->mask)
			;
		set->used[slot] = true;
		memcpy(&set->slots[slot], u, UUID_LEN);
	}
	return set;
}

static inline bool
uuid_set_contains(const UuidKeySet *set, const pg_uuid_t *u)
{
	for (uint64 slot = uuid_slot(set, u);; slot = (slot + 1) & set->mask)
	{
		if (!set->used[slot])
			return false;
		if (memcmp(&set->slots[slot], u, UUID_LEN) == 0)
			return true;
	}
}

/*
 * ri_policy._uuid_in_keys(key uuid, keys bytea) RETURNS boolean (strict):
 * is "key" one of the uuids of "keys", 16 bytes each?  Cached as
 * ri_policy_int8_in_keys() caches its set.
 */
Datum
ri_policy_uuid_in_keys(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *key = PG_GETARG_UUID_P(0);
	UuidKeySet *set = (UuidKeySet *) fcinfo->flinfo->fn_extra;

	if (set == NULL)
	{
		bytea	   *keys = PG_GETARG_BYTEA_PP(1);
		Size		n = uuid_set_length(keys);
		const char *bytes = VARDATA_ANY(keys);

		if (!arg_is_const(fcinfo->flinfo, 1))
		{
			for (Size i = 0; i < n; i++)
			{
				CHECK_FOR_INTERRUPTS();
				if (memcmp(bytes + i * UUID_LEN, key, UUID_LEN) == 0)
					PG_RETURN_BOOL(true);
			}
			PG_RETURN_BOOL(false);
		}
		set = uuid_set_build(bytes, n, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = set;
	}
	PG_RETURN_BOOL(uuid_set_contains(set, key));
}
