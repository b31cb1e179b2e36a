/*-------------------------------------------------------------------------
 *
 * follow.c
 *		Following, at ddl_command_end, the DDL that declared references
 *		depend on beyond renames and drops (registry.c): key column type
 *		changes, and what tracking cannot see.
 *
 * ALTER COLUMN ... TYPE of a key column: the reference's equality
 * operators are found again for the new types, as declare_reference()
 * found them and as PostgreSQL finds a foreign key's when it rebuilds it;
 * if there is none any more, the ALTER TABLE fails, as it would for a
 * foreign key, rather than validation failing later.  The column's values
 * may have been rewritten (USING, or a cast that rounds), past any trigger.
 *
 * Tracking (track.c) records what the statement triggers see.  These
 * commands change what a tracked table's rows are, or whether its triggers
 * fire, without firing them: disabling or enabling them (a trigger
 * disabled and enabled again between two passes leaves no trace), a key
 * column's new type or generation expression, attaching or detaching a
 * partition and adding or removing inheritance, and making a table the
 * target of a logical replication subscription.  Each forgets that the
 * change log of the tracked references of those tables is complete, so
 * that their next pass is full, and records why (ri_track_forget()).
 * States that persist, such as a trigger still disabled, are also checked
 * whenever a pass begins (ri_track_gap()).
 *
 * DDL that touches none of this costs a look at the statement's parse tree;
 * ALTER TABLE of trigger states, partitions, inheritance or a generation
 * expression one index scan of pg_trigger per table named; a type change
 * one query of the registry (any declared reference's operators may need
 * to follow it, tracked or not).
 *
 * src/follow.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_subscription_rel.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "compare.h"
#include "compat.h"
#include "follow.h"
#include "reference.h"

PG_FUNCTION_INFO_V1(ri_policy_follow_subscription);

/*
 * The declared references with a key column among "columns" in one of
 * "rels" (ids, in a palloc'd array; their number in *n).
 */
static int64 *
key_references(List *rels, List *columns, int *n)
{
	Datum	   *relds = palloc(list_length(rels) * sizeof(Datum));
	Datum	   *colds = palloc(list_length(columns) * sizeof(Datum));
	Datum		args[2];
	Oid			argtypes[2] = {OIDARRAYOID, NAMEARRAYOID};
	int64	   *ids;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, rels)
		relds[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	args[0] = PointerGetDatum(construct_array(relds, i, OIDOID, sizeof(Oid),
											  true, TYPALIGN_INT));
	i = 0;
	foreach(lc, columns)
		colds[i++] = DirectFunctionCall1(namein, CStringGetDatum(lfirst(lc)));
	args[1] = PointerGetDatum(construct_array(colds, i, NAMEOID, NAMEDATALEN,
											  false, TYPALIGN_CHAR));
	(void) ri_exec_as_owner(NULL,
							"SELECT id FROM ri_policy._reference"
							" WHERE (child::pg_catalog.oid = ANY ($1) AND child_columns && $2)"
							"    OR (parent::pg_catalog.oid = ANY ($1) AND parent_columns && $2)"
							" ORDER BY id",
							2, argtypes, args, NULL, true);
	*n = (int) SPI_processed;
	ids = palloc((SPI_processed + 1) * sizeof(int64));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		ids[r] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
											 SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return ids;
}

/*
 * Find a reference's operators again for its columns' new types, check
 * that validation may use them (compare.c), and record them.  Any error
 * fails the ALTER TABLE, with a hint on what to do instead.
 */
