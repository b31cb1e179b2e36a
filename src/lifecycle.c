/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *		Turning declared references into real foreign keys and back:
 *		ri_policy.promote(), ri_policy.demote() and ri_policy.demote_all().
 *
 * promote() adds the foreign key NOT VALID, then (if asked) runs
 * VALIDATE CONSTRAINT.  Done in the caller's transaction, the
 * ShareRowExclusiveLock that ADD FOREIGN KEY takes on both tables would last
 * through the whole validating scan and block every writer; so, like
 * CREATE INDEX CONCURRENTLY, promote() works in transactions of its own: a
 * background worker, connected as the caller, commits the NOT VALID key
 * (a brief lock, no scan) and then validates it under
 * ShareUpdateExclusiveLock, which lets writers through.  The caller waits
 * and reports the outcome.  It therefore cannot run inside a transaction
 * block, nor while the caller holds a lock on either table (the worker
 * would wait for it forever).  The policy applies as to any DDL: the
 * caller's ri_policy.mode is checked before anything happens (block: the
 * guard's error; warn: the worker records the key in the transaction that
 * adds it, and the caller emits the guard's WARNING once it exists).
 * Before PostgreSQL 18 a partitioned table takes no NOT VALID foreign key;
 * there the worker adds and validates the key in one statement.
 *
 * demote() drops an enforced foreign key and declares the same relationship
 * in one transaction, with everything pg_get_constraintdef() shows: name,
 * columns, match type, ON UPDATE and ON DELETE actions (with the columns
 * SET NULL / SET DEFAULT sets), deferrability, and NOT VALID.  promote()
 * gives all of it back; a key demoted while NOT VALID comes back NOT VALID
 * unless promote() is asked to validate it, so that promote(demote(k)) is
 * k, definition for definition.
 *
 * src/lifecycle.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinval.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "reference.h"
#include "ri_policy.h"

PG_FUNCTION_INFO_V1(ri_policy_promote);
PG_FUNCTION_INFO_V1(ri_policy_demote);
PG_FUNCTION_INFO_V1(ri_policy_demote_all);

PGDLLEXPORT void ri_policy_promote_worker(Datum main_arg);

/* What the caller asks of the worker, and what the worker reports back. */
typedef struct PromoteTask
{
	Oid			dbid;
	Oid			session_userid;	/* logs in (the current role may be NOLOGIN) */
	Oid			userid;			/* does the work */
	bool		validate;
	int			lock_timeout;	/* ms, the caller's */
	int64		id;				/* the reference's, and the key's after */
	Oid			child;
	char		name[NAMEDATALEN];
	char		add_sql[8192];
	char		validate_sql[1024];
	/* warn mode: the caller's record of the new key (guard.c) */
	bool		record_warned;
	char		detail[1024];
	char		session_role[NAMEDATALEN];
	char		effective_role[NAMEDATALEN];
	bool		has_statement;
	char		statement[RI_WARNED_STATEMENT_MAX + 1];
	/* out */
	int			stage;			/* PROMOTE_* reached */
	int			sqlerrcode;
	char		message[1024];
	char		errdetail[1024];
} PromoteTask;

#define PROMOTE_NONE		0
#define PROMOTE_ADDED		1
#define PROMOTE_VALIDATED	2

/*
 * The SQL spelling of a declared reference's ON DELETE or ON UPDATE action.
 */
static const char *
action_sql(const char *action)
{
	if (strcmp(action, "restrict") == 0)
		return "RESTRICT";
	if (strcmp(action, "cascade") == 0)
		return "CASCADE";
	if (strcmp(action, "set null") == 0)
		return "SET NULL";
	if (strcmp(action, "set default") == 0)
		return "SET DEFAULT";
	return "NO ACTION";
}

