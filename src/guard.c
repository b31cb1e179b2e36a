/*-------------------------------------------------------------------------
 *
 * guard.c
 *		The foreign-key policy guard: event-trigger functions that apply
 *		ri_policy.mode to every statement that creates an enforced foreign
 *		key.
 *
 * Block mode has two gates.  The first, at ddl_command_start, reads the raw
 * parse tree and rejects any statement that asks for an enforced foreign
 * key, before any lock is taken or any table is created or scanned:
 * rejecting ALTER TABLE big ADD FOREIGN KEY must not read "big".  Where a
 * statement may turn out to be a no-op (IF [NOT] EXISTS), the first gate
 * decides it as PostgreSQL will, in the creation namespace and from current
 * catalog state.
 *
 * The second gate does not trust the first.  An object-access hook notes
 * every constraint the command creates (and, on 18+, alters); at
 * ddl_command_end each noted constraint that is an enforced, top-level
 * foreign key is checked against the subcommands PostgreSQL collected, and
 * rejected unless it is one of the documented derived kinds.  A race or a
 * mistake of the first gate therefore costs a scan, never a key.  Warn mode
 * uses the same list, so that each WARNING names a constraint that really
 * exists, with its real (possibly generated) name.
 *
 * Foreign keys that PostgreSQL derives from existing ones are not counted:
 * partition clones (and the rows a partitioned parent adds) have a parent
 * constraint; keys rebuilt by ALTER COLUMN TYPE arrive as
 * AT_ReAddConstraint; VALIDATE CONSTRAINT and (on 18+) NOT ENFORCED keys
 * enforce nothing new.  Binary upgrade is never blocked.
 *
 * Each foreign key let through in warn mode is also recorded, in the
 * transaction that creates it, in ri_policy._warned (the ri_policy.warned
 * view): who, when, where the mode came from, and the statement, so that a
 * reviewer can ask the database rather than a client's log.  Keys created
 * by promote() are recorded by its worker, in the transaction that adds
 * them.  Block mode records nothing: its statements do not survive.
 *
 * The hook costs a list append per constraint created; DDL that creates no
 * foreign key never queries the collected commands, nor writes anything.
 *
 * src/guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "tcop/deparse_utility.h"
#include "mb/pg_wchar.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "citus.h"
#include "compat.h"
#include "follow.h"
#include "reference.h"
#include "ri_policy.h"

PG_FUNCTION_INFO_V1(ri_policy_guard_ddl_start);
PG_FUNCTION_INFO_V1(ri_policy_guard_ddl_end);

/*
 * Constraints created (and, on 18+, altered) since the last ddl_command_end,
 * noted by the object-access hook.  Allocated in TopTransactionContext and
 * forgotten at the end of the transaction.
 */
static List *created_constraints = NIL;
static List *altered_constraints = NIL;
static object_access_hook_type prev_object_access_hook = NULL;

/*
 * The foreign keys warn mode let through in this transaction, by the
 * logical key each is a copy of (ri_citus_logical_key: on a shard, its
 * Citus table's key) and the roles that created it (TopTransactionContext).
 * Another copy of one of them, by the same roles in the same transaction,
 * is the same decision and already recorded, in this transaction: Citus
 * makes copies on every shard a backend of this node holds, and a client
 * connecting to a node directly is recorded once per key and transaction
 * all the same (see logical_key_warned).
 */
typedef struct WarnedKey
{
	Oid			rel;			/* as it was when warned about */
	Oid			ref;
	NameData	name;
	char	   *columns;		/* see key_columns() */
	Oid			session_role;
	Oid			effective_role;
} WarnedKey;
static List *warned_keys = NIL;

/* What the collected commands say about one noted constraint. */
typedef enum NotedKind
{
	NOTED_UNKNOWN,				/* no subcommand names it */
	NOTED_ADDED,				/* ADD CONSTRAINT, or ALTER ... ENFORCED */
	NOTED_DERIVED				/* rebuilt by ALTER COLUMN TYPE, validated, ... */
} NotedKind;

static void check_statement(Node *stmt, bool in_create_schema);
static void check_create_table(CreateStmt *stmt, bool in_create_schema);
static void check_alter_table(AlterTableStmt *stmt);
static bool is_enforced_foreign_key(Constraint *con);
static Constraint *column_foreign_key(ColumnDef *col);
static void check_enforce_constraint(RangeVar *table, const char *conname);
static bool create_is_noop(CreateStmt *stmt, bool in_create_schema);
static Oid	current_relid(RangeVar *rv);
static void report_blocked(const char *table, const char *conname,
						   const char *pktable);
