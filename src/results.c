/*-------------------------------------------------------------------------
 *
 * results.c
 *		Recorded keys: ri_policy._pending and ri_policy._violation.
 *
 * A key is recorded as jsonb (keyset.c, key_to_jsonb) with a hash of its
 * values, key_hash: the hash that groups the pass's child keys, by the
 * child type's own equality (keyset.c, keyeq_hash).  The tables are found
 * by (reference, key_hash), a b-tree of two integers, so a key of any size
 * that a user can store is recordable; a b-tree on the key itself refused
 * keys over about 2.7 kB, and with them the whole pass.  Two keys are the
 * same key when the child type's equality says so (numeric 2.0 and 2.00,
 * citext 'abc' and 'ABC'), not when their hashes or their jsonb forms are
 * equal: keys whose hashes collide stay two keys.  No unique index can say
 * that without running the child type's functions as the extension's
 * owner, so the rule is kept here, and kept alone: everything that adds
 * to a reference's results (validate, repair) holds the reference's lock.
 *
 * Comparing a key with a recorded one of the same hash first compares
 * their jsonb forms: the same bytes are the same key, for types whose jsonb
 * form is their output (keyeq_json_faithful).  Otherwise the recorded key
 * is read back into the child's types (its jsonb values as text, through
 * the type's input, as SQL's text::type would) as the child's owner, as
 * every other use of the child's code runs, and compared by the type's
 * equality.  A key that cannot be read back (a domain's CHECK that now
 * fails, or a type whose jsonb form is its cast to json) equals only a key
 * of the same jsonb bytes.  A pass keeps the form under which
 * a key was first recorded: a key already among the reference's
 * violations is recorded again in that form (by the end of the pass, which
 * matches pending keys with violations by jsonb equality, where that is the
 * child type's equality: ri_keys_compare_by_image).
 *
 * src/results.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "compare.h"
#include "results.h"

PG_FUNCTION_INFO_V1(ri_policy_key_hash);

/*
 * The most bytes of keys that one row of _pending_batch, or one statement
 * writing _pending, takes (a key larger than this goes alone): the keys of
 * a batch, a megabyte each, overflowed the 1 GB that an array may hold,
 * and the pass failed.
 */
#define RI_PENDING_ROW_BYTES	((Size) 64 * 1024 * 1024)

/* A key's value of one column as text (jsonb ->> column), or NULL. */
static text *
key_field_text(Datum key, const char *column)
{
	LOCAL_FCINFO(fcinfo, 2);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 2, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = key;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = CStringGetTextDatum(column);
	fcinfo->args[1].isnull = false;
	result = jsonb_object_field_text(fcinfo);
	return fcinfo->isnull ? NULL : DatumGetTextPP(result);
}

/*
 * Read n recorded keys (jsonb, as key_to_jsonb() made them) back into
 * values of the child's key columns, as "child_owner" in a restricted
 * security context and under the settings keys are written with:
 * values[i][k] and isnull[i][k] for column i of key k (the caller
 * allocates the column arrays of n entries).  Sets unreadable[k] for a key
 * one of whose values cannot be read back.
 */
void
ri_keys_read(RiReference *ref, Oid child_owner, Datum *keys, int n,
			 Datum **values, bool **isnull, bool *unreadable)
{
	RiUserState saved;
	int			fixed;
	Datum	   *texts = palloc((n + 1) * sizeof(Datum));
	bool	   *failed = palloc((n + 1) * sizeof(bool));
	int		   *pos = palloc((n + 1) * sizeof(int));

	for (int k = 0; k < n; k++)
		unreadable[k] = false;

	ri_become(child_owner, RI_OWNER_CONTEXT, &saved);
	fixed = ri_fixed_output_begin();
	for (int i = 0; i < ref->nkeys; i++)
	{
		int			m = 0;
		Datum	   *out;

		for (int k = 0; k < n; k++)
		{
			text	   *t = key_field_text(keys[k], ref->child_columns[i]);

			isnull[i][k] = (t == NULL);
			values[i][k] = (Datum) 0;
			if (t != NULL)
			{
				pos[m] = k;
				failed[m] = false;
				texts[m++] = PointerGetDatum(t);
			}
		}
		out = ri_convert(TEXTOID, ref->child_types[i], COERCION_EXPLICIT,
						 texts, m, failed, true);
		if (out == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("cannot read recorded keys of reference \"%s\"", ref->name),
					 errdetail("Text cannot be converted to type %s of column \"%s\".",
							   format_type_be(ref->child_types[i]),
							   ref->child_columns[i])));
		for (int j = 0; j < m; j++)
		{
			if (failed[j])
				unreadable[pos[j]] = true;
			else
				values[i][pos[j]] = out[j];
		}
	}
	ri_fixed_output_end(fixed);
	ri_restore(&saved);
}

