/*-------------------------------------------------------------------------
 *
 * repair.c
 *		Deferred cascade: CALL ri_policy.repair() applies an ON DELETE-style
 *		action to the orphans that the last validation pass recorded.
 *
 * The work list is ri_policy._violation, walked in the order of its index
 * (key_hash, then key), a batch of keys holding about batch_size child rows
 * at a time.  Each batch judges the rows it may act on exactly as a pass
 * judges them:
 *
 * - the recorded keys are read back into the child's types, and the child
 *   rows that hold them found with the child type's equality (as a pass
 *   groups them: 'ABC' with 'abc' in a citext key), as the child's owner;
 * - those rows are grouped by binary image, and each group is judged by
 *   SQL's MATCH rules and the parent probe (probe.c: converted as the
 *   child's owner, the parent probed as its owner through the pinned
 *   operators, with a fresh snapshot), so a row is acted on only if it is
 *   itself an orphan;
 * - the orphaned rows are deleted or updated by their row ids, as the
 *   child's owner; a row changed since it was read has another row id
 *   then, and is left alone;
 * - the parent is probed again for the rows acted on: if one has a parent
 *   by then, the batch's changes are rolled back and the batch is done
 *   again without it.
 *
 * So a child whose parent exists by the time its row is changed is never
 * touched.  A key leaves ri_policy._violation when rows of it were
 * repaired, or when it has no rows left; one whose rows all have a parent
 * now stays recorded until the next pass drops it.  Outside a transaction
 * block each batch commits, so an interrupted repair simply goes on at the
 * next call.
 *
 * It runs the child's code as the child's owner and the parent's as the
 * parent's owner (the RI triggers' cascades too read the parent as its
 * owner), each in a restricted security context, and holds the reference's
 * advisory lock, so it never overlaps a validation.
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
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "compare.h"
#include "compat.h"
#include "probe.h"
#include "reference.h"
#include "results.h"
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
 * The statement that finds the child rows of a batch of keys ($1 ... $n,
 * arrays of the child's types), as the child's owner, with the child
 * type's equality: one join, which the planner makes a nested loop over an
 * index of the child where there is one, and a hash join over one scan of
 * the child where there is none,
 *
 *	SELECT o.i, c.tableoid, c.ctid, c.c1, ...
 *	  FROM ROWS FROM (unnest($1), ...) WITH ORDINALITY AS o(k1, ..., i)
 *	  JOIN [ONLY] child c ON c.c1 = o.k1 AND ...
 *
 * and, for a MATCH FULL reference of several columns, whose violations may
 * be partly NULL, where a NULL matches a NULL (which neither an index nor a
 * hash can serve), the rows of those keys, and only of those,
 *
 *	UNION ALL SELECT ... JOIN [ONLY] child c ON <c matches o, NULLs too>
 *	 WHERE o.k1 IS NULL OR ...
 */
static char *
rows_sql(RiReference *ref)
{
	StringInfoData buf;
	bool		partly_null = ref->match_full && ref->nkeys > 1;

	initStringInfo(&buf);
	for (int arm = 0; arm <= (partly_null ? 1 : 0); arm++)
	{
		if (arm > 0)
			appendStringInfoString(&buf, " UNION ALL ");
		appendStringInfoString(&buf, "SELECT o.i, c.tableoid, c.ctid");
		for (int i = 0; i < ref->nkeys; i++)
			appendStringInfo(&buf, ", c.%s", quote_identifier(ref->child_columns[i]));
		appendStringInfoString(&buf, " FROM ");
		ri_append_key_rows(&buf, ref->nkeys, "o");
		appendStringInfo(&buf, " JOIN %s%s c ON ", ref->only_child ? "ONLY " : "",
						 ri_qualified_name(ref->child));
		ri_append_child_match(&buf, ref, "o.k%d", arm > 0);
		if (arm > 0)
		{
			appendStringInfoString(&buf, " WHERE ");
			for (int i = 0; i < ref->nkeys; i++)
				appendStringInfo(&buf, "%so.k%d IS NULL", i ? " OR " : "", i + 1);
		}
	}
	return buf.data;
}