static void check_noted_constraints(void);

/*
 * DETAIL and HINT of every message of the guard: which policy applied, where
 * it was set, and what to do instead.  The DETAIL is also recorded with each
 * key warn mode lets through.
 */
char *
ri_guard_policy_detail(void)
{
	return psprintf("Parameter \"ri_policy.mode\" is set to \"%s\" %s.",
					ri_policy_mode_name(), ri_policy_mode_origin());
}

static int
errdetail_policy(void)
{
	return errdetail("%s", ri_guard_policy_detail());
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
	check_statement(trigdata->parsetree, false);

	PG_RETURN_VOID();
}

/*
 * Look for FOREIGN KEY clauses in a raw statement; report the first one.
 */
static void
check_statement(Node *stmt, bool in_create_schema)
{
	if (stmt == NULL)
		return;

	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			check_create_table((CreateStmt *) stmt, in_create_schema);
			break;
		case T_AlterTableStmt:
			check_alter_table((AlterTableStmt *) stmt);
			break;
		case T_CreateSchemaStmt:
			{
				ListCell   *lc;

				foreach(lc, ((CreateSchemaStmt *) stmt)->schemaElts)
					check_statement((Node *) lfirst(lc), true);
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
check_create_table(CreateStmt *stmt, bool in_create_schema)
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
		if (stmt->if_not_exists && create_is_noop(stmt, in_create_schema))
			return;
		report_blocked(stmt->relation->relname, con->conname,
					   con->pktable ? con->pktable->relname : stmt->relation->relname);
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

		/*
		 * ALTER TABLE IF EXISTS on a missing table is a no-op, and so is
		 * ADD COLUMN IF NOT EXISTS of a column the table has (PostgreSQL
		 * skips the column and its constraints).  If either answer changes
		 * before PostgreSQL looks, the second gate sees the key.
		 */
		if (stmt->missing_ok || cmd->subtype == AT_AddColumn)
		{
			Oid			relid = current_relid(stmt->relation);

			if (!OidIsValid(relid))
			{
				if (stmt->missing_ok)
					return;
			}
			else if (cmd->subtype == AT_AddColumn && cmd->missing_ok &&
					 get_attnum(relid, ((ColumnDef *) cmd->def)->colname) > 0)
				continue;
		}
		report_blocked(stmt->relation->relname, con->conname,
					   con->pktable ? con->pktable->relname : stmt->relation->relname);
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

	relid = current_relid(table);
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
		report_blocked(table->relname, conname, get_rel_name(pkrelid));
}

/*
 * Will CREATE TABLE IF NOT EXISTS skip this statement?  Decided as
 * transformCreateStmt() decides it: only a relation of that name in the
 * creation namespace makes it a no-op, looked up under the namespace lock
 * PostgreSQL takes anyway, with invalidations accepted.  In CREATE SCHEMA
 * the namespace is new, so nothing can be skipped.
 */
static bool
create_is_noop(CreateStmt *stmt, bool in_create_schema)
{
	RangeVar   *rv;
	Oid			existing = InvalidOid;

	if (in_create_schema)
		return false;
	rv = copyObject(stmt->relation);
	(void) RangeVarGetAndCheckCreationNamespace(rv, NoLock, &existing);
	return OidIsValid(existing);
}

/*
 * The relation a name stands for now, or InvalidOid; no lock is taken, but
 * pending invalidations are accepted first, so that the answer is not read
 * from a stale cache.
 */
static Oid
current_relid(RangeVar *rv)
{
	AcceptInvalidationMessages();
	return RangeVarGetRelid(rv, NoLock, true);
}

/*
 * Raise the block-mode error for one foreign key.
 */
static void
report_blocked(const char *table, const char *conname, const char *pktable)
{
	if (conname)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("foreign key constraint \"%s\" on table \"%s\" referencing table \"%s\" is not allowed",
						conname, table, pktable),
				 errdetail_policy(),
				 errhint_policy()));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("foreign key constraint on table \"%s\" referencing table \"%s\" is not allowed",
						table, pktable),
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
		report_blocked(get_rel_name(child), conname, get_rel_name(parent));
}

/*
 * Emit the warn-mode WARNING for a foreign key that exists.
 */
static void
report_created(Form_pg_constraint con)
{
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("foreign key constraint \"%s\" created on table \"%s\" referencing table \"%s\"",
					NameStr(con->conname), get_rel_name(con->conrelid),
					get_rel_name(con->confrelid)),
			 errdetail_policy(),
			 errhint_policy()));
}