static void
rederive_operators(int64 id)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	RiReference *volatile ref = NULL;
	Oid			operators[INDEX_MAX_KEYS];
	bool		changed = false;

	PG_TRY();
	{
		ref = ri_load_reference_id(id);
		ri_reference_operators(ref, operators);
		for (int i = 0; i < ref->nkeys; i++)
		{
			changed |= (operators[i] != ref->eq_operators[i]);
			ref->eq_operators[i] = operators[i];
		}
		ri_check_comparison(ref);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (ref != NULL && edata->sqlerrcode != ERRCODE_QUERY_CANCELED)
			edata->hint = psprintf("Drop reference \"%s\" before changing the type, and declare it again after.",
								   ref->name);
		ri_rethrow(edata);
	}
	PG_END_TRY();

	if (changed)
	{
		Datum		args[2];
		Oid			argtypes[2] = {INT8OID, TEXTARRAYOID};

		args[0] = Int64GetDatum(id);
		args[1] = ri_operator_names(ref->eq_operators, ref->nkeys);
		(void) ri_exec_as_owner(NULL,
								"UPDATE ri_policy._reference SET eq_operators = $2"
								" WHERE id = $1",
								2, argtypes, args, NULL, false);
	}
}

/*
 * Key columns of relid (and of the tables that inherit them) were given a
 * new type (types) or generation expression: find the operators of the
 * references on them again, and forget that their tracked changes are
 * complete.
 */
static void
follow_key_columns(Oid relid, List *columns, bool types)
{
	List	   *rels = find_all_inheritors(relid, NoLock, NULL);
	int64	   *ids;
	int			n;

	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	ids = key_references(rels, columns, &n);
	for (int i = 0; i < n && types; i++)
		rederive_operators(ids[i]);
	if (n > 0)
		ri_track_forget(NULL, 0, ids, n,
						psprintf(types ?
								 "the type of a key column of table \"%s\" changed (ALTER COLUMN ... TYPE)" :
								 "the expression of a generated key column of table \"%s\" changed (ALTER COLUMN ... SET EXPRESSION)",
								 get_rel_name(relid)));
	PopActiveSnapshot();
	SPI_finish();
}

/*
 * The tracked references of these tables may have missed changes: forget
 * that their logs are complete, if any table is tracked at all.
 */
static void
forget_tables(Oid *rels, int nrels, const char *why)
{
	bool		tracked = false;

	for (int i = 0; i < nrels && !tracked; i++)
		tracked = OidIsValid(rels[i]) && ri_track_table_tracked(rels[i], NULL);
	if (!tracked)
		return;
	SPI_connect();
	ri_track_forget(rels, nrels, NULL, 0, why);
	SPI_finish();
}

/* The trigger states ALTER TABLE can set, as the command says them */
static const char *
trigger_command(AlterTableType subtype)
{
	switch (subtype)
	{
		case AT_EnableTrig:
		case AT_EnableTrigAll:
		case AT_EnableTrigUser:
			return "ENABLE TRIGGER";
		case AT_EnableAlwaysTrig:
			return "ENABLE ALWAYS TRIGGER";
		case AT_EnableReplicaTrig:
			return "ENABLE REPLICA TRIGGER";
		case AT_DisableTrig:
		case AT_DisableTrigAll:
		case AT_DisableTrigUser:
			return "DISABLE TRIGGER";
		default:
			return NULL;
	}
}

/*
 * ALTER TABLE: each subcommand that matters, on the table it names and on
 * the partition or inheritance parent it names.
 */