/* ... and of a pg_constraint action code */
static const char *
action_name(char code)
{
	switch (code)
	{
		case FKCONSTR_ACTION_RESTRICT:
			return "restrict";
		case FKCONSTR_ACTION_CASCADE:
			return "cascade";
		case FKCONSTR_ACTION_SETNULL:
			return "set null";
		case FKCONSTR_ACTION_SETDEFAULT:
			return "set default";
		default:
			return "no action";
	}
}

/*
 * ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ... [NOT VALID] for a
 * declared reference: everything a foreign key has, in the order
 * pg_get_constraintdef() writes it.
 */
static void
append_add_constraint(StringInfo buf, RiReference *ref, bool not_valid)
{
	appendStringInfo(buf, "ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (",
					 ri_qualified_name(ref->child), quote_identifier(ref->name));
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(buf, "%s%s", i ? ", " : "",
						 quote_identifier(ref->child_columns[i]));
	appendStringInfo(buf, ") REFERENCES %s (", ri_qualified_name(ref->parent));
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(buf, "%s%s", i ? ", " : "",
						 quote_identifier(ref->parent_columns[i]));
	appendStringInfo(buf, ") MATCH %s ON UPDATE %s ON DELETE %s",
					 ref->match_full ? "FULL" : "SIMPLE",
					 action_sql(ref->on_update), action_sql(ref->on_delete));
	if (ref->n_delete_set > 0)
	{
		appendStringInfoString(buf, " (");
		for (int i = 0; i < ref->n_delete_set; i++)
			appendStringInfo(buf, "%s%s", i ? ", " : "",
							 quote_identifier(ref->child_columns[ref->delete_set[i]]));
		appendStringInfoChar(buf, ')');
	}
	if (ref->is_deferrable)
		appendStringInfoString(buf, " DEFERRABLE");
	if (ref->initially_deferred)
		appendStringInfoString(buf, " INITIALLY DEFERRED");
	if (not_valid)
		appendStringInfoString(buf, " NOT VALID");
}

/* Does this backend hold any lock on the relation? */
static bool
holds_any_lock(Oid relid)
{
	LOCKTAG		tag;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	for (LOCKMODE mode = AccessShareLock; mode <= AccessExclusiveLock; mode++)
	{
		if (compat_lock_held_by_me(&tag, mode))
			return true;
	}
	return false;
}

/*
 * promote(reference text, validate boolean) returns void
 */