/*
 * The statement that is running, as recorded: at most RI_WARNED_STATEMENT_MAX
 * bytes, cut at a character boundary; NULL if there is none (a background
 * worker's own work).
 */
char *
ri_guard_statement(void)
{
	int			len;

	if (debug_query_string == NULL)
		return NULL;
	len = strlen(debug_query_string);
	if (len > RI_WARNED_STATEMENT_MAX)
		len = pg_mbcliplen(debug_query_string, len, RI_WARNED_STATEMENT_MAX);
	return pnstrdup(debug_query_string, len);
}

/*
 * Record a foreign key that warn mode let through in ri_policy._warned, in
 * the current transaction (a plain INSERT, as the extension's owner: this
 * runs inside an event trigger too).  The roles are passed in because
 * promote()'s worker records on behalf of its caller.  Nothing is recorded
 * while the extension's objects are older than its library.
 */
void
ri_guard_record_warned(Oid conoid, const char *detail, const char *session_role,
					   const char *effective_role, const char *statement)
{
	HeapTuple	tup;
	Form_pg_constraint con;
	Oid			nsp = get_namespace_oid("ri_policy", true);
	Oid			lrel;
	Oid			lref;
	char	   *lname;
	NameData	name;
	Datum		values[8];
	char		nulls[8];
	Oid			argtypes[8] = {TEXTOID, TEXTOID, NAMEOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID};

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("_warned", nsp)))
		return;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	con = (Form_pg_constraint) GETSTRUCT(tup);
	ri_citus_logical_key(con->conrelid, NameStr(con->conname), con->confrelid,
						 &lrel, &lname, &lref);
	namestrcpy(&name, lname);
	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(session_role);
	values[1] = CStringGetTextDatum(effective_role);
	values[2] = NameGetDatum(&name);
	values[3] = CStringGetTextDatum(ri_qualified_name(lrel));
	values[4] = CStringGetTextDatum(ri_qualified_name(lref));
	values[5] = CStringGetTextDatum(GetUserNameFromId(ri_rel_owner(lrel),
													  false));
	values[6] = CStringGetTextDatum(detail);
	if (statement != NULL)
		values[7] = CStringGetTextDatum(statement);
	else
		nulls[7] = 'n';

	SPI_connect();
	(void) ri_exec_as_owner(NULL,
							"INSERT INTO ri_policy._warned (at, database, session_role,"
							" effective_role, constraint_name, table_name,"
							" referenced_table, table_owner, detail, statement)"
							" VALUES (pg_catalog.statement_timestamp(),"
							" pg_catalog.current_database(), $1, $2, $3, $4, $5, $6,"
							" $7, $8)",
							8, argtypes, values, nulls, false);
	SPI_finish();
	ReleaseSysCache(tup);
}

/*
 * ... the same, for this session's statement.
 */
static void
record_created(Oid conoid)
{
	ri_guard_record_warned(conoid, ri_guard_policy_detail(),
						   GetUserNameFromId(GetSessionUserId(), false),
						   GetUserNameFromId(GetUserId(), false),
						   ri_guard_statement());
}

/*
 * ... and warn mode's WARNING once the key exists, for promote(), whose
 * worker has recorded the key.
 */
void
ri_guard_report_created(Oid conoid)
{
	HeapTuple	tup;

	if (ri_policy_mode != RI_POLICY_WARN || IsBinaryUpgrade)
		return;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		return;
	report_created((Form_pg_constraint) GETSTRUCT(tup));
	ReleaseSysCache(tup);
}

/*
 * ddl_command_end: the second gate of block mode, and warn mode; both act
 * on the constraints the hook noted.
 */
Datum
ri_policy_guard_ddl_end(PG_FUNCTION_ARGS)
{
	Node	   *parsetree;

	require_event_trigger(fcinfo, "ri_policy_guard_ddl_end");
	ri_policy_restore_settings();

	/* declared references follow renames of their columns and keys */
	parsetree = ((EventTriggerData *) fcinfo->context)->parsetree;
	if (IsA(parsetree, RenameStmt) && ri_registry_exists())
		ri_follow_rename(parsetree);
	/* ... and type changes and what tracking cannot see (follow.c) */
	ri_follow_ddl(parsetree);

	check_noted_constraints();

	PG_RETURN_VOID();
}

/*
 * Is a constraint a foreign key?  Copies its row into *con if so.
 */