/*
 * The statement that repairs rows of one table ($1, its OID) by their row
 * ids ($2), as the child's owner:
 *
 *	DELETE FROM [ONLY] child c WHERE c.tableoid = $1 AND c.ctid = ANY ($2)
 *
 * (UPDATE ... SET c1 = NULL | DEFAULT, ... for the other actions, through
 * the child itself, so that a partitioned child routes the rows).
 */
static char *
repair_sql(RiReference *ref, RepairAction action)
{
	StringInfoData buf;
	const char *child = ri_qualified_name(ref->child);

	initStringInfo(&buf);
	if (action == REPAIR_DELETE)
		appendStringInfo(&buf, "DELETE FROM %s%s c", ref->only_child ? "ONLY " : "", child);
	else
	{
		appendStringInfo(&buf, "UPDATE %s%s c SET ", ref->only_child ? "ONLY " : "", child);
		for (int i = 0; i < ref->nkeys; i++)
			appendStringInfo(&buf, "%s%s = %s", i ? ", " : "",
							 quote_identifier(ref->child_columns[i]),
							 action == REPAIR_SET_NULL ? "NULL" : "DEFAULT");
	}
	appendStringInfoString(&buf, " WHERE c.tableoid = $1 AND c.ctid = ANY ($2)");
	return buf.data;
}

/* Run fixed SQL on ri_policy's tables as the extension owner. */
static void
exec_ext(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	(void) ri_exec_as_owner(NULL, sql, nargs, argtypes, values, NULL, false);
}

/* Prepare and keep a statement, as the child's owner. */
static SPIPlanPtr
prepare_as(Oid userid, const char *sql, int nargs, Oid *argtypes)
{
	RiUserState saved;
	int			nestlevel;
	SPIPlanPtr	plan;

	ri_become(userid, RI_OWNER_CONTEXT, &saved);
	nestlevel = ri_own_settings_begin();
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	ri_own_settings_end(nestlevel);
	ri_restore(&saved);
	return plan;
}

/* The statements of a repair: the parent's probe, finding rows, acting. */
static void
prepare_plans(RiReference *ref, RepairAction action, Oid child_owner,
			  Oid *types, Oid *act_types,
			  SPIPlanPtr *probe, SPIPlanPtr *find, SPIPlanPtr *plan)
{
	*probe = ri_probe_prepare(ref);
	*find = prepare_as(child_owner, rows_sql(ref), ref->nkeys, types);
	*plan = prepare_as(child_owner, repair_sql(ref, action), 2, act_types);
}

/* The arguments of prepare_plans(), for ri_try_or_skip() */
typedef struct PrepareArgs
{
	RiReference *ref;
	RepairAction action;
	Oid			child_owner;
	Oid		   *types;
	Oid		   *act_types;
	SPIPlanPtr *plans[3];		/* probe, find, plan */
} PrepareArgs;

static void
prepare_plans_cb(void *arg)
{
	PrepareArgs *a = arg;

	prepare_plans(a->ref, a->action, a->child_owner, a->types, a->act_types,
				  a->plans[0], a->plans[1], a->plans[2]);
}

/*
 * ... for repair() of every reference: a reference whose statements cannot
 * be prepared (an operator made ambiguous by an implicit cast, say) is
 * skipped with a WARNING instead of stopping the others.
 */
static bool
prepare_or_skip(RiReference *ref, RepairAction action, Oid child_owner,
				Oid *types, Oid *act_types,
				SPIPlanPtr *probe, SPIPlanPtr *find, SPIPlanPtr *plan)
{
	PrepareArgs a = {ref, action, child_owner, types, act_types, {probe, find, plan}};

	if (ri_try_or_skip(ref, prepare_plans_cb, &a))
		return true;
	for (int i = 0; i < lengthof(a.plans); i++)
	{
		if (*a.plans[i] != NULL)
			SPI_freeplan(*a.plans[i]);
		*a.plans[i] = NULL;
	}
	return false;
}