/* A recorded key whose hash is that of a batch key: by hash, then index */
typedef struct Candidate
{
	int32		hash;
	int			index;
} Candidate;

static int
candidate_cmp(const void *a, const void *b)
{
	const Candidate *x = a;
	const Candidate *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->index - y->index;
}

/* The recorded keys of some hashes */
typedef struct Candidates
{
	uint64		count;
	uint64		max;
	bool	   *pending;		/* in _pending, else in _violation */
	ItemPointerData *tids;
	int32	   *hash;
	Datum	   *key;			/* jsonb, detoasted */
} Candidates;

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Read the recorded keys of a reference whose key_hash is one of n hashes
 * (Int32 Datums), pending ones first: a probe of the (reference, key_hash)
 * index of _pending, then (if "violations") of _violation, per distinct
 * hash.  Read here
 * rather than by a query, whose plan could scan a table whole (a plan kept
 * from when _pending was empty) at every batch.  With the snapshot a
 * statement would have, seeing this transaction's earlier writes.
 */
static void
read_candidates(RiReference *ref, Datum *hashes, int n, bool violations,
				Candidates *out)
{
	static const char *const tables[2] = {"_pending", "_violation"};
	static const char *const indexes[2] = {"_pending_reference_key_hash_idx",
	"_violation_reference_key_hash_idx"};
	Oid			nsp = get_namespace_oid("ri_policy", false);
	int32	   *distinct = palloc((n + 1) * sizeof(int32));
	int			ndistinct = 0;

	for (int k = 0; k < n; k++)
		distinct[k] = DatumGetInt32(hashes[k]);
	qsort(distinct, n, sizeof(int32), int32_cmp);
	for (int k = 0; k < n; k++)
	{
		if (ndistinct == 0 || distinct[ndistinct - 1] != distinct[k])
			distinct[ndistinct++] = distinct[k];
	}

	out->count = 0;
	out->max = 16;
	out->pending = palloc(out->max * sizeof(bool));
	out->tids = palloc(out->max * sizeof(ItemPointerData));
	out->hash = palloc(out->max * sizeof(int32));
	out->key = palloc(out->max * sizeof(Datum));

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	for (int t = 0; t < (violations ? lengthof(tables) : 1); t++)
	{
		Oid			relid = get_relname_relid(tables[t], nsp);
		Oid			indexid = get_relname_relid(indexes[t], nsp);
		Relation	rel;
		AttrNumber	refattr;
		AttrNumber	hashattr;
		AttrNumber	keyattr;

		if (!OidIsValid(relid) || !OidIsValid(indexid))
			elog(ERROR, "table ri_policy.%s or its index is missing", tables[t]);
		rel = table_open(relid, AccessShareLock);
		refattr = get_attnum(relid, "reference");
		hashattr = get_attnum(relid, "key_hash");
		keyattr = get_attnum(relid, "key");
		for (int k = 0; k < ndistinct; k++)
		{
			ScanKeyData skey[2];
			SysScanDesc scan;
			HeapTuple	tup;

			ScanKeyInit(&skey[0], refattr, BTEqualStrategyNumber, F_INT8EQ,
						Int64GetDatum(ref->id));
			ScanKeyInit(&skey[1], hashattr, BTEqualStrategyNumber, F_INT4EQ,
						Int32GetDatum(distinct[k]));
			scan = systable_beginscan(rel, indexid, true, GetActiveSnapshot(), 2, skey);
			while (HeapTupleIsValid(tup = systable_getnext(scan)))
			{
				bool		isnull;
				Datum		key = heap_getattr(tup, keyattr, RelationGetDescr(rel), &isnull);

				if (isnull)
					continue;
				if (out->count == out->max)
				{
					out->max *= 2;
					out->pending = repalloc(out->pending, out->max * sizeof(bool));
					out->tids = repalloc(out->tids, out->max * sizeof(ItemPointerData));
					out->hash = repalloc(out->hash, out->max * sizeof(int32));
					out->key = repalloc(out->key, out->max * sizeof(Datum));
				}
				out->pending[out->count] = (t == 0);
				ItemPointerCopy(&tup->t_self, &out->tids[out->count]);
				out->hash[out->count] = distinct[k];
				out->key[out->count] = PointerGetDatum(PG_DETOAST_DATUM_COPY(key));
				out->count++;
			}
			systable_endscan(scan);
		}
		table_close(rel, AccessShareLock);
	}
	PopActiveSnapshot();
}

