/*-------------------------------------------------------------------------
 *
 * repair.c
 *		Deferred cascade: CALL ri_policy.repair() applies an ON DELETE-style
 *		action to the orphans that the last validation pass recorded.
 *
 * The work list is ri_policy._violation, walked in key order, a batch of
 * keys holding about batch_size child rows at a time.  Each batch is one
 * statement that re-checks, at the moment it acts, which of its keys still
 * have no parent (a fresh snapshot, the reference's pinned operators), and
 * deletes or updates only the child rows of those keys; the rows it changes
 * are locked by the DELETE or UPDATE itself, and a row changed concurrently
 * is re-checked by PostgreSQL before it is touched.  So a child whose parent
 * exists by then is never touched.  Outside a transaction block each batch
 * commits; the keys acted on leave ri_policy._violation with it, so an
 * interrupted repair simply goes on at the next call.
 *
 * It runs as the child's owner, like the RI triggers' cascades (so that
 * owner needs SELECT on the parent's key columns), and holds the
 * reference's advisory lock, so it never overlaps a validation.
 *
 * src/repair.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "compare.h"
#include "compat.h"
#include "reference.h"
#include "ri_policy.h"

PG_FUNCTION_INFO_V1(ri_policy_repair);

typedef enum RepairAction
{
	REPAIR_DELETE,
	REPAIR_SET_NULL,
	REPAIR_SET_DEFAULT
} RepairAction;

static const char *const action_names[] = {"delete", "set null", "set default"};

/*
 * The statement that repairs one batch of keys ($1, a jsonb[] of keys as
 * ri_policy.violations has them):
 *
 *	WITH k AS (SELECT j, (j->>'c1')::t1 AS k1, ... FROM unnest($1) j),
 *		 o AS (SELECT * FROM k WHERE NOT EXISTS
 *				(SELECT 1 FROM [ONLY] parent x WHERE x.p1 OPERATOR(op1) k.k1 ...)),
 *		 a AS (DELETE FROM [ONLY] child c USING o WHERE <c matches o> RETURNING 1)
 *	SELECT (SELECT count(*) FROM a), ARRAY(SELECT j FROM o)
 *
 * (UPDATE ... SET c1 = NULL | DEFAULT, ... for the other actions.)  It
 * returns the rows changed and the keys that were still orphans.
 */
static char *
repair_sql(RiReference *ref, RepairAction action)
{
	StringInfoData buf;
	const char *child = ri_qualified_name(ref->child);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "WITH k AS (SELECT j");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(&buf, ", (j OPERATOR(pg_catalog.->>) %s)::%s AS k%d",
						 quote_literal_cstr(ref->child_columns[i]),
						 format_type_be_qualified(ref->child_types[i]), i + 1);
	appendStringInfoString(&buf, " FROM pg_catalog.unnest($1) AS j),"
						   " o AS (SELECT * FROM k WHERE ");
	ri_append_no_parent(&buf, ref, "k.k%d");
	appendStringInfoString(&buf, "), a AS (");
	if (action == REPAIR_DELETE)
		appendStringInfo(&buf, "DELETE FROM %s%s c USING o WHERE ",
						 ref->only_child ? "ONLY " : "", child);
	else
	{
		appendStringInfo(&buf, "UPDATE %s%s c SET ", ref->only_child ? "ONLY " : "", child);
		for (int i = 0; i < ref->nkeys; i++)
			appendStringInfo(&buf, "%s%s = %s", i ? ", " : "",
							 quote_identifier(ref->child_columns[i]),
							 action == REPAIR_SET_NULL ? "NULL" : "DEFAULT");
		appendStringInfoString(&buf, " FROM o WHERE ");
	}
	/* a MATCH FULL violation may be partly NULL */
	ri_append_child_match(&buf, ref, "o.k%d", true);
	appendStringInfoString(&buf, " RETURNING 1)"
						   " SELECT (SELECT pg_catalog.count(*) FROM a),"
						   " ARRAY(SELECT j FROM o)");
	return buf.data;
}

/* Run fixed SQL on ri_policy's tables as the extension owner. */
static void
exec_ext(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	(void) ri_exec_as_owner(NULL, sql, nargs, argtypes, values, NULL, false);
}