static void
follow_alter_table(AlterTableStmt *stmt)
{
	Oid			relid = InvalidOid;
	bool		resolved = false;
	List	   *typed = NIL;
	List	   *generated = NIL;
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		const char *command = trigger_command(cmd->subtype);

		/* nothing but the parse tree for DDL that does not matter here */
		if (command == NULL && cmd->subtype != AT_AlterColumnType &&
			!compat_sets_expression(cmd) &&
			cmd->subtype != AT_AttachPartition && cmd->subtype != AT_DetachPartition &&
			cmd->subtype != AT_DetachPartitionFinalize &&
			cmd->subtype != AT_AddInherit && cmd->subtype != AT_DropInherit)
			continue;
		if (!resolved)
		{
			resolved = true;
			if (ri_registry_exists() && ri_objects_current())
				relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		}
		if (!OidIsValid(relid))
			return;

		if (cmd->subtype == AT_AlterColumnType)
			typed = lappend(typed, cmd->name);
		else if (compat_sets_expression(cmd))
			generated = lappend(generated, cmd->name);
		else if (command != NULL)
		{
			/* a trigger by name, or all of them (ALL, USER) */
			bool		named = cmd->subtype == AT_EnableTrig ||
				cmd->subtype == AT_EnableAlwaysTrig ||
				cmd->subtype == AT_EnableReplicaTrig ||
				cmd->subtype == AT_DisableTrig;

			if (ri_track_table_tracked(relid, named ? cmd->name : NULL))
			{
				forget_tables(&relid, 1,
							  psprintf("tracking triggers on table \"%s\" were disabled or enabled (ALTER TABLE ... %s)",
									   get_rel_name(relid), command));
				if (cmd->subtype == AT_EnableTrig || cmd->subtype == AT_EnableTrigAll ||
					cmd->subtype == AT_EnableTrigUser)
					ri_track_enable_always(relid, named ? cmd->name : NULL);
			}
		}
		else
		{
			bool		inherit = cmd->subtype == AT_AddInherit ||
				cmd->subtype == AT_DropInherit;
			RangeVar   *other = inherit ? (RangeVar *) cmd->def :
				((PartitionCmd *) cmd->def)->name;
			Oid			rels[2];

			rels[0] = relid;
			rels[1] = RangeVarGetRelid(other, NoLock, true);
			forget_tables(rels, 2, inherit ?
						  psprintf("table \"%s\" began or stopped inheriting from table \"%s\" (ALTER TABLE ... [NO] INHERIT)",
								   get_rel_name(relid), other->relname) :
						  psprintf("table \"%s\" was attached to or detached from table \"%s\" (ALTER TABLE ... ATTACH or DETACH PARTITION)",
								   other->relname, get_rel_name(relid)));
		}
	}
	if (typed != NIL)
		follow_key_columns(relid, typed, true);
	/* a new expression leaves the operators alone: only tracking cares */
	if (generated != NIL && ri_track_table_tracked(relid, NULL))
		follow_key_columns(relid, generated, false);
}

/*
 * ri_policy._follow_subscription(), at the ddl_command_end of CREATE and
 * ALTER SUBSCRIPTION: the tables a subscription replicates into are in
 * pg_subscription_rel by the end of the command, and its apply worker
 * fires no statement triggers on them.  Any tracked one may miss changes
 * from now on.
 */
Datum
ri_policy_follow_subscription(PG_FUNCTION_ARGS)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *targets = NIL;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						"ri_policy_follow_subscription")));
	if (!ri_registry_exists() || !ri_objects_current())
		PG_RETURN_VOID();
	rel = table_open(SubscriptionRelRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		targets = list_append_unique_oid(targets,
										 ((Form_pg_subscription_rel) GETSTRUCT(tup))->srrelid);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	foreach(lc, targets)
	{
		Oid			relid = lfirst_oid(lc);

		forget_tables(&relid, 1,
					  psprintf("table \"%s\" became a logical replication subscription target (CREATE or ALTER SUBSCRIPTION)",
							   get_rel_name(relid)));
	}
	PG_RETURN_VOID();
}

/*
 * Called at ddl_command_end of the commands the guard sees (guard.c):
 * follow ALTER TABLE.  The extension's own scripts, ri_policy's own trigger
 * DDL and binary upgrade (which changes nothing) are left alone.
 */
void
ri_follow_ddl(Node *parsetree)
{
	if (parsetree == NULL || creating_extension || IsBinaryUpgrade ||
		ri_track_own_ddl())
		return;
	if (IsA(parsetree, AlterTableStmt))
		follow_alter_table((AlterTableStmt *) parsetree);
}