Datum
ri_policy_promote(PG_FUNCTION_ARGS)
{
	char	   *name;
	bool		validate;
	RiReference *ref;
	StringInfoData buf;
	dsm_segment *seg;
	PromoteTask *task;
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	Oid			conoid;
	bool		one_step;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reference must not be null")));

	if (IsTransactionBlock() && !IsSubTransaction())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("ri_policy.promote() cannot run inside a transaction block"),
				 errdetail("It commits the new foreign key before validating it, so that writers are not blocked during the scan.")));

	ref = ri_resolve_reference(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	name = ref->name;
	if (OidIsValid(ref->conoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is already a foreign key constraint", name)));
	ri_require_child_owner(ref);
	/* NULL: as recorded (a key demoted while NOT VALID comes back so) */
	validate = PG_ARGISNULL(1) ? !ref->not_valid : PG_GETARG_BOOL(1);
	if (strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("reference name \"%s\" is too long for a constraint name", name)));

	/*
	 * The worker will wait for its locks; if this transaction held one on
	 * either table, neither could go on.
	 */
	if (holds_any_lock(ref->child) || holds_any_lock(ref->parent))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("ri_policy.promote() cannot run while this transaction holds a lock on table \"%s\" or \"%s\"",
						get_rel_name(ref->child), get_rel_name(ref->parent))));

	/* the policy applies as to any DDL, before anything is done */
	ri_guard_check_create(ref->child, name, ref->parent);

	/*
	 * Before 18, PostgreSQL adds no NOT VALID foreign key to a partitioned
	 * table: there the key is added and validated in one statement.
	 */
	one_step = (get_rel_relkind(ref->child) == RELKIND_PARTITIONED_TABLE &&
				!COMPAT_NOT_VALID_FK_ON_PARTITIONED);
	if (one_step && !validate)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot promote reference \"%s\" without validating it", name),
				 errdetail("PostgreSQL cannot add a NOT VALID foreign key to partitioned table \"%s\".",
						   get_rel_name(ref->child))));

	initStringInfo(&buf);
	append_add_constraint(&buf, ref, !one_step);
	if (buf.len >= sizeof(task->add_sql))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("reference \"%s\" has too long a definition to promote", name)));

	seg = dsm_create(sizeof(PromoteTask), 0);
	task = dsm_segment_address(seg);
	memset(task, 0, sizeof(PromoteTask));
	task->dbid = MyDatabaseId;
	task->session_userid = GetSessionUserId();
	/* as the child's owner: no code of theirs runs with the caller's rights */
	task->userid = ri_rel_owner(ref->child);
	task->validate = validate && !one_step;
	task->lock_timeout = LockTimeout;
	task->id = ref->id;
	task->child = ref->child;
	strlcpy(task->name, name, sizeof(task->name));
	/* warn mode: the worker records the key as the guard would, for us */
	if (ri_policy_mode == RI_POLICY_WARN && !IsBinaryUpgrade)
	{
		char	   *statement = ri_guard_statement();

		task->record_warned = true;
		strlcpy(task->detail, ri_guard_policy_detail(), sizeof(task->detail));
		strlcpy(task->session_role, GetUserNameFromId(GetSessionUserId(), false),
				sizeof(task->session_role));
		strlcpy(task->effective_role, GetUserNameFromId(GetUserId(), false),
				sizeof(task->effective_role));
		task->has_statement = (statement != NULL);
		if (statement != NULL)
			strlcpy(task->statement, statement, sizeof(task->statement));
	}
	strlcpy(task->add_sql, buf.data, sizeof(task->add_sql));
	snprintf(task->validate_sql, sizeof(task->validate_sql),
			 "ALTER TABLE %s VALIDATE CONSTRAINT %s",
			 ri_qualified_name(ref->child), quote_identifier(name));

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "ri_policy");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ri_policy_promote_worker");
	snprintf(worker.bgw_name, BGW_MAXLEN, "ri_policy promote %s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "ri_policy promote");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a background worker to promote \"%s\"", name),
				 errhint("Raise max_worker_processes.")));
	/* a quick worker may have done its work and gone already (BGWH_STOPPED) */
	if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_POSTMASTER_DIED)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("postmaster exited while promoting \"%s\"", name)));

	/* if we are cancelled while waiting, so is the worker */
	PG_TRY();
	{
		(void) WaitForBackgroundWorkerShutdown(handle);
	}
	PG_CATCH();
	{
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (task->stage == PROMOTE_NONE && task->message[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not promote reference \"%s\": its background worker exited early",
						name),
				 errhint("See the server log.")));
	if (task->stage == PROMOTE_NONE)
		ereport(ERROR,
				(errcode(task->sqlerrcode ? task->sqlerrcode : ERRCODE_INTERNAL_ERROR),
				 errmsg("could not promote reference \"%s\": %s", name, task->message),
				 task->errdetail[0] ? errdetail("%s", task->errdetail) : 0));

	/* the new key is committed: make it visible to this transaction */
	AcceptInvalidationMessages();
	conoid = get_relation_constraint_oid(ref->child, name, true);
	if (OidIsValid(conoid))
		ri_guard_report_created(conoid);

	if (task->stage == PROMOTE_ADDED && task->validate)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("foreign key constraint \"%s\" was added NOT VALID, but could not be validated", name),
				 task->errdetail[0] ?
				 errdetail("VALIDATE CONSTRAINT found an orphan: %s", task->errdetail) :
				 errdetail("VALIDATE CONSTRAINT failed: %s.", task->message),
				 errhint("Find every orphan with CALL ri_policy.validate(%s), repair them, then run ALTER TABLE ... VALIDATE CONSTRAINT.",
						 quote_literal_cstr(ri_reference_address(ref)))));
	dsm_detach(seg);
	PG_RETURN_VOID();
}