static bool
fetch_foreign_key(Oid conoid, FormData_pg_constraint *con)
{
	HeapTuple	tup;

	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		return false;			/* rolled back, or dropped since */
	memcpy(con, GETSTRUCT(tup), sizeof(FormData_pg_constraint));
	ReleaseSysCache(tup);
	return con->contype == CONSTRAINT_FOREIGN;
}

/*
 * Is a constraint an enforced foreign key of its own (no parent constraint)?
 */
static bool
fetch_own_foreign_key(Oid conoid, FormData_pg_constraint *con)
{
	return fetch_foreign_key(conoid, con) && !OidIsValid(con->conparentid) &&
		compat_conenforced(con);
}

/*
 * What did the command do to a constraint, according to the subcommands
 * PostgreSQL collected?  Only asked about foreign keys, so the collected
 * commands are read only when a statement touched one.
 */
static NotedKind
collected_kind(Oid conoid)
{
	NotedKind	kind = NOTED_UNKNOWN;

	SPI_connect();
	if (SPI_execute("SELECT command FROM pg_catalog.pg_event_trigger_ddl_commands()",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read collected DDL commands");

	for (uint64 i = 0; i < SPI_processed && kind != NOTED_ADDED; i++)
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

			if (sub->address.classId != ConstraintRelationId ||
				sub->address.objectId != conoid)
				continue;
			if (compat_subcmd_creates_constraint((AlterTableCmd *) sub->parsetree))
			{
				kind = NOTED_ADDED;
				break;
			}
			kind = NOTED_DERIVED;
		}
	}
	SPI_finish();
	return kind;
}

/*
 * Append a key's columns (conkey or confkey, attr) of table rel by name.
 */
static void
append_key_columns(StringInfo buf, HeapTuple tup, AttrNumber attr, Oid rel)
{
	bool		isnull;
	Datum		d = SysCacheGetAttr(CONSTROID, tup, attr, &isnull);
	Datum	   *elems;
	int			n;

	if (isnull)
		elog(ERROR, "null key columns of constraint");
	deconstruct_array(DatumGetArrayTypeP(d), INT2OID, 2, true, TYPALIGN_SHORT,
					  &elems, NULL, &n);
	appendStringInfoChar(buf, '(');
	for (int i = 0; i < n; i++)
		appendStringInfo(buf, "%s%s", i > 0 ? "," : "",
						 quote_identifier(get_attname(rel, DatumGetInt16(elems[i]), false)));
	appendStringInfoChar(buf, ')');
}

/*
 * A foreign key's columns by name, and its match type and actions: what
 * its copies on shards have alike.  Read from the catalog caches, which
 * see the key the command has just created (a query under the statement's
 * snapshot would not).
 */
static char *
key_columns(Oid conoid)
{
	HeapTuple	tup;
	Form_pg_constraint con;
	StringInfoData buf;
	MemoryContext oldcxt;

	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	con = (Form_pg_constraint) GETSTRUCT(tup);
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	initStringInfo(&buf);
	append_key_columns(&buf, tup, Anum_pg_constraint_conkey, con->conrelid);
	append_key_columns(&buf, tup, Anum_pg_constraint_confkey, con->confrelid);
	appendStringInfo(&buf, " %c %c %c", con->confmatchtype, con->confupdtype,
					 con->confdeltype);
	MemoryContextSwitchTo(oldcxt);
	ReleaseSysCache(tup);
	return buf.data;
}

/*
 * Warn mode: is foreign key "con" (conoid) a copy of a logical key that
 * this transaction was warned about and recorded already, by the same
 * session and effective roles, on the same columns, with the same match
 * type and actions?  Both sides are resolved by Citus's metadata as it is
 * now (a table Citus turned into a Citus local table in this transaction
 * is a shard of its new shell since), never by what a client says, so
 * only this transaction's own record can stand for a key: a role is
 * recorded once per logical key and transaction, whoever it claims to be,
 * and nothing it commits goes unrecorded.  Block mode refuses every copy.
 */
static bool
logical_key_warned(Form_pg_constraint con, Oid conoid)
{
	ListCell   *lc;
	char	   *columns = NULL;
	Oid			lrel;
	Oid			lref;
	char	   *lname;

	/* without Citus, nothing makes copies: every key is its own decision */
	if (warned_keys == NIL ||
		!ri_citus_logical_key(con->conrelid, NameStr(con->conname),
							  con->confrelid, &lrel, &lname, &lref))
		return false;
	foreach(lc, warned_keys)
	{
		WarnedKey  *w = (WarnedKey *) lfirst(lc);
		Oid			wrel;
		Oid			wref;
		char	   *wname;

		if (w->session_role != GetSessionUserId() ||
			w->effective_role != GetUserId())
			continue;
		if (columns == NULL)
			columns = key_columns(conoid);
		if (strcmp(columns, w->columns) != 0)
			continue;
		ri_citus_logical_key(w->rel, NameStr(w->name), w->ref,
							 &wrel, &wname, &wref);
		if (wrel == lrel && wref == lref && strcmp(wname, lname) == 0)
			return true;
	}
	return false;
}

