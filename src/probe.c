/*-------------------------------------------------------------------------
 *
 * probe.c
 *		Which child keys have no parent: the comparison of every path.
 *
 * A full pass confirms its suspects here, an incremental pass re-checks the
 * keys that changed here, and repair() decides here which recorded keys it
 * may act on, so that all of them compare exactly alike: each child value
 * is converted to the type that the pinned equality operator takes, with
 * the implicit cast the operator's selection relied on, as the child's
 * owner (compare.c); then the live parent is probed with those values, as
 * the parent's owner, through the pinned operators, with a fresh snapshot.
 * Each owner's code runs as that owner only: the probe runs no cast of the
 * child's owner, and whatever the planner evaluates while it plans a query
 * of the parent (its index expressions and predicates, its partition keys,
 * its statistics) runs as the parent's owner, never as the child's.
 *
 * src/probe.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "citus.h"
#include "compare.h"
#include "probe.h"

/*
 * Prepare the probe of the live parent, one query for many keys:
 *
 *	SELECT u.i FROM ROWS FROM (unnest($1), ...) WITH ORDINALITY u(k1, ..., i)
 *	 WHERE NOT EXISTS (SELECT 1 FROM [ONLY] parent x
 *					   WHERE x.pk1 OPERATOR(op1) u.k1 [AND ...])
 *
 * with the pinned operators; $n is an array of the type the operator takes
 * on its right (ri_probe_type), the child values converted already as the
 * child's owner, so that the query runs no cast the child's owner controls
 * (generate_operator_clause adds only a relabelling to a polymorphic input
 * type, or of the parent column to its index's type).  No key type is an
 * array or a composite (ri_check_comparison), so each unnest() yields one
 * column and u.i is the ordinality.  It returns the positions of the keys
 * that are orphans.  The plan is kept (SPI_keepplan): free it with
 * SPI_freeplan().  It is prepared, as it will be planned and run, as the
 * parent's owner.
 */