/* Record an error in the task for the caller. */
static void
report_error(PromoteTask *task)
{
	ErrorData  *edata;

	edata = CopyErrorData();
	FlushErrorState();
	task->sqlerrcode = edata->sqlerrcode;
	strlcpy(task->message, edata->message ? edata->message : "", sizeof(task->message));
	strlcpy(task->errdetail, edata->detail ? edata->detail : "", sizeof(task->errdetail));
	FreeErrorData(edata);
}

/*
 * Run one statement in a transaction of its own; false on error.  With
 * forget_reference, the declared reference becomes the new foreign key
 * first: its id (with its results and progress) moves to the key, and its
 * tracking ends.  First, so that the guard does not see a declared
 * reference of the key's name.
 */
static bool
run_in_transaction(PromoteTask *task, const char *sql, bool forget_reference)
{
	bool		ok = true;
	Oid			save_userid;
	int			save_sec_context;
	MemoryContext oldcxt = CurrentMemoryContext;

	StartTransactionCommand();
	/* as the caller; a security context may only be set in a transaction */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(task->userid, SECURITY_LOCAL_USERID_CHANGE);
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		SPI_connect();
		if (forget_reference)
		{
			Datum		arg = Int64GetDatum(task->id);
			Oid			argtype = INT8OID;

			RiReference *ref = ri_load_reference_id(task->id);

			ri_untrack(ref);
			ri_forget_foreign_key(ref->child, ref->name);
			(void) ri_exec_as_owner(NULL,
									"WITH r AS (DELETE FROM ri_policy._reference WHERE id = $1"
									"           RETURNING id, child, name),"
									" c AS (DELETE FROM ri_policy._changed WHERE reference = $1),"
									" s AS (DELETE FROM ri_policy._sentinel WHERE reference = $1)"
									" INSERT INTO ri_policy._foreign_key (id, child, name)"
									" SELECT id, child, name::pg_catalog.name FROM r",
									1, &argtype, &arg, NULL, false);
			CommandCounterIncrement();
		}
		if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not run \"%s\"", sql);
		if (forget_reference && task->record_warned)
			ri_guard_record_warned(get_relation_constraint_oid(task->child,
															   task->name, false),
								   task->detail, task->session_role,
								   task->effective_role,
								   task->has_statement ? task->statement : NULL);
		SPI_finish();
		PopActiveSnapshot();
		SetUserIdAndSecContext(save_userid, save_sec_context);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		/* CopyErrorData() copies out of ErrorContext, not into it */
		MemoryContextSwitchTo(oldcxt);
		report_error(task);
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * The background worker of promote(): connected as the caller, add the key
 * NOT VALID and commit, then validate it and commit.
 */