/*
 * Repair one reference.  Returns the number of child rows changed.
 */
static int64
repair_one(RiReference *found, const char *action_arg, int batch_size, bool atomic)
{
	RiWork		work;
	MemoryContext cxt;
	RiReference *ref;
	RepairAction action;
	const char *act;
	int64		total_rows = 0;
	int64		total_keys = 0;
	SPIPlanPtr volatile plan = NULL;
	const char *name;

	ref = ri_begin_work(found, &work);
	if (ref == NULL)
		return 0;
	cxt = work.cxt;
	name = found->name;		/* outlives work.cxt */

	act = action_arg;
	if (act == NULL)
	{
		/* the reference's own ON DELETE action */
		if (strcmp(ref->on_delete, "cascade") == 0)
			act = "delete";
		else if (strcmp(ref->on_delete, "set null") == 0 ||
				 strcmp(ref->on_delete, "set default") == 0)
			act = ref->on_delete;
		else
		{
			ereport(NOTICE,
					(errmsg("reference \"%s\" has ON DELETE %s, skipping",
							name, ref->on_delete),
					 errhint("Pass an action: 'delete', 'set null' or 'set default'.")));
			ri_end_work(&work);
			return 0;
		}
	}
	/* the re-check runs as the child's owner: it must see every parent row */
	if (check_enable_rls(ref->parent, ri_rel_owner(ref->child), true) == RLS_ENABLED)
	{
		Oid			parent = ref->parent;
		Oid			child = ref->child;

		ri_end_work(&work);		/* frees ref */
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot repair reference \"%s\": row-level security hides rows of table \"%s\" from the owner of table \"%s\"",
						name, get_rel_name(parent), get_rel_name(child))));
	}
	action = strcmp(act, "delete") == 0 ? REPAIR_DELETE :
		strcmp(act, "set null") == 0 ? REPAIR_SET_NULL : REPAIR_SET_DEFAULT;


	PG_TRY();
	{
		Datum		last_key = (Datum) 0;
		bool		have_last = false;
		Oid			child_owner = ri_rel_owner(ref->child);
		char	   *sql;
		MemoryContext batch_cxt = AllocSetContextCreate(cxt, "ri_policy repair batch",
														ALLOCSET_DEFAULT_SIZES);

		/* owners, casts and types may have changed since the declaration */
		ri_check_comparison(ref);
		sql = repair_sql(ref, action);

		for (;;)
		{
			Datum		args[3];
			Oid			argtypes[3] = {INT8OID, INT4OID, JSONBOID};
			Datum	   *keys;
			int			nkeys = 0;
			int64		rows = 0;
			RiUserState saved;
			int			nestlevel;
			bool		isnull;
			Datum		orphans;
			Datum		arg;
			Oid			jsonb_array = JSONBARRAYOID;
			int			rc;

			MemoryContextSwitchTo(batch_cxt);
			PushActiveSnapshot(GetTransactionSnapshot());

			/* the next keys, about batch_size child rows' worth */
			/* (each key holds at least one row: batch_size keys suffice) */
			args[0] = Int64GetDatum(ref->id);
			args[1] = Int32GetDatum(batch_size);
			args[2] = have_last ? last_key : (Datum) 0;
			exec_ext(have_last ?
					 "SELECT key, child_rows FROM ri_policy._violation"
					 " WHERE reference = $1 AND key > $3 ORDER BY key LIMIT $2" :
					 "SELECT key, child_rows FROM ri_policy._violation"
					 " WHERE reference = $1 ORDER BY key LIMIT $2",
					 have_last ? 3 : 2, argtypes, args);
			keys = palloc((SPI_processed + 1) * sizeof(Datum));
			for (uint64 i = 0; i < SPI_processed && rows < batch_size; i++)
			{
				keys[nkeys++] = SPI_getbinval(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 1, &isnull);
				rows += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc, 2, &isnull));
			}
			if (nkeys == 0)
			{
				SPI_freetuptable(SPI_tuptable);
				PopActiveSnapshot();
				break;
			}
			MemoryContextSwitchTo(cxt);
			if (have_last)
				pfree(DatumGetPointer(last_key));
			last_key = PointerGetDatum(PG_DETOAST_DATUM_COPY(keys[nkeys - 1]));
			have_last = true;

			/* act, as the child's owner, on the keys still orphaned */
			MemoryContextSwitchTo(batch_cxt);
			arg = PointerGetDatum(construct_array(keys, nkeys, JSONBOID, -1, false,
												  TYPALIGN_INT));
			SPI_freetuptable(SPI_tuptable);
			ri_become(child_owner, RI_OWNER_CONTEXT, &saved);
			nestlevel = ri_safe_search_path();
			if (plan == NULL)
			{
				plan = SPI_prepare(sql, 1, &jsonb_array);
				if (plan == NULL)
					elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
				SPI_keepplan(plan);
			}
			rc = SPI_execute_plan(plan, &arg, NULL, false, 0);
			MemoryContextSwitchTo(batch_cxt);
			ri_restore_search_path(nestlevel);
			ri_restore(&saved);
			if (rc != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "repair statement failed: %s", SPI_result_code_string(rc));
			total_rows += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull));
			orphans = PointerGetDatum(PG_DETOAST_DATUM_COPY(SPI_getbinval(SPI_tuptable->vals[0],
																		SPI_tuptable->tupdesc,
																		2, &isnull)));
			SPI_freetuptable(SPI_tuptable);
			total_keys += ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(orphans)),
										 ARR_DIMS(DatumGetArrayTypeP(orphans)));

			/* those keys are repaired: they leave the violations */
			args[1] = orphans;
			argtypes[1] = JSONBARRAYOID;
			exec_ext("DELETE FROM ri_policy._violation"
					 " WHERE reference = $1 AND key = ANY ($2)",
					 2, argtypes, args);
			argtypes[1] = INT4OID;

			PopActiveSnapshot();
			if (!atomic)
				compat_spi_commit();
			MemoryContextSwitchTo(cxt);
			MemoryContextReset(batch_cxt);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		if (plan != NULL)
			SPI_freeplan(plan);
		ri_end_work(&work);
	}
	PG_END_TRY();

	ereport(NOTICE,
			(errmsg("reference \"%s\": %lld row%s of %lld orphaned key%s %s",
					name,
					(long long) total_rows, total_rows == 1 ? "" : "s",
					(long long) total_keys, total_keys == 1 ? "" : "s",
					action == REPAIR_DELETE ? "deleted" :
					action == REPAIR_SET_NULL ? "set to NULL" : "set to their defaults")));
	return total_rows;
}