/*
 * Warn about a foreign key and record it, unless this transaction has
 * recorded its logical key already.
 */
static void
warn_created(Form_pg_constraint con, Oid conoid)
{
	MemoryContext oldcxt;
	WarnedKey  *w;

	if (logical_key_warned(con, conoid))
		return;
	report_created(con);
	record_created(conoid);
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	w = palloc(sizeof(WarnedKey));
	w->rel = con->conrelid;
	w->ref = con->confrelid;
	w->name = con->conname;
	w->columns = key_columns(conoid);
	w->session_role = GetSessionUserId();
	w->effective_role = GetUserId();
	warned_keys = lappend(warned_keys, w);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Apply the mode to every enforced foreign key the command brought into
 * being.  A created constraint that no subcommand explains counts as added
 * (fail closed); an altered one counts only when a subcommand enforced it.
 */
static void
check_noted_constraints(void)
{
	List	   *created = created_constraints;
	List	   *altered = altered_constraints;
	ListCell   *lc;

	created_constraints = NIL;
	altered_constraints = NIL;
	if (IsBinaryUpgrade)
		return;

	/*
	 * In every mode: a foreign key may not take the name of a declared
	 * reference of its table, or one name would stand for two relationships.
	 */
	foreach(lc, created)
	{
		FormData_pg_constraint con;

		if (fetch_foreign_key(lfirst_oid(lc), &con) &&
			!OidIsValid(con.conparentid) && ri_registry_exists() &&
			ri_reference_name_taken(con.conrelid, NameStr(con.conname)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("constraint \"%s\" of relation \"%s\" would take the name of a declared reference",
							NameStr(con.conname), get_rel_name(con.conrelid)),
					 errhint("Drop or rename the reference first, or choose another name.")));
	}

	if (ri_policy_mode == RI_POLICY_ALLOW)
		return;

	foreach(lc, created)
	{
		FormData_pg_constraint con;

		if (fetch_own_foreign_key(lfirst_oid(lc), &con) &&
			collected_kind(lfirst_oid(lc)) != NOTED_DERIVED)
		{
			if (ri_policy_mode == RI_POLICY_BLOCK)
				report_blocked(get_rel_name(con.conrelid), NameStr(con.conname),
							   get_rel_name(con.confrelid));
			warn_created(&con, lfirst_oid(lc));
		}
	}
	foreach(lc, altered)
	{
		FormData_pg_constraint con;

		if (!list_member_oid(created, lfirst_oid(lc)) &&
			fetch_own_foreign_key(lfirst_oid(lc), &con) &&
			collected_kind(lfirst_oid(lc)) == NOTED_ADDED)
		{
			if (ri_policy_mode == RI_POLICY_BLOCK)
				report_blocked(get_rel_name(con.conrelid), NameStr(con.conname),
							   get_rel_name(con.confrelid));
			warn_created(&con, lfirst_oid(lc));
		}
	}
}

/*
 * Object-access hook: note constraints as they are created (and altered,
 * where ALTER CONSTRAINT can enforce a key), for ddl_command_end.  The row
 * is not visible yet, so only its OID is kept.
 */
static void
guard_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (classId != ConstraintRelationId || IsBinaryUpgrade)
		return;
	if (access == OAT_POST_CREATE)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		created_constraints = lappend_oid(created_constraints, objectId);
		MemoryContextSwitchTo(oldcxt);
	}
	else if (access == OAT_POST_ALTER && COMPAT_ALTER_CAN_ENFORCE)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		altered_constraints = list_append_unique_oid(altered_constraints, objectId);
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * The lists live in TopTransactionContext: forget them with it.
 */
static void
guard_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
	{
		created_constraints = NIL;
		altered_constraints = NIL;
		warned_keys = NIL;
	}
}

/*
 * A record rolled back with its subtransaction vouches for no copy: forget
 * them all (at worst, a key is recorded once more).
 */
static void
guard_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		warned_keys = NIL;
}

/*
 * Install the hook; called from _PG_init.
 */
void
ri_guard_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = guard_object_access;
	RegisterXactCallback(guard_xact_callback, NULL);
	RegisterSubXactCallback(guard_subxact_callback, NULL);
}