void
ri_policy_promote_worker(Datum main_arg)
{
	dsm_segment *seg;
	PromoteTask *task;
	char		timeout[32];

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the promote task")));
	task = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(task->dbid, task->session_userid, 0);

	/* the caller has applied the policy already */
	SetConfigOption("ri_policy.mode", "allow", PGC_SUSET, PGC_S_OVERRIDE);
	snprintf(timeout, sizeof(timeout), "%d", task->lock_timeout);
	SetConfigOption("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION);

	pgstat_report_activity(STATE_RUNNING, task->add_sql);
	if (run_in_transaction(task, task->add_sql, true))
	{
		task->stage = PROMOTE_ADDED;
		if (task->validate)
		{
			pgstat_report_activity(STATE_RUNNING, task->validate_sql);
			if (run_in_transaction(task, task->validate_sql, false))
				task->stage = PROMOTE_VALIDATED;
		}
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}

/* A name[] of the given attributes of a relation */
static Datum
attname_array(Oid relid, const int16 *attnums, int n)
{
	Datum	   *names = palloc(n * sizeof(Datum));

	for (int i = 0; i < n; i++)
		names[i] = DirectFunctionCall1(namein,
									   CStringGetDatum(get_attname(relid, attnums[i], false)));
	return PointerGetDatum(construct_array(names, n, NAMEOID, NAMEDATALEN,
										   false, TYPALIGN_CHAR));
}

/*
 * Demote one foreign key: drop it and declare the same relationship, in the
 * current transaction, with everything promote() needs to give back the
 * same key: columns, match type, both actions (and the columns ON DELETE
 * SET NULL / SET DEFAULT sets), deferrability, and whether it was
 * NOT VALID.  Returns the reference's name.
 */
static char *
demote_constraint(Oid conoid)
{
	HeapTuple	tup;
	Form_pg_constraint con;
	char	   *name;
	Oid			child;
	Oid			parent;
	StringInfoData sql;
	Datum		args[12];
	char		nulls[12];
	Oid			argtypes[12] = {REGCLASSOID, NAMEARRAYOID, REGCLASSOID, NAMEARRAYOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, BOOLOID, NAMEARRAYOID,
	BOOLOID};
	Datum		datum;
	bool		isnull;
	ArrayType  *arr;
	MemoryContext oldcxt = CurrentMemoryContext;
	RangeVar   *childrv;
	RangeVar   *parentrv;

	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	con = (Form_pg_constraint) GETSTRUCT(tup);
	ri_refuse_temporal_key(con);
	name = pstrdup(NameStr(con->conname));
	child = con->conrelid;
	parent = con->confrelid;

	/* the arguments of declare_reference(), in its order */
	memset(nulls, ' ', sizeof(nulls));
	args[0] = ObjectIdGetDatum(child);
	datum = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conkey, &isnull);
	arr = DatumGetArrayTypeP(datum);
	args[1] = attname_array(child, (int16 *) ARR_DATA_PTR(arr), ARR_DIMS(arr)[0]);
	args[2] = ObjectIdGetDatum(parent);
	datum = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_confkey, &isnull);
	arr = DatumGetArrayTypeP(datum);
	args[3] = attname_array(parent, (int16 *) ARR_DATA_PTR(arr), ARR_DIMS(arr)[0]);
	args[4] = CStringGetTextDatum(name);
	args[5] = CStringGetTextDatum(con->confmatchtype == FKCONSTR_MATCH_FULL ?
								  "full" : "simple");
	args[6] = CStringGetTextDatum(action_name(con->confdeltype));
	args[7] = CStringGetTextDatum(action_name(con->confupdtype));
	args[8] = BoolGetDatum(con->condeferrable);
	args[9] = BoolGetDatum(con->condeferred);
	datum = compat_confdelsetcols(tup, &isnull);
	if (isnull)
	{
		args[10] = (Datum) 0;
		nulls[10] = 'n';
	}
	else
	{
		arr = DatumGetArrayTypeP(datum);
		args[10] = attname_array(child, (int16 *) ARR_DATA_PTR(arr),
								 ARR_DIMS(arr)[0]);
	}
	args[11] = BoolGetDatum(!con->convalidated);
	ReleaseSysCache(tup);

	if (!compat_class_ownercheck(child, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(get_rel_relkind(child)),
					   get_rel_name(child));

	childrv = makeRangeVar(get_namespace_name(get_rel_namespace(child)),
						   get_rel_name(child), -1);
	parentrv = makeRangeVar(get_namespace_name(get_rel_namespace(parent)),
							get_rel_name(parent), -1);
	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s DROP CONSTRAINT %s",
					 ri_qualified_name(child), quote_identifier(name));
	SPI_connect();
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not run \"%s\"", sql.data);

	/*
	 * Citus turns a Citus local table that no foreign key ties to a
	 * reference table any more back into a plain one: a new table, under
	 * the same name.
	 */
	args[0] = ObjectIdGetDatum(RangeVarGetRelid(childrv, NoLock, false));
	args[2] = ObjectIdGetDatum(RangeVarGetRelid(parentrv, NoLock, false));

	/* the same relationship, declared; names go in as parameters */
	if (SPI_execute_with_args("SELECT ri_policy.declare_reference($1, $2, $3, $4, $5,"
							  " $6, $7, $8, $9, $10, $11, $12)",
							  12, argtypes, args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not declare reference \"%s\"", name);
	SPI_finish();
	MemoryContextSwitchTo(oldcxt);
	return name;
}