SPIPlanPtr
ri_probe_prepare(RiReference *ref)
{
	StringInfoData buf;
	SPIPlanPtr	plan;
	Oid			argtypes[INDEX_MAX_KEYS];
	Oid			keytypes[INDEX_MAX_KEYS];
	int			nestlevel;
	RiUserState saved;

	initStringInfo(&buf);
	for (int i = 0; i < ref->nkeys; i++)
	{
		keytypes[i] = ri_probe_type(ref, i);
		argtypes[i] = get_array_type(keytypes[i]);
		if (!OidIsValid(argtypes[i]))
			elog(ERROR, "type %s has no array type", format_type_be(keytypes[i]));
	}
	if (ri_rows_at(ref->parent, NULL) == RI_ROWS_CITUS)
		ri_citus_probe_sql(&buf, ref, keytypes);
	else
	{
		appendStringInfoString(&buf, "SELECT u.i FROM ");
		ri_append_key_rows(&buf, ref->nkeys, "u");
		appendStringInfoString(&buf, " WHERE ");
		ri_append_no_parent_typed(&buf, ref, "u.k%d", keytypes);
	}

	ri_become(ri_rel_owner(ref->parent), RI_OWNER_CONTEXT, &saved);
	nestlevel = ri_own_settings_begin();
	plan = SPI_prepare(buf.data, ref->nkeys, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	ri_own_settings_end(nestlevel);
	ri_restore(&saved);
	return plan;
}

/*
 * An integer key outside the range of the parent column's narrower integer
 * type equals no parent key under the built-in cross-type operators, so it
 * goes to the probe as NULL (an orphan), as an unconvertible value does.
 * Citus prunes "x.pk = ANY ($1)" by converting each element to the
 * distribution column's type, and fails with "integer out of range" on
 * such a value.
 */
static void
unmatch_out_of_range(RiReference *ref, int col, Datum *elems, bool *unmatched,
					 int n)
{
	Oid			probe = ri_probe_type(ref, col);
	Oid			parent = ref->parent_types[col];
	int64		lo;
	int64		hi;

	if (ref->eq_operators[col] >= FirstGenbkiObjectId || probe == parent ||
		(probe != INT8OID && probe != INT4OID && probe != INT2OID))
		return;
	if (parent == INT4OID)
	{
		lo = PG_INT32_MIN;
		hi = PG_INT32_MAX;
	}
	else if (parent == INT2OID)
	{
		lo = PG_INT16_MIN;
		hi = PG_INT16_MAX;
	}
	else
		return;
	for (int k = 0; k < n; k++)
	{
		int64		v;

		if (unmatched[k])
			continue;
		v = probe == INT8OID ? DatumGetInt64(elems[k]) :
			probe == INT4OID ? DatumGetInt32(elems[k]) : DatumGetInt16(elems[k]);
		if (v < lo || v > hi)
			unmatched[k] = true;
	}
}

/* A probe's arrays take about this much of keys at most (one key, more) */
#define PROBE_BYTES		((Size) 64 * 1024 * 1024)

/*
 * Which of n child keys have no parent now?  values[i][k] is column i of
 * key k, of the child column's type, with no NULLs (a partly NULL key is
 * the caller's to judge).  The values are converted as the child's owner,
 * and the parent is probed with "plan" (ri_probe_prepare) as the parent's
 * owner, each in a restricted security context, with a fresh snapshot (the
 * probe is not read-only).  A value that cannot be converted goes to the
 * probe as NULL, which no parent key equals.  Sets orphan[k] for each key.
 */
void
ri_probe(RiReference *ref, SPIPlanPtr plan, Oid child_owner, Oid parent_owner,
		 Datum **values, int n, bool *orphan)
{
	RiUserState saved;
	Datum	   *elems[INDEX_MAX_KEYS];
	bool	   *unmatched;
	Datum		args[INDEX_MAX_KEYS];
	int16		typlen[INDEX_MAX_KEYS];
	bool		typbyval[INDEX_MAX_KEYS];
	char		typalign[INDEX_MAX_KEYS];
	int			nestlevel;
	int			rc;
	MemoryContext oldcxt = CurrentMemoryContext;

	for (int k = 0; k < n; k++)
		orphan[k] = false;
	if (n == 0)
		return;

	unmatched = palloc0(n * sizeof(bool));
	ri_become(child_owner, RI_OWNER_CONTEXT, &saved);
	for (int i = 0; i < ref->nkeys; i++)
		elems[i] = ri_convert_for_probe(ref, i, values[i], n, unmatched);
	ri_restore(&saved);
	for (int i = 0; i < ref->nkeys; i++)
	{
		get_typlenbyvalalign(ri_probe_type(ref, i), &typlen[i], &typbyval[i],
							 &typalign[i]);
		unmatch_out_of_range(ref, i, elems[i], unmatched, n);
	}

	/*
	 * A probe, or several for large keys: an array holds at most 1 GB, which
	 * the distinct keys of a batch, a megabyte each, overflowed.
	 */
	for (int first = 0, k = 0; first < n; first = k)
	{
		Size		size = 0;

		while (k < n && (k == first || size < PROBE_BYTES))
		{
			for (int i = 0; i < ref->nkeys; i++)
				size += unmatched[k] ? 0 : typlen[i] > 0 ? (Size) typlen[i] :
					VARSIZE_ANY(DatumGetPointer(elems[i][k]));
			k++;
		}
		for (int i = 0; i < ref->nkeys; i++)
		{
			int			dims[1] = {k - first};
			int			lbs[1] = {1};

			args[i] = PointerGetDatum(construct_md_array(elems[i] + first, unmatched + first,
														 1, dims, lbs, ri_probe_type(ref, i),
														 typlen[i], typbyval[i], typalign[i]));
		}

		ri_become(parent_owner, RI_OWNER_CONTEXT, &saved);
		nestlevel = ri_own_settings_begin();
		rc = SPI_execute_plan(plan, args, NULL, false, 0);
		MemoryContextSwitchTo(oldcxt);
		ri_own_settings_end(nestlevel);
		ri_restore(&saved);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		if (SPI_tuptable->tupdesc->natts != 1 ||
			TupleDescAttr(SPI_tuptable->tupdesc, 0)->atttypid != INT8OID)
			elog(ERROR, "unexpected result of the probe of table \"%s\"",
				 get_rel_name(ref->parent));

		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		pos = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
														  SPI_tuptable->tupdesc, 1,
														  &isnull));

			if (isnull || pos < 1 || pos > k - first)
				elog(ERROR, "probe of table \"%s\" returned position " INT64_FORMAT " of %d",
					 get_rel_name(ref->parent), isnull ? 0 : pos, k - first);
			orphan[first + pos - 1] = true;
		}
		SPI_freetuptable(SPI_tuptable);
	}
}