/* Run a kept statement as the child's owner; returns SPI's result code. */
static int
execute_as(Oid userid, SPIPlanPtr plan, Datum *args)
{
	RiUserState saved;
	int			nestlevel;
	int			rc;
	MemoryContext oldcxt = CurrentMemoryContext;

	ri_become(userid, RI_OWNER_CONTEXT, &saved);
	nestlevel = ri_own_settings_begin();
	rc = SPI_execute_plan(plan, args, NULL, false, 0);
	MemoryContextSwitchTo(oldcxt);
	ri_own_settings_end(nestlevel);
	ri_restore(&saved);
	return rc;
}

/* The rows of one batch of keys, and the image groups they fall into */
typedef struct BatchRows
{
	int			n;
	int		   *key;			/* which recorded key, from 0 */
	Oid		   *table;
	ItemPointerData *tid;
	ChildKey  **group;			/* tag: 1 while the group is acted on */
	ChildKeyGroup *groups;
} BatchRows;

/*
 * Act on the rows whose group is tagged, table by table, as the child's
 * owner; returns how many rows the action changed.
 */
static int64
act_on_rows(SPIPlanPtr plan, Oid child_owner, BatchRows *rows)
{
	int64		changed = 0;
	bool	   *done = palloc0((rows->n + 1) * sizeof(bool));
	Datum	   *tids = palloc((rows->n + 1) * sizeof(Datum));

	for (int r = 0; r < rows->n; r++)
	{
		Datum		args[2];
		int			m = 0;
		int			rc;

		if (done[r] || rows->group[r]->tag == 0)
			continue;
		for (int q = r; q < rows->n; q++)
		{
			if (!done[q] && rows->group[q]->tag != 0 && rows->table[q] == rows->table[r])
			{
				tids[m++] = PointerGetDatum(&rows->tid[q]);
				done[q] = true;
			}
		}
		args[0] = ObjectIdGetDatum(rows->table[r]);
		args[1] = PointerGetDatum(construct_array(tids, m, TIDOID, sizeof(ItemPointerData),
												  false, TYPALIGN_SHORT));
		rc = execute_as(child_owner, plan, args);
		if (rc != SPI_OK_DELETE && rc != SPI_OK_UPDATE)
			elog(ERROR, "repair statement failed: %s", SPI_result_code_string(rc));
		changed += (int64) SPI_processed;
	}
	return changed;
}

/*
 * Judge the groups of a batch's rows, act on the orphaned ones, then probe
 * the parent again for those that were probed: if one has a parent by now,
 * undo the batch's changes (a subtransaction), leave that group out and act
 * again.  Returns the rows changed; the groups acted on keep their tag.
 */
static int64
judge_and_act(RiReference *ref, SPIPlanPtr action, SPIPlanPtr probe,
			  Oid child_owner, Oid parent_owner, BatchRows *rows)
{
	uint64		ngroups = childkeys_count(rows->groups);
	Datum	   *values[INDEX_MAX_KEYS];
	ChildKey  **probed = palloc((ngroups + 1) * sizeof(ChildKey *));
	bool	   *orphan = palloc((ngroups + 1) * sizeof(bool));
	int			m = 0;

	if (ngroups == 0)
		return 0;

	/* SQL's rules, then the parent probe for the groups without NULLs */
	for (int i = 0; i < ref->nkeys; i++)
		values[i] = palloc((ngroups + 1) * sizeof(Datum));
	for (ChildKey *g = childkeys_first(rows->groups); g != NULL; g = g->next)
	{
		int			nnulls = 0;

		for (int i = 0; i < ref->nkeys; i++)
			nnulls += g->isnull[i];
		if (nnulls > 0)
		{
			/* a MATCH FULL key partly NULL: a violation itself */
			g->tag = (ref->match_full && nnulls < ref->nkeys);
			continue;
		}
		for (int i = 0; i < ref->nkeys; i++)
			values[i][m] = g->values[i];
		probed[m++] = g;
	}
	ri_probe(ref, probe, child_owner, parent_owner, values, m, orphan);
	for (int j = 0; j < m; j++)
		probed[j]->tag = orphan[j];

	for (;;)
	{
		MemoryContext cxt = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;
		int64		changed;
		int			again = 0;
		bool		appeared = false;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			changed = act_on_rows(action, child_owner, rows);

			/* the probe once more, for the groups acted on */
			for (int j = 0; j < m; j++)
			{
				if (probed[j]->tag == 0)
					continue;
				for (int i = 0; i < ref->nkeys; i++)
					values[i][again] = probed[j]->values[i];
				probed[again++] = probed[j];
			}
			m = again;
			ri_probe(ref, probe, child_owner, parent_owner, values, m, orphan);
			for (int j = 0; j < m; j++)
			{
				if (!orphan[j])
				{
					probed[j]->tag = 0;
					appeared = true;
				}
			}
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			/* never leave the subtransaction open behind an error */
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;
			ri_rethrow(edata);
		}
		PG_END_TRY();

		if (appeared)
			RollbackAndReleaseCurrentSubTransaction();
		else
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (!appeared)
			return changed;
	}
}

