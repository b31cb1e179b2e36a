/*-------------------------------------------------------------------------
 *
 * guard.c
 *		The foreign-key policy guard: event-trigger functions that apply
 *		ri_policy.mode to every statement that creates an enforced foreign
 *		key.
 *
 * Blocking happens at ddl_command_start, from the raw parse tree, before
 * any lock is taken or any table is created or scanned: rejecting
 * ALTER TABLE big ADD FOREIGN KEY must not read "big".  Warning happens at
 * ddl_command_end, from the commands PostgreSQL collected, so that each
 * WARNING names a constraint that really exists, with its real (possibly
 * generated) name.
 *
 * Foreign keys that PostgreSQL derives from existing ones (partition clones,
 * keys rebuilt by ALTER COLUMN TYPE) carry no FOREIGN KEY syntax and arrive
 * as different subcommands, so both functions let them pass, as they do
 * VALIDATE CONSTRAINT and (on 18+) NOT ENFORCED keys.  Binary upgrade is
 * never blocked.
 *
 * src/guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "compat.h"
#include "reference.h"
#include "ri_policy.h"

PG_FUNCTION_INFO_V1(ri_policy_guard_ddl_start);
PG_FUNCTION_INFO_V1(ri_policy_guard_ddl_end);

static void check_statement(Node *stmt);
static void check_create_table(CreateStmt *stmt);
static void check_alter_table(AlterTableStmt *stmt);
static bool is_enforced_foreign_key(Constraint *con);
static Constraint *column_foreign_key(ColumnDef *col);
static void check_enforce_constraint(RangeVar *table, const char *conname);
static bool relation_exists(RangeVar *rv);
static void report_blocked(RangeVar *table, const char *conname,
						   RangeVar *pktable);
static void report_created(Oid conoid);

/*
 * DETAIL and HINT of every message of the guard: which policy applied, where
 * it was set, and what to do instead.
 */
static int
errdetail_policy(void)
{
	return errdetail("Parameter \"ri_policy.mode\" is set to \"%s\" %s.",
					 ri_policy_mode_name(), ri_policy_mode_origin());
}

static int
errhint_policy(void)
{
	return errhint("Use ri_policy.declare_reference(...) to record the relationship without enforcing it.");
}

/*
 * Refuse to be called other than as an event trigger.
 */
static void
require_event_trigger(FunctionCallInfo fcinfo, const char *funcname)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						funcname)));
}

/*
 * ddl_command_start: in block mode, reject the statement if it asks for an
 * enforced foreign key.
 */
Datum
ri_policy_guard_ddl_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	require_event_trigger(fcinfo, "ri_policy_guard_ddl_start");
	ri_policy_restore_settings();

	if (ri_policy_mode != RI_POLICY_BLOCK || IsBinaryUpgrade)
		PG_RETURN_VOID();

	trigdata = (EventTriggerData *) fcinfo->context;
	check_statement(trigdata->parsetree);

	PG_RETURN_VOID();
}

/*
 * Look for FOREIGN KEY clauses in a raw statement; report the first one.
 */
static void
check_statement(Node *stmt)
{
	if (stmt == NULL)
		return;

	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			check_create_table((CreateStmt *) stmt);
			break;
		case T_AlterTableStmt:
			check_alter_table((AlterTableStmt *) stmt);
			break;
		case T_CreateSchemaStmt:
			{
				ListCell   *lc;

				foreach(lc, ((CreateSchemaStmt *) stmt)->schemaElts)
					check_statement((Node *) lfirst(lc));
			}
			break;
		default:
			break;
	}
}

/*
 * CREATE TABLE: column REFERENCES clauses and table FOREIGN KEY constraints,
 * whatever the persistence and whether or not the table is a partition.
 */