/*
 * Write n keys to a reference's pending results with "sql", whose $1 is the
 * reference and $2, $3, $4 arrays of their jsonb forms, key_hash values
 * (Int32) and child row counts (Int64), with *plan kept for the next batch:
 * in one statement, or several for large keys (see RI_PENDING_ROW_BYTES).
 */
static void
pending_write(RiReference *ref, const char *sql, Datum *keys, Datum *hashes,
			  Datum *rows, int n, SPIPlanPtr *plan)
{
	Oid			types[4] = {INT8OID, JSONBARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
	Datum		args[4];

	for (int first = 0, k = 0; first < n; first = k)
	{
		Size		size = 0;

		while (k < n && (k == first || size + VARSIZE_ANY(DatumGetPointer(keys[k])) <=
						 RI_PENDING_ROW_BYTES))
		{
			size += VARSIZE_ANY(DatumGetPointer(keys[k]));
			k++;
		}
		args[0] = Int64GetDatum(ref->id);
		args[1] = PointerGetDatum(construct_array(keys + first, k - first, JSONBOID, -1,
												  false, TYPALIGN_INT));
		args[2] = PointerGetDatum(construct_array(hashes + first, k - first, INT4OID, 4,
												  true, TYPALIGN_INT));
		args[3] = PointerGetDatum(construct_array(rows + first, k - first, INT8OID, 8,
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		(void) ri_exec_as_owner_opts(plan, 0, sql, 4, types, args, NULL, false);
	}
}

/* Insert n keys into _pending, a row each (pending_write()). */
static void
pending_insert(RiReference *ref, Datum *keys, Datum *hashes, Datum *rows, int n,
			   SPIPlanPtr *plan)
{
	pending_write(ref,
				  "INSERT INTO ri_policy._pending (reference, key, key_hash, child_rows)"
				  " SELECT $1, k, h, n"
				  "   FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
				  "                   pg_catalog.unnest($4)) AS i(k, h, n)",
				  keys, hashes, rows, n, plan);
}

/*
 * The keys one process has recorded in a pass, kept where equal keys have
 * the same jsonb bytes and different ones different bytes
 * (keyeq_equal_images, keyeq_json_faithful), which the end of the pass
 * matches with the violations by jsonb equality (ri_keys_compare_by_image).
 * For such keys no batch reads the pending results: each batch appends its
 * orphans as one row of ri_policy._pending_batch (its keys, their key_hash
 * values and row counts, as arrays), and the end of the pass adds up each
 * key's rows over every batch and process (validate.c, finish_run()).  One
 * row a batch, not one a key: a row of _pending costs a heap tuple, an
 * index entry and their WAL, about half of a pass at 1% orphaned rows, and
 * merging a parallel pass's keys into _pending read it too.  Other keys
 * (numeric's 2.0 and 2.00, one key of two forms) are found among the
 * recorded ones by the child type's equality, in the form first read
 * (pending_add_compared()).
 *
 * The set itself only counts the keys new to this process, which
 * validation_progress.orphan_keys adds up while the pass runs: exactly for
 * a pass read by one process from its start, until the set grows to
 * work_mem, after which a key it does not hold counts as new; a pass read
 * in pieces or resumed keeps no keys, and counts each batch's (a key is
 * then counted once a batch that finds it), until the pass ends and
 * counts its violations.
 */
struct RiRecorded
{
	HTAB	   *keys;			/* RecordedKey; NULL when not counting */
	MemoryContext cxt;
	bool		full;			/* grown to work_mem: no key is added */
};

typedef struct RecordedKey
{
	struct varlena *json;		/* a key's jsonb form, in the set's context */
} RecordedKey;


static uint32
recorded_hash(const void *key, Size keysize)
{
	const struct varlena *json = ((const RecordedKey *) key)->json;

	return hash_bytes((const unsigned char *) VARDATA_ANY(json),
					  VARSIZE_ANY_EXHDR(json));
}

static int
recorded_match(const void *a, const void *b, Size keysize)
{
	const struct varlena *x = ((const RecordedKey *) a)->json;
	const struct varlena *y = ((const RecordedKey *) b)->json;
	Size		len = VARSIZE_ANY_EXHDR(x);

	return !(len == VARSIZE_ANY_EXHDR(y) &&
			 memcmp(VARDATA_ANY(x), VARDATA_ANY(y), len) == 0);
}

/*
 * An empty set of the keys a pass records (above), in a context under cxt;
 * NULL where the reference's keys must be merged by the child type's
 * equality.  Without "count_keys" it holds none, and every key of a batch
 * counts as new: where the count would not be exact anyway (a pass read in
 * pieces, or resumed), so that the process's memory does not grow with the
 * orphans it finds.
 */
RiRecorded *
ri_recorded_create(RiReference *ref, KeyEquality *equality, bool count_keys,
				   MemoryContext cxt)
{
	RiRecorded *r;
	HASHCTL		ctl;

	if (!keyeq_json_faithful(equality) || !keyeq_equal_images(equality) ||
		!ri_keys_compare_by_image(ref))
		return NULL;
	cxt = AllocSetContextCreate(cxt, "ri_policy recorded keys", ALLOCSET_DEFAULT_SIZES);
	r = MemoryContextAllocZero(cxt, sizeof(RiRecorded));
	r->cxt = cxt;
	r->full = !count_keys;
	if (!count_keys)
		return r;				/* no keys to look up: r->keys stays NULL */
	ctl.keysize = sizeof(RecordedKey);
	ctl.entrysize = sizeof(RecordedKey);
	ctl.hash = recorded_hash;
	ctl.match = recorded_match;
	ctl.hcxt = cxt;
	r->keys = hash_create("ri_policy recorded keys", 1024, &ctl,
						  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	return r;
}

void
ri_recorded_free(RiRecorded *r)
{
	if (r != NULL)
		MemoryContextDelete(r->cxt);
}

/*
 * Append a batch's keys to the pending results, as one row of
 * _pending_batch, with *plan kept for the next batch; returns the number of
 * keys new to the set (above).
 */
static int
pending_append(RiReference *ref, RiRecorded *r, ChildKey **keys, Datum *json, int n,
			   SPIPlanPtr *plan)
{
	Datum	   *hashes = palloc(n * sizeof(Datum));
	Datum	   *rows = palloc(n * sizeof(Datum));
	int			nnew = 0;

	if (!r->full && MemoryContextMemAllocated(r->cxt, true) > (Size) work_mem * 1024)
		r->full = true;
	for (int k = 0; k < n; k++)
	{
		RecordedKey probe;
		RecordedKey *entry = NULL;
		bool		found = false;

		if (r->keys != NULL)
		{
			probe.json = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(json[k]));
			entry = hash_search(r->keys, &probe, r->full ? HASH_FIND : HASH_ENTER, &found);
		}
		if (!found)
		{
			nnew++;
			if (entry != NULL)
			{
				Size		size = VARSIZE_ANY(probe.json);

				entry->json = MemoryContextAlloc(r->cxt, size);
				memcpy(entry->json, probe.json, size);
			}
		}
		hashes[k] = Int32GetDatum((int32) keys[k]->hash);
		rows[k] = Int64GetDatum(keys[k]->rows);
	}

	pending_write(ref,
				  "INSERT INTO ri_policy._pending_batch (reference, keys, key_hashes, child_rows)"
				  " VALUES ($1, $2, $3, $4)",
				  json, hashes, rows, n, plan);
	return nnew;
}

/*
 * Add keys to the pending results by comparing them with the recorded keys
 * of the same hashes, as described at ri_pending_add(); returns the number
 * of keys new to them.
 */
static int
pending_add_compared(RiReference *ref, KeyEquality *equality, Oid child_owner,
					 ChildKey **keys, Datum *json, int n, SPIPlanPtr *plans)
{
	Datum	   *hashes = palloc((n + 1) * sizeof(Datum));
	Datum		args[4];
	Candidates	found;
	uint64		ncand;
	bool	   *pending;
	ItemPointerData *tids;
	int32	   *cand_hash;
	Datum	   *cand_key;
	Datum	   *upd_tid = palloc((n + 1) * sizeof(Datum));
	Datum	   *upd_rows = palloc((n + 1) * sizeof(Datum));
	Datum	   *ins_key = palloc((n + 1) * sizeof(Datum));
	Datum	   *ins_hash = palloc((n + 1) * sizeof(Datum));
	Datum	   *ins_rows = palloc((n + 1) * sizeof(Datum));
	int			nupd = 0;
	int			nins = 0;

	for (int k = 0; k < n; k++)
		hashes[k] = Int32GetDatum((int32) keys[k]->hash);

	/*
	 * Recorded keys of the same hashes: pending ones first.  Where equal
	 * keys have equal jsonb forms (as jsonb compares them), a key is
	 * recorded in its own form: the end of the pass finds its violation by
	 * that equality and keeps the violation's form, so probing the
	 * violations for it at every batch (half of what recording a batch's
	 * orphans cost) changes nothing.
	 */
	read_candidates(ref, hashes, n, !ri_keys_compare_by_image(ref), &found);
	ncand = found.count;
	pending = found.pending;
	tids = found.tids;
	cand_hash = found.hash;
	cand_key = found.key;

	/* which batch key each is, by the child type's equality */
	{
		Candidate  *order = palloc((ncand + 1) * sizeof(Candidate));
		uint64	   *first = palloc((n + 1) * sizeof(uint64));
		uint64	   *last = palloc((n + 1) * sizeof(uint64));
		int		   *match = palloc((n + 1) * sizeof(int));
		bool	   *parse_key = palloc0((n + 1) * sizeof(bool));
		bool	   *parse_cand = palloc0((ncand + 1) * sizeof(bool));
		int		   *parsed = palloc((ncand + 1) * sizeof(int));
		int		   *written;	/* where each recorded key is written */
		Datum	   *parse_json = palloc((ncand + 1) * sizeof(Datum));
		int			nparse = 0;
		bool		faithful = keyeq_json_faithful(equality);

		/* the candidates in hash order (pending ones first within a hash) */
		for (uint64 c = 0; c < ncand; c++)
		{
			order[c].hash = cand_hash[c];
			order[c].index = (int) c;
		}
		qsort(order, ncand, sizeof(Candidate), candidate_cmp);

		/*
		 * First by the jsonb forms: the same bytes are the same key, for
		 * types whose jsonb form tells their values apart (see keyset.c).
		 * A pending key is preferred; a key that has candidates of its hash
		 * but none of its bytes needs them read back.
		 */
		for (int k = 0; k < n; k++)
		{
			int32		hash = (int32) keys[k]->hash;
			uint64		lo = 0;
			uint64		hi = ncand;
			bool		any_pending = false;

			while (lo < hi)
			{
				uint64		mid = lo + (hi - lo) / 2;

				if (order[mid].hash < hash)
					lo = mid + 1;
				else
					hi = mid;
			}
			first[k] = lo;
			while (hi < ncand && order[hi].hash == hash)
				hi++;
			last[k] = hi;
			match[k] = -1;
			for (uint64 o = lo; o < hi && match[k] < 0; o++)
			{
				int			c = order[o].index;

				any_pending |= pending[c];
				if (faithful && (pending[c] || !any_pending) &&
					datum_image_eq(json[k], cand_key[c], false, -1))
					match[k] = c;
			}
			if (match[k] < 0 && lo < hi)
			{
				parse_key[k] = true;
				for (uint64 o = lo; o < hi; o++)
					parse_cand[order[o].index] = true;
			}
		}

		/* then by the child type's equality, the candidates read back */
		for (uint64 c = 0; c < ncand; c++)
		{
			parsed[c] = -1;
			if (parse_cand[c])
			{
				parsed[c] = nparse;
				parse_json[nparse++] = cand_key[c];
			}
		}
		if (nparse > 0)
		{
			Datum	   *cvalues[INDEX_MAX_KEYS];
			bool	   *cnulls[INDEX_MAX_KEYS];
			bool	   *unreadable = palloc(nparse * sizeof(bool));
			RiUserState saved;

			for (int i = 0; i < ref->nkeys; i++)
			{
				cvalues[i] = palloc(nparse * sizeof(Datum));
				cnulls[i] = palloc(nparse * sizeof(bool));
			}
			ri_keys_read(ref, child_owner, parse_json, nparse, cvalues, cnulls, unreadable);

			ri_become(child_owner, RI_OWNER_CONTEXT, &saved);
			for (int k = 0; k < n; k++)
			{
				if (!parse_key[k])
					continue;
				for (uint64 o = first[k]; o < last[k] && match[k] < 0; o++)
				{
					int			c = order[o].index;
					int			j = parsed[c];
					Datum		v[INDEX_MAX_KEYS];
					bool		nl[INDEX_MAX_KEYS];

					/*
					 * A key that cannot be read back (a type whose jsonb
					 * form is its cast to json, say) is the same key only
					 * by the same bytes
					 */
					if (unreadable[j])
					{
						if (datum_image_eq(json[k], cand_key[c], false, -1))
							match[k] = c;
						continue;
					}
					for (int i = 0; i < ref->nkeys; i++)
					{
						v[i] = cvalues[i][j];
						nl[i] = cnulls[i][j];
					}
					if (keyeq_equal(equality, keys[k]->values, keys[k]->isnull, v, nl))
						match[k] = c;
				}
			}
			ri_restore(&saved);
		}

		/*
		 * Keys that matched one recorded key by its jsonb bytes alone (one
		 * that cannot be read back) are written as that one key.
		 */
		written = palloc((ncand + 1) * sizeof(int));
		for (uint64 c = 0; c < ncand; c++)
			written[c] = -1;
		for (int k = 0; k < n; k++)
		{
			int			c = match[k];

			if (c >= 0 && written[c] >= 0)
			{
				Datum	   *rows = pending[c] ? upd_rows : ins_rows;

				rows[written[c]] = Int64GetDatum(DatumGetInt64(rows[written[c]]) +
												 keys[k]->rows);
				continue;
			}
			if (c >= 0 && pending[c])
			{
				ItemPointer tid = palloc(sizeof(ItemPointerData));

				ItemPointerCopy(&tids[c], tid);
				upd_tid[nupd] = PointerGetDatum(tid);
				written[c] = nupd;
				upd_rows[nupd++] = Int64GetDatum(keys[k]->rows);
				continue;
			}
			if (c >= 0)
				written[c] = nins;
			ins_key[nins] = c >= 0 ? cand_key[c] : json[k];
			ins_hash[nins] = hashes[k];
			ins_rows[nins++] = Int64GetDatum(keys[k]->rows);
		}
	}

	/*
	 * Each statement runs only when it has rows to write.  The update is
	 * planned for its TIDs each time; the insert reads only its arguments.
	 */
	if (nupd > 0)
	{
		Oid			types[3] = {TIDARRAYOID, INT8ARRAYOID, INT8OID};
		static const char *const plan_settings[][2] = {
			{"enable_seqscan", "off"}, {"enable_indexscan", "off"},
			{"enable_bitmapscan", "off"}, {"enable_tidscan", "on"},
			{"enable_nestloop", "on"}};
		int			nestlevel;

		args[0] = PointerGetDatum(construct_array(upd_tid, nupd, TIDOID,
												  sizeof(ItemPointerData),
												  false, TYPALIGN_SHORT));
		args[1] = PointerGetDatum(construct_array(upd_rows, nupd, INT8OID, 8,
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[2] = Int64GetDatum(ref->id);

		/*
		 * By TID only, one TID scan per key (a nested loop over the
		 * arguments): priced as random reads, a few TIDs can look dearer
		 * than reading a small _pending whole, or all of the reference's
		 * keys through its index, which grow with the orphans found.  The
		 * keys' TIDs are distinct (written[] above), so each row is updated
		 * once; matching them with "ctid = ANY" and array_position() instead
		 * cost a batch the square of its keys.
		 */
		nestlevel = ri_plan_settings_begin(plan_settings, lengthof(plan_settings));
		(void) ri_exec_as_owner_opts(&plans[0], CURSOR_OPT_CUSTOM_PLAN,
									 "UPDATE ri_policy._pending p"
									 "   SET child_rows = p.child_rows + u.n"
									 "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))"
									 "       AS u(t, n)"
									 " WHERE p.ctid = u.t AND p.reference = $3",
									 3, types, args, NULL, false);
		ri_plan_settings_end(nestlevel);
		if (SPI_processed != (uint64) nupd)
			elog(ERROR, "pending keys of reference \"%s\" changed while they were updated",
				 ref->name);
	}
	if (nins > 0)
		pending_insert(ref, ins_key, ins_hash, ins_rows, nins, &plans[1]);
	return nins;
}

/*
 * Add a batch's orphaned keys to the reference's pending results: n
 * distinct keys (by "equality", with their keyeq_hash() in key->hash), of
 * key->rows rows each, and their jsonb forms.  A key equal to one already
 * pending adds its rows to it; one equal to a recorded violation is
 * recorded in that violation's form (unless jsonb equality is the child
 * type's: see pending_add_compared()); any other is new.  Returns the number
 * of keys that are new to the pending results.
 *
 * The recorded keys of the batch's hashes are read through the
 * (reference, key_hash) indexes (read_candidates()) and matched here: where
 * the jsonb forms tell the key values apart (keyeq_json_faithful), a key
 * with the same jsonb bytes is the same key; the others (a hash shared with
 * a key of another jsonb form: a case variant, or a collision) are compared
 * by the child type's equality, reading the recorded keys back as
 * "child_owner".  Then the matched pending keys are updated by TID, and the
 * new ones inserted.  What a batch costs thus depends on its own keys, not
 * on the keys found so far: a query plan kept from the first batch, when
 * _pending was empty, read the whole table at every later batch.  Writes as
 * the extension's owner, with plans[] (RI_PENDING_PLANS of them) kept for
 * the next batch.
 *
 * With "recorded", the keys this process has recorded in the pass
 * (ri_recorded_create), the keys are appended instead, as one row of
 * _pending_batch, without reading the pending results (see RiRecorded).
 */
int
ri_pending_add(RiReference *ref, KeyEquality *equality, Oid child_owner,
			   ChildKey **keys, Datum *json, int n, SPIPlanPtr *plans,
			   RiRecorded *recorded)
{
	if (n == 0)
		return 0;
	if (recorded != NULL)
		return pending_append(ref, recorded, keys, json, n, &plans[2]);
	return pending_add_compared(ref, equality, child_owner, keys, json, n, plans);
}

/*
 * ri_policy._key_hash(reference bigint, key jsonb) returns integer: the
 * key_hash of a recorded key (0 if it cannot be read back).  For ALTER
 * EXTENSION UPDATE, which hashes the keys that older versions recorded.
 */
Datum
ri_policy_key_hash(PG_FUNCTION_ARGS)
{
	typedef struct Cached
	{
		int64		id;
		RiReference *ref;
		KeyEquality *equality;
		Oid			child_owner;
	} Cached;
	Cached	   *cached = (Cached *) fcinfo->flinfo->fn_extra;
	int64		id = PG_GETARG_INT64(0);
	Datum		key = PG_GETARG_DATUM(1);
	Datum	   *values[INDEX_MAX_KEYS];
	bool	   *isnull[INDEX_MAX_KEYS];
	Datum		v[INDEX_MAX_KEYS];
	bool		nl[INDEX_MAX_KEYS];
	bool		unreadable;
	uint32		hash;
	RiUserState saved;

	if (cached == NULL || cached->id != id)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		cached = palloc(sizeof(Cached));
		cached->id = id;
		cached->ref = ri_load_reference_id(id);
		cached->equality = keyeq_create(cached->ref, fcinfo->flinfo->fn_mcxt);
		cached->child_owner = ri_rel_owner(cached->ref->child);
		fcinfo->flinfo->fn_extra = cached;
		MemoryContextSwitchTo(oldcxt);
	}

	for (int i = 0; i < cached->ref->nkeys; i++)
	{
		values[i] = &v[i];
		isnull[i] = &nl[i];
	}
	ri_keys_read(cached->ref, cached->child_owner, &key, 1, values, isnull, &unreadable);
	if (unreadable)
		PG_RETURN_INT32(0);
	ri_become(cached->child_owner, RI_OWNER_CONTEXT, &saved);
	hash = keyeq_hash(cached->equality, v, nl);
	ri_restore(&saved);
	PG_RETURN_INT32((int32) hash);
}