/*
 * Read the child rows of the readable keys of a batch (values[i][k],
 * isnull[i][k]; use[k]) as the child's owner, and group them by image.
 */
static void
read_rows(RiReference *ref, SPIPlanPtr plan, Oid child_owner, Datum **values,
		  bool **isnull, bool *use, int n, BatchRows *rows)
{
	Datum		args[INDEX_MAX_KEYS];
	int		   *index = palloc((n + 1) * sizeof(int));
	int			m = 0;
	int			rc;
	int16		typlen[INDEX_MAX_KEYS];
	bool		typbyval[INDEX_MAX_KEYS];
	char		typalign[INDEX_MAX_KEYS];

	for (int k = 0; k < n; k++)
		if (use[k])
			index[m++] = k;
	rows->n = 0;
	rows->groups = childkeys_create(ref->nkeys, ref->child_types, CurrentMemoryContext);
	if (m == 0)
		return;

	for (int i = 0; i < ref->nkeys; i++)
	{
		Datum	   *elems = palloc(m * sizeof(Datum));
		bool	   *nulls = palloc(m * sizeof(bool));
		int			dims[1] = {m};
		int			lbs[1] = {1};

		get_typlenbyvalalign(ref->child_types[i], &typlen[i], &typbyval[i], &typalign[i]);
		for (int j = 0; j < m; j++)
		{
			elems[j] = values[i][index[j]];
			nulls[j] = isnull[i][index[j]];
		}
		args[i] = PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
													 ref->child_types[i], typlen[i],
													 typbyval[i], typalign[i]));
	}
	rc = execute_as(child_owner, plan, args);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));

	rows->key = palloc((SPI_processed + 1) * sizeof(int));
	rows->table = palloc((SPI_processed + 1) * sizeof(Oid));
	rows->tid = palloc((SPI_processed + 1) * sizeof(ItemPointerData));
	rows->group = palloc((SPI_processed + 1) * sizeof(ChildKey *));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		v[INDEX_MAX_KEYS];
		bool		nl[INDEX_MAX_KEYS];
		bool		isnull_;
		int64		ord = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull_));

		if (ord < 1 || ord > m)
			elog(ERROR, "unexpected key position " INT64_FORMAT " of %d", ord, m);
		rows->key[rows->n] = index[ord - 1];
		rows->table[rows->n] = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull_));
		ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 3, &isnull_)),
						&rows->tid[rows->n]);
		for (int i = 0; i < ref->nkeys; i++)
			v[i] = SPI_getbinval(tup, desc, i + 4, &nl[i]);
		rows->group[rows->n++] = childkeys_add(rows->groups, v, nl, 1, true);
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Repair one reference.  Returns the number of child rows changed.
 */