static void
check_create_table(CreateStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->tableElts)
	{
		Node	   *elt = (Node *) lfirst(lc);
		Constraint *con = NULL;

		if (IsA(elt, ColumnDef))
			con = column_foreign_key((ColumnDef *) elt);
		else if (IsA(elt, Constraint) && is_enforced_foreign_key((Constraint *) elt))
			con = (Constraint *) elt;

		if (con == NULL)
			continue;
		/* CREATE TABLE IF NOT EXISTS on an existing table is a no-op */
		if (stmt->if_not_exists && relation_exists(stmt->relation))
			return;
		report_blocked(stmt->relation, con->conname, con->pktable);
	}
}

/*
 * ALTER TABLE: ADD CONSTRAINT ... FOREIGN KEY (valid or NOT VALID),
 * ADD COLUMN ... REFERENCES, and on 18+ ALTER CONSTRAINT ... ENFORCED of a
 * foreign key.
 */
static void
check_alter_table(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		Constraint *con = NULL;
		const char *conname;

		if (cmd->subtype == AT_AddConstraint && IsA(cmd->def, Constraint) &&
			is_enforced_foreign_key((Constraint *) cmd->def))
			con = (Constraint *) cmd->def;
		else if (cmd->subtype == AT_AddColumn && IsA(cmd->def, ColumnDef))
			con = column_foreign_key((ColumnDef *) cmd->def);
		else if ((conname = compat_alter_constraint_enforces(cmd)) != NULL)
			check_enforce_constraint(stmt->relation, conname);

		if (con == NULL)
			continue;
		/* ALTER TABLE IF EXISTS on a missing table is a no-op */
		if (stmt->missing_ok && !relation_exists(stmt->relation))
			return;
		report_blocked(stmt->relation, con->conname, con->pktable);
	}
}

/*
 * Is a raw table constraint an enforced FOREIGN KEY?
 */
static bool
is_enforced_foreign_key(Constraint *con)
{
	return con->contype == CONSTR_FOREIGN && compat_constraint_enforced(con);
}

/*
 * A column's first enforced REFERENCES clause, or NULL.  On 18+ a
 * NOT ENFORCED attribute may follow the clause as a sibling node.
 */
static Constraint *
column_foreign_key(ColumnDef *col)
{
	ListCell   *lc;

	foreach(lc, col->constraints)
	{
		Constraint *con = lfirst_node(Constraint, lc);
		ListCell   *next;
		bool		enforced;

		if (con->contype != CONSTR_FOREIGN)
			continue;

		enforced = compat_constraint_enforced(con);
		for (next = lnext(col->constraints, lc); next != NULL;
			 next = lnext(col->constraints, next))
		{
			Constraint *attr = lfirst_node(Constraint, next);

			if (compat_is_not_enforced_attr(attr))
				enforced = false;
			else if (attr->contype < CONSTR_ATTR_DEFERRABLE)
				break;			/* attribute nodes sort last in ConstrType */
		}

		if (enforced)
			return con;
	}
	return NULL;
}

/*
 * ALTER CONSTRAINT ... ENFORCED (18+): blocked when the constraint is a
 * foreign key that is not enforced yet.  No lock is taken.
 */
static void
check_enforce_constraint(RangeVar *table, const char *conname)
{
	Oid			relid;
	Oid			pkrelid = InvalidOid;
	HeapTuple	tup;

	relid = RangeVarGetRelid(table, NoLock, true);
	if (!OidIsValid(relid))
		return;
	tup = SearchSysCache1(CONSTROID,
						  ObjectIdGetDatum(get_relation_constraint_oid(relid, conname, true)));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (con->contype == CONSTRAINT_FOREIGN && !compat_conenforced(con))
			pkrelid = con->confrelid;
		ReleaseSysCache(tup);
	}
	if (OidIsValid(pkrelid))
		report_blocked(table, conname,
					   makeRangeVar(NULL, get_rel_name(pkrelid), -1));
}