/*
 * demote(child regclass, constraint_name name) returns text
 */
Datum
ri_policy_demote(PG_FUNCTION_ARGS)
{
	Oid			child;
	char	   *conname;
	Oid			conoid;
	HeapTuple	tup;
	bool		is_fk = false;
	int			nestlevel;
	char	   *name;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(0) ? "child" : "constraint_name")));
	child = PG_GETARG_OID(0);
	conname = NameStr(*PG_GETARG_NAME(1));
	if (get_rel_relkind(child) == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", child)));

	conoid = get_relation_constraint_oid(child, conname, true);
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		is_fk = (con->contype == CONSTRAINT_FOREIGN);
		if (is_fk && OidIsValid(con->conparentid))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("foreign key constraint \"%s\" of table \"%s\" is inherited from a partitioned table",
							conname, get_rel_name(child)),
					 errhint("Demote the constraint of the partitioned table.")));
		ReleaseSysCache(tup);
	}
	if (!OidIsValid(conoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("constraint \"%s\" of relation \"%s\" does not exist",
						conname, get_rel_name(child))));
	if (!is_fk)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("constraint \"%s\" of relation \"%s\" is not a foreign key",
						conname, get_rel_name(child))));

	nestlevel = ri_own_settings_begin();
	name = demote_constraint(conoid);
	ri_own_settings_end(nestlevel);
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * demote_all(schema_name name) returns setof text: demote every foreign key
 * of the schema's tables (NULL: of the whole database) whose table the
 * caller owns.
 */
Datum
ri_policy_demote_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			nsp = InvalidOid;
	List	   *conoids = NIL;
	ListCell   *lc;
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	MemoryContext oldcxt;
	int			nestlevel;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!PG_ARGISNULL(0))
		nsp = get_namespace_oid(NameStr(*PG_GETARG_NAME(0)), false);

	nestlevel = ri_own_settings_begin();
	SPI_connect();
	{
		Datum		arg = ObjectIdGetDatum(nsp);
		Oid			argtype = OIDOID;

		if (SPI_execute_with_args("SELECT c.oid FROM pg_catalog.pg_constraint c"
								  "  JOIN pg_catalog.pg_class r ON r.oid = c.conrelid"
								  " WHERE c.contype = 'f' AND c.conparentid = 0"
								  "   AND ($1 = 0 OR r.relnamespace = $1)"
								  "   AND r.relnamespace <> 'pg_catalog'::regnamespace"
								  "   AND NOT pg_catalog.pg_is_other_temp_schema(r.relnamespace)"
								  "   AND pg_catalog.pg_has_role(r.relowner, 'USAGE')"
								  " ORDER BY r.relnamespace, r.relname, c.conname",
								  1, &argtype, &arg, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not list foreign keys");
		oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			conoids = lappend_oid(conoids,
								  DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc,
																 1, &isnull)));
		}
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(tupdesc, 1, "demote_all", TEXTOID, -1, 0);
	tupdesc = BlessTupleDesc(tupdesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcxt);

	foreach(lc, conoids)
	{
		Datum		value = CStringGetTextDatum(demote_constraint(lfirst_oid(lc)));
		bool		isnull = false;

		tuplestore_putvalues(store, tupdesc, &value, &isnull);
	}
	ri_own_settings_end(nestlevel);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}