static int64
repair_one(RiReference *found, const char *action_arg, int batch_size, bool atomic,
		   bool keep_going)
{
	volatile bool skipped = false;
	RiWork		work;
	MemoryContext cxt;
	RiReference *ref;
	RepairAction action;
	const char *act;
	int64		total_rows = 0;
	int64		total_keys = 0;
	int64		unreadable_keys = 0;
	SPIPlanPtr volatile plan = NULL;
	SPIPlanPtr volatile find = NULL;
	SPIPlanPtr volatile probe = NULL;
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
			const char *on_delete = MemoryContextStrdup(work.oldcxt, ref->on_delete);

			/* the lock goes first: a cancel may come with the NOTICE */
			ri_end_work(&work);
			ereport(NOTICE,
					(errmsg("reference \"%s\" has ON DELETE %s, skipping",
							name, on_delete),
					 errhint("Pass an action: 'delete', 'set null' or 'set default'.")));
			return 0;
		}
	}
	action = strcmp(act, "delete") == 0 ? REPAIR_DELETE :
		strcmp(act, "set null") == 0 ? REPAIR_SET_NULL : REPAIR_SET_DEFAULT;

	PG_TRY();
	{
		int32		last_hash = 0;
		Datum		last_key = (Datum) 0;
		bool		have_last = false;
		Oid			child_owner = ri_rel_owner(ref->child);
		Oid			parent_owner = ri_rel_owner(ref->parent);
		MemoryContext batch_cxt = AllocSetContextCreate(cxt, "ri_policy repair batch",
														ALLOCSET_DEFAULT_SIZES);
		Oid			types[INDEX_MAX_KEYS];
		Oid			act_types[2] = {OIDOID, TIDARRAYOID};

		/* owners, casts and types may have changed since the declaration */
		ri_check_comparison(ref);
		for (int i = 0; i < ref->nkeys; i++)
		{
			types[i] = get_array_type(ref->child_types[i]);
			if (!OidIsValid(types[i]))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot repair reference \"%s\": type %s has no array type",
								name, format_type_be(ref->child_types[i]))));
		}
		if (!keep_going)
			prepare_plans(ref, action, child_owner, types, act_types,
						  (SPIPlanPtr *) &probe, (SPIPlanPtr *) &find,
						  (SPIPlanPtr *) &plan);
		else
			skipped = !prepare_or_skip(ref, action, child_owner, types, act_types,
									   (SPIPlanPtr *) &probe, (SPIPlanPtr *) &find,
									   (SPIPlanPtr *) &plan);

		while (!skipped)
		{
			Datum		args[4];
			Oid			argtypes[4] = {INT8OID, INT4OID, INT4OID, JSONBOID};
			char		nulls[4] = {' ', ' ', have_last ? ' ' : 'n', have_last ? ' ' : 'n'};
			Datum	   *keys;
			Datum	   *hashes;
			int			n = 0;
			int64		nrows = 0;
			bool		isnull;
			Datum	   *values[INDEX_MAX_KEYS];
			bool	   *nulls_of[INDEX_MAX_KEYS];
			bool	   *unreadable;
			bool	   *use;
			bool	   *acted;
			bool	   *has_rows;
			BatchRows	rows;
			Datum	   *done_keys;
			Datum	   *done_hashes;
			int			ndone = 0;
			int			nestlevel;

			MemoryContextSwitchTo(batch_cxt);
			PushActiveSnapshot(GetTransactionSnapshot());

			/* the next keys, about batch_size child rows' worth */
			/* (each key holds at least one row: batch_size keys suffice) */
			args[0] = Int64GetDatum(ref->id);
			args[1] = Int32GetDatum(batch_size);
			args[2] = Int32GetDatum(last_hash);
			args[3] = last_key;
			/* in the index's order, stopping after $2 */
			nestlevel = ri_index_walk_begin();
			(void) ri_exec_as_owner(NULL,
									"SELECT key, key_hash, child_rows FROM ri_policy._violation"
									" WHERE reference = $1"
									"   AND key_hash >= COALESCE($3, -2147483648)"
									"   AND ($3 IS NULL OR key_hash > $3 OR key > $4)"
									" ORDER BY key_hash, key LIMIT $2",
									4, argtypes, args, nulls, false);
			ri_plan_settings_end(nestlevel);
			keys = palloc((SPI_processed + 1) * sizeof(Datum));
			hashes = palloc((SPI_processed + 1) * sizeof(Datum));
			for (uint64 i = 0; i < SPI_processed && nrows < batch_size; i++)
			{
				HeapTuple	tup = SPI_tuptable->vals[i];
				TupleDesc	desc = SPI_tuptable->tupdesc;

				keys[n] = PointerGetDatum(PG_DETOAST_DATUM_COPY(SPI_getbinval(tup, desc, 1,
																			  &isnull)));
				hashes[n++] = SPI_getbinval(tup, desc, 2, &isnull);
				nrows += DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
			}
			SPI_freetuptable(SPI_tuptable);
			if (n == 0)
			{
				PopActiveSnapshot();
				break;
			}
			MemoryContextSwitchTo(cxt);
			if (have_last)
				pfree(DatumGetPointer(last_key));
			last_key = PointerGetDatum(PG_DETOAST_DATUM_COPY(keys[n - 1]));
			last_hash = DatumGetInt32(hashes[n - 1]);
			have_last = true;
			MemoryContextSwitchTo(batch_cxt);

			/* the keys in the child's types, as the child's owner */
			for (int i = 0; i < ref->nkeys; i++)
			{
				values[i] = palloc(n * sizeof(Datum));
				nulls_of[i] = palloc(n * sizeof(bool));
			}
			unreadable = palloc(n * sizeof(bool));
			ri_keys_read(ref, child_owner, keys, n, values, nulls_of, unreadable);
			use = palloc(n * sizeof(bool));
			for (int k = 0; k < n; k++)
			{
				use[k] = !unreadable[k];
				unreadable_keys += unreadable[k];
			}

			/* their rows, judged and acted on, each as a pass would */
			read_rows(ref, find, child_owner, values, nulls_of, use, n, &rows);
			total_rows += judge_and_act(ref, plan, probe, child_owner, parent_owner, &rows);

			/*
			 * The keys that were repaired, or that have no rows left, leave
			 * the violations
			 */
			acted = palloc0(n * sizeof(bool));
			has_rows = palloc0(n * sizeof(bool));
			for (int r = 0; r < rows.n; r++)
			{
				has_rows[rows.key[r]] = true;
				acted[rows.key[r]] |= (rows.group[r]->tag != 0);
			}
			done_keys = palloc(n * sizeof(Datum));
			done_hashes = palloc(n * sizeof(Datum));
			for (int k = 0; k < n; k++)
			{
				if (!use[k] || (has_rows[k] && !acted[k]))
					continue;
				total_keys += acted[k];
				done_keys[ndone] = keys[k];
				done_hashes[ndone++] = hashes[k];
			}
			if (ndone > 0)
			{
				Datum		dargs[3];
				Oid			dtypes[3] = {INT8OID, INT4ARRAYOID, JSONBARRAYOID};

				dargs[0] = Int64GetDatum(ref->id);
				dargs[1] = PointerGetDatum(construct_array(done_hashes, ndone, INT4OID, 4,
														   true, TYPALIGN_INT));
				dargs[2] = PointerGetDatum(construct_array(done_keys, ndone, JSONBOID, -1,
														   false, TYPALIGN_INT));
				/* each key by an index probe, each row by its TID */
				nestlevel = ri_index_probe_begin();
				exec_ext("DELETE FROM ri_policy._violation v"
						 " USING ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(h, k)"
						 " JOIN LATERAL (SELECT x.ctid AS t FROM ri_policy._violation x"
						 "                WHERE x.reference = $1 AND x.key_hash = u.h"
						 "                  AND x.key = u.k OFFSET 0) f ON true"
						 " WHERE v.ctid = f.t",
						 3, dtypes, dargs);
				ri_plan_settings_end(nestlevel);
			}

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
		SPIPlanPtr	plans[3] = {plan, find, probe};

		for (int i = 0; i < lengthof(plans); i++)
		{
			if (plans[i] != NULL)
				SPI_freeplan(plans[i]);
		}
		ri_end_work(&work);
	}
	PG_END_TRY();
	if (skipped)
		return 0;

	if (unreadable_keys > 0)
		ereport(WARNING,
				(errmsg("reference \"%s\": %lld recorded key%s could not be read back and %s left alone",
						name, (long long) unreadable_keys, unreadable_keys == 1 ? "" : "s",
						unreadable_keys == 1 ? "was" : "were"),
				 errhint("Validate the reference again.")));
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
		(void) repair_one(lfirst(lc), action, batch_size, atomic, PG_ARGISNULL(0));
	}
	SPI_finish();
	PG_RETURN_VOID();
}