/*
 * Does the named relation exist?  No lock is taken: this only decides
 * whether an IF [NOT] EXISTS statement is a no-op.
 */
static bool
relation_exists(RangeVar *rv)
{
	return OidIsValid(RangeVarGetRelid(rv, NoLock, true));
}

/*
 * Raise the block-mode error for one foreign key.
 */
static void
report_blocked(RangeVar *table, const char *conname, RangeVar *pktable)
{
	const char *pkname = pktable ? pktable->relname : table->relname;

	if (conname)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("foreign key constraint \"%s\" on table \"%s\" referencing table \"%s\" is not allowed",
						conname, table->relname, pkname),
				 errdetail_policy(),
				 errhint_policy()));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("foreign key constraint on table \"%s\" referencing table \"%s\" is not allowed",
						table->relname, pkname),
				 errdetail_policy(),
				 errhint_policy()));
}

/*
 * For ri_policy functions that create foreign keys themselves (promote):
 * apply block mode before doing anything, as the ddl_command_start trigger
 * would.
 */
void
ri_guard_check_create(Oid child, const char *conname, Oid parent)
{
	ri_policy_restore_settings();
	if (ri_policy_mode == RI_POLICY_BLOCK && !IsBinaryUpgrade)
		report_blocked(makeRangeVar(NULL, get_rel_name(child), -1), conname,
					   makeRangeVar(NULL, get_rel_name(parent), -1));
}

/*
 * ... and warn mode once the key exists.
 */
void
ri_guard_report_created(Oid conoid)
{
	if (ri_policy_mode == RI_POLICY_WARN && !IsBinaryUpgrade)
		report_created(conoid);
}

/*
 * ddl_command_end: in warn mode, one WARNING per enforced foreign key the
 * command created.
 */
Datum
ri_policy_guard_ddl_end(PG_FUNCTION_ARGS)
{
	uint64		i;
	Node	   *parsetree;

	require_event_trigger(fcinfo, "ri_policy_guard_ddl_end");
	ri_policy_restore_settings();

	/* declared references follow their columns' renames */
	parsetree = ((EventTriggerData *) fcinfo->context)->parsetree;
	if (IsA(parsetree, RenameStmt) && ri_registry_exists())
		ri_follow_column_rename(parsetree);

	if (ri_policy_mode != RI_POLICY_WARN || IsBinaryUpgrade)
		PG_RETURN_VOID();

	SPI_connect();
	if (SPI_execute("SELECT command FROM pg_catalog.pg_event_trigger_ddl_commands()",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read collected DDL commands");

	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		CollectedCommand *cmd;
		ListCell   *lc;

		cmd = (CollectedCommand *)
			DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull || cmd->type != SCT_AlterTable)
			continue;

		foreach(lc, cmd->d.alterTable.subcmds)
		{
			CollectedATSubcmd *sub = (CollectedATSubcmd *) lfirst(lc);

			if (sub->address.classId == ConstraintRelationId &&
				OidIsValid(sub->address.objectId) &&
				compat_subcmd_creates_constraint((AlterTableCmd *) sub->parsetree))
				report_created(sub->address.objectId);
		}
	}
	SPI_finish();

	PG_RETURN_VOID();
}

/*
 * Emit the warn-mode WARNING for a constraint, if it is a top-level enforced
 * foreign key.
 */
static void
report_created(Oid conoid)
{
	HeapTuple	tup;
	Form_pg_constraint con;

	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		return;
	con = (Form_pg_constraint) GETSTRUCT(tup);

	if (con->contype == CONSTRAINT_FOREIGN && !OidIsValid(con->conparentid) &&
		compat_conenforced(con))
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("foreign key constraint \"%s\" created on table \"%s\" referencing table \"%s\"",
						NameStr(con->conname), get_rel_name(con->conrelid),
						get_rel_name(con->confrelid)),
				 errdetail_policy(),
				 errhint_policy()));

	ReleaseSysCache(tup);
}