/*
 * CALL ri_policy.repair(reference, action, batch_size)
 */
Datum
ri_policy_repair(PG_FUNCTION_ARGS)
{
	bool		atomic;
	int			batch_size = ri_policy_batch_size;
	char	   *action = NULL;
	List	   *refs;
	ListCell   *lc;

	atomic = !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
			   !((CallContext *) fcinfo->context)->atomic);

	if (!PG_ARGISNULL(1))
	{
		char	   *arg = text_to_cstring(PG_GETARG_TEXT_PP(1));
		int			i;

		for (i = 0; i < lengthof(action_names); i++)
		{
			if (pg_strcasecmp(arg, action_names[i]) == 0)
				break;
		}
		if (i == lengthof(action_names))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid repair action \"%s\"", arg),
					 errhint("Valid actions are \"delete\", \"set null\" and \"set default\".")));
		action = pstrdup(action_names[i]);
	}
	if (!PG_ARGISNULL(2))
	{
		batch_size = PG_GETARG_INT32(2);
		if (batch_size <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("batch_size must be greater than zero")));
	}

	SPI_connect_ext(atomic ? 0 : SPI_OPT_NONATOMIC);
	refs = PG_ARGISNULL(0) ? ri_owned_references() :
		list_make1(ri_resolve_reference(text_to_cstring(PG_GETARG_TEXT_PP(0))));
	foreach(lc, refs)
	{
		if (PG_ARGISNULL(0) && !ri_comparison_usable(lfirst(lc)))
			continue;
		(void) repair_one(lfirst(lc), action, batch_size, atomic);
	}
	SPI_finish();
	PG_RETURN_VOID();
}
