/*-------------------------------------------------------------------------
 *
 * registry.c
 *		Declared references: declare_reference(), drop_reference(),
 *		rename_reference(), the upkeep that follows renames and drops, and
 *		finding and loading a reference (or a foreign key constraint) for
 *		the other parts.
 *
 * A declaration is checked like ALTER TABLE ... ADD FOREIGN KEY checks a
 * foreign key (ATAddForeignKeyConstraint in tablecmds.c): the parent columns
 * must carry a primary key, unique constraint or non-partial unique index,
 * and each column pair needs an equality operator from that index's btree
 * operator family, found the way core finds conpfeqop.  The operator is
 * recorded ("pinned"), so later validation never depends on search_path.
 * Declaring reads no data and takes only AccessShareLock on both tables.
 *
 * The registry table ri_policy._reference is written only here and only as
 * the extension's owner; callers are checked first (they must own the
 * child, as ALTER TABLE would require).
 *
 * Identity: every reference has an id, and everything that belongs to it
 * (results, progress, change log, tracking triggers, lock) is keyed by the
 * id, never by a name.  A declared reference's id is its registry row's; a
 * foreign key gets one in ri_policy._foreign_key, which names the key by
 * its table and name (an OID would change with a dump and restore or an
 * ALTER COLUMN TYPE rebuild), when it is first validated.  Names are
 * unique per child table, as constraint names are, and a reference is
 * addressed as [[schema.]table.]name (ri_resolve_reference()).
 *
 * src/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_am.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "citus.h"
#include "compare.h"
#include "compat.h"
#include "reference.h"

static bool pending_batch_exists(void);

PG_FUNCTION_INFO_V1(ri_policy_declare_reference);
PG_FUNCTION_INFO_V1(ri_policy_drop_reference);
PG_FUNCTION_INFO_V1(ri_policy_rename_reference);
PG_FUNCTION_INFO_V1(ri_policy_on_sql_drop);

/*
 * Switch the current user (and security context), remembering the old one.
 */
void
ri_become(Oid userid, int flags, RiUserState *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(userid, saved->sec_context | flags);
}

void
ri_restore(RiUserState *saved)
{
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/*
 * The settings of ri_policy's own SQL: search_path pinned to pg_catalog,
 * pg_temp, so that a caller's search_path cannot put its operators or
 * functions in the way; and no JIT compilation.  These statements are short
 * (a batch's keys), often planned with statistics from before the keys
 * they read were written, and their estimated costs passed jit_above_cost
 * at a few thousand keys: loading and compiling then took longer than the
 * statement (an incremental pass over 5,000 changed keys: 200 ms with JIT,
 * 120 ms without).  Returns the GUC nest level to pass to
 * ri_own_settings_end().
 */
int
ri_own_settings_begin(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	(void) set_config_option("jit", "off",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nestlevel;
}

void
ri_own_settings_end(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Re-throw an error caught with CopyErrorData(), which may live in a memory
 * context that is deleted before the error is reported (the error unwinds
 * through PG_FINALLY blocks that delete a pass's context, say).
 * ReThrowError() copies the error's messages into ErrorContext, which lives
 * until the error has been reported, but not where it was raised: the
 * source file, function and message domains, which CopyErrorData() of
 * current releases copies too (they may point into JIT code).  Left in the
 * deleted context, they were read when the error went to the client (its F
 * and R fields), and the backend crashed whenever that memory had gone
 * back to the operating system.  So copy them into ErrorContext as well.
 */
void
ri_rethrow(ErrorData *edata)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(ErrorContext);

	if (edata->filename)
		edata->filename = pstrdup(edata->filename);
	if (edata->funcname)
		edata->funcname = pstrdup(edata->funcname);
	if (edata->domain)
		edata->domain = pstrdup(edata->domain);
	if (edata->context_domain)
		edata->context_domain = pstrdup(edata->context_domain);
	MemoryContextSwitchTo(oldcxt);
	ReThrowError(edata);
}

/*
 * The owner of the ri_policy extension: its internal tables are written as
 * this role, with fixed, schema-qualified SQL only.
 */
Oid
ri_extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("ri_policy"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "extension \"ri_policy\" is not installed");
	owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * A read-only SPI query runs on the active snapshot, and a procedure that
 * has committed has none until it takes one (SPI does not, before 14).
 * Push one if need be; returns whether it did.
 */
static bool
push_snapshot(void)
{
	if (ActiveSnapshotSet())
		return false;
	PushActiveSnapshot(GetTransactionSnapshot());
	return true;
}

/*
 * Run fixed SQL on ri_policy's own tables as the extension owner, with
 * search_path pinned, keeping the caller's memory context (SPI leaves its
 * own).  With "plan", the statement is prepared the first time and reused.
 * The caller has connected to SPI.
 */
int
ri_exec_as_owner(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
				 Datum *values, const char *nulls, bool read_only)
{
	return ri_exec_as_owner_opts(plan, 0, sql, nargs, argtypes, values, nulls,
								 read_only);
}

/*
 * The same, the plan prepared with these cursor options: with
 * CURSOR_OPT_CUSTOM_PLAN, a kept statement is planned for each call's
 * values and the tables' sizes then, so that a plan made while a table was
 * empty does not scan it whole once it has grown.
 */
int
ri_exec_as_owner_opts(SPIPlanPtr *plan, int cursor_options, const char *sql,
					  int nargs, Oid *argtypes, Datum *values,
					  const char *nulls, bool read_only)
{
	RiUserState saved;
	int			rc;
	int			nestlevel;
	MemoryContext oldcxt = CurrentMemoryContext;
	bool		snapshot = read_only && push_snapshot();

	ri_become(ri_extension_owner(), SECURITY_LOCAL_USERID_CHANGE, &saved);
	nestlevel = ri_own_settings_begin();
	if (plan != NULL)
	{
		if (*plan == NULL)
		{
			*plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);
			if (*plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			SPI_keepplan(*plan);
		}
		rc = SPI_execute_plan(*plan, values, nulls, read_only, 0);
	}
	else
		rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
								   read_only, 0);
	MemoryContextSwitchTo(oldcxt);
	ri_own_settings_end(nestlevel);
	ri_restore(&saved);
	if (snapshot)
		PopActiveSnapshot();
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	return rc;
}


static int
exec_as_owner(const char *sql, int nargs, Oid *argtypes, Datum *values,
			  const char *nulls, bool read_only);

/*
 * Forget the pieces of unfinished parallel passes (ri_policy._progress_share,
 * 0.7) of references and foreign keys that are gone.  The table is tiny; it
 * is absent while ALTER EXTENSION UPDATE runs the scripts before 0.7.
 */
static void
forget_pieces(void)
{
	Oid			nsp = get_namespace_oid("ri_policy", true);

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("_progress_share", nsp)))
		return;
	exec_as_owner("DELETE FROM ri_policy._progress_share s"
				  " WHERE NOT EXISTS (SELECT 1 FROM ri_policy._reference r WHERE r.id = s.reference)"
				  "   AND NOT EXISTS (SELECT 1 FROM ri_policy._foreign_key f WHERE f.id = s.reference)",
				  0, NULL, NULL, NULL, false);
}

static int
exec_as_owner(const char *sql, int nargs, Oid *argtypes, Datum *values,
			  const char *nulls, bool read_only)
{
	return ri_exec_as_owner(NULL, sql, nargs, argtypes, values, nulls, read_only);
}

/* Error out on a NULL argument. */
static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
}

/*
 * The relation must be a table (plain or partitioned), permanent or
 * unlogged, and not a system catalog.
 */
static void
check_table(Oid relid, const char *role)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s \"%s\" is not a table", role, get_rel_name(relid))));
	if (IsCatalogRelationOid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: \"%s\" is a system catalog",
						get_rel_name(relid))));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot declare a reference on temporary table \"%s\"",
						get_rel_name(relid))));
}

/*
 * Turn a name[] argument into column numbers, checking that each column
 * exists, appears once, and that there are between 1 and INDEX_MAX_KEYS.
 */
static int
resolve_columns(Oid relid, ArrayType *arr, const char *argname,
				char **names, AttrNumber *attnums)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argname)));
	deconstruct_array(arr, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must name at least one column", argname)));
	if (n > INDEX_MAX_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_COLUMNS),
				 errmsg("cannot have more than %d keys in a reference",
						INDEX_MAX_KEYS)));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", argname)));
		names[i] = pstrdup(NameStr(*DatumGetName(elems[i])));
		attnums[i] = get_attnum(relid, names[i]);
		if (attnums[i] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							names[i], get_rel_name(relid))));
		if (attnums[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("system column \"%s\" cannot be part of a reference",
							names[i])));
		for (int j = 0; j < i; j++)
		{
			if (attnums[j] == attnums[i])
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" appears twice in a reference",
								names[i])));
		}
	}
	return n;
}

/*
 * Find the primary key, or the unique index whose columns are exactly these
 * (in any order), of the parent.  Returns the index OID; fills the parent
 * columns from the primary key when nkeys is 0.  Like core, the index must
 * be valid, immediate, non-partial and without expressions.
 */
static Oid
find_parent_index(Relation parent, int *nkeys, char **names,
				  AttrNumber *attnums)
{
	List	   *indexes = RelationGetIndexList(parent);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		HeapTuple	tup;
		Form_pg_index ind;
		bool		match = false;

		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for index %u", lfirst_oid(lc));
		ind = (Form_pg_index) GETSTRUCT(tup);

		if (ind->indisunique && ind->indimmediate && ind->indisvalid &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL))
		{
			if (*nkeys == 0 && ind->indisprimary)
			{
				*nkeys = ind->indnkeyatts;
				for (int i = 0; i < *nkeys; i++)
				{
					attnums[i] = ind->indkey.values[i];
					names[i] = get_attname(RelationGetRelid(parent), attnums[i], false);
				}
				match = true;
			}
			else if (*nkeys > 0 && ind->indnkeyatts == *nkeys)
			{
				match = true;
				for (int i = 0; i < *nkeys && match; i++)
				{
					bool		present = false;

					for (int j = 0; j < *nkeys; j++)
						present |= (ind->indkey.values[j] == attnums[i]);
					match = present;
				}
			}
		}
		if (match)
			found = ind->indexrelid;
		ReleaseSysCache(tup);
		if (match)
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * The equality operator for one column pair, found as core finds a foreign
 * key's conpfeqop (ATAddForeignKeyConstraint): a member of the parent
 * index's btree operator family taking the child type on the right, or the
 * family's own operator when the child type coerces implicitly.
 */
static Oid
find_eq_operator(Oid indexoid, int indexcol, Oid pktype, Oid fktype,
				 const char *refname, const char *fkcol, const char *pkcol)
{
	HeapTuple	tup;
	Form_pg_opclass cla;
	Oid			opfamily;
	Oid			opcintype;
	Oid			amid;
	Oid			fktyped = getBaseType(fktype);
	Oid			ppeqop;
	Oid			pfeqop;
	Oid			ffeqop = InvalidOid;
	Oid			opclass;
	bool		isnull;
	Datum		datum;
	oidvector  *indclass;

	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	datum = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indclass, &isnull);
	indclass = (oidvector *) DatumGetPointer(datum);
	opclass = indclass->values[indexcol];
	ReleaseSysCache(tup);

	tup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclass));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for opclass %u", opclass);
	cla = (Form_pg_opclass) GETSTRUCT(tup);
	amid = cla->opcmethod;
	opfamily = cla->opcfamily;
	opcintype = cla->opcintype;
	ReleaseSysCache(tup);

	if (amid != BTREE_AM_OID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("only b-tree indexes are supported for references")));

	ppeqop = get_opfamily_member(opfamily, opcintype, opcintype,
								 BTEqualStrategyNumber);
	if (!OidIsValid(ppeqop))
		elog(ERROR, "missing operator %d(%u,%u) in opfamily %u",
			 BTEqualStrategyNumber, opcintype, opcintype, opfamily);

	pfeqop = get_opfamily_member(opfamily, opcintype, fktyped,
								 BTEqualStrategyNumber);
	if (OidIsValid(pfeqop))
		ffeqop = get_opfamily_member(opfamily, fktyped, fktyped,
									 BTEqualStrategyNumber);
	if (!(OidIsValid(pfeqop) && OidIsValid(ffeqop)))
	{
		Oid			input_typeids[2] = {pktype, fktype};
		Oid			target_typeids[2] = {opcintype, opcintype};

		pfeqop = InvalidOid;
		if (can_coerce_type(2, input_typeids, target_typeids, COERCION_IMPLICIT))
			pfeqop = ppeqop;
	}
	if (!OidIsValid(pfeqop))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("reference \"%s\" cannot be implemented", refname),
				 errdetail("Key columns \"%s\" and \"%s\" are of incompatible types: %s and %s.",
						   fkcol, pkcol, format_type_be(fktype),
						   format_type_be(pktype))));
	return pfeqop;
}

/*
 * The equality operators of all column pairs, for the columns' types as
 * they are now, from the parent's unique index on its key columns.
 */
static void
find_eq_operators(Oid indexoid, Oid child, char **child_names,
				  AttrNumber *child_attnums, Oid parent, char **parent_names,
				  AttrNumber *parent_attnums, int nkeys, const char *name,
				  Oid *operators)
{
	for (int i = 0; i < nkeys; i++)
	{
		int			indexcol = -1;
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index ind;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for index %u", indexoid);
		ind = (Form_pg_index) GETSTRUCT(tup);
		for (int j = 0; j < ind->indnkeyatts; j++)
		{
			if (ind->indkey.values[j] == parent_attnums[i])
				indexcol = j;
		}
		ReleaseSysCache(tup);
		operators[i] = find_eq_operator(indexoid, indexcol,
										get_atttype(parent, parent_attnums[i]),
										get_atttype(child, child_attnums[i]),
										name, child_names[i], parent_names[i]);
	}
}

/*
 * A declared reference's operators found again, as declare_reference()
 * finds them, for its columns' types as they are now: after ALTER COLUMN
 * ... TYPE of a key column, as PostgreSQL finds a foreign key's again when
 * it rebuilds it (follow.c).  The parent's unique index on the key columns
 * is found again too (the ALTER rebuilt it).  Raises declare_reference()'s
 * errors when there is none, or no operator for a pair.
 */
void
ri_reference_operators(RiReference *ref, Oid *operators)
{
	Relation	parentrel = table_open(ref->parent, AccessShareLock);
	AttrNumber	child_attnums[INDEX_MAX_KEYS];
	AttrNumber	parent_attnums[INDEX_MAX_KEYS];
	char	   *names[INDEX_MAX_KEYS];
	int			nkeys = ref->nkeys;
	Oid			indexoid;

	for (int i = 0; i < ref->nkeys; i++)
	{
		child_attnums[i] = get_attnum(ref->child, ref->child_columns[i]);
		parent_attnums[i] = get_attnum(ref->parent, ref->parent_columns[i]);
		names[i] = ref->parent_columns[i];
	}
	indexoid = find_parent_index(parentrel, &nkeys, names, parent_attnums);
	if (!OidIsValid(indexoid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 errmsg("there is no unique constraint matching given keys for referenced table \"%s\"",
						RelationGetRelationName(parentrel))));
	find_eq_operators(indexoid, ref->child, ref->child_columns, child_attnums,
					  ref->parent, ref->parent_columns, parent_attnums,
					  ref->nkeys, ref->name, operators);
	table_close(parentrel, NoLock);
}

/*
 * The caller needs REFERENCES on the parent, or on each of its key columns,
 * as for a foreign key (checkFkeyPermissions in tablecmds.c).
 */
static void
check_references_privilege(Oid parent, int nkeys, AttrNumber *attnums)
{
	Oid			roleid = GetUserId();

	if (pg_class_aclcheck(parent, roleid, ACL_REFERENCES) == ACLCHECK_OK)
		return;
	for (int i = 0; i < nkeys; i++)
	{
		AclResult	aclresult = pg_attribute_aclcheck(parent, attnums[i], roleid,
													  ACL_REFERENCES);

		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult,
						   get_relkind_objtype(get_rel_relkind(parent)),
						   get_rel_name(parent));
	}
}

/*
 * Can validation compare these keys, and may it (compare.c)?  Key types it
 * cannot handle, and comparisons that would run functions of someone other
 * than a superuser or the owner of both tables, are refused here rather
 * than at every validation.
 */
static void
check_comparison(const char *name, Oid child, char **child_names,
				 AttrNumber *child_attnums, Oid parent, char **parent_names,
				 AttrNumber *parent_attnums, int nkeys, Oid *operators)
{
	RiReference ref = {0};

	ref.name = (char *) name;
	ref.child = child;
	ref.parent = parent;
	ref.nkeys = nkeys;
	for (int i = 0; i < nkeys; i++)
	{
		ref.child_columns[i] = child_names[i];
		ref.parent_columns[i] = parent_names[i];
		ref.child_types[i] = get_atttype(child, child_attnums[i]);
		ref.parent_types[i] = get_atttype(parent, parent_attnums[i]);
		ref.eq_operators[i] = operators[i];
	}
	ri_check_comparison(&ref);
}

/*
 * Lower-case a text argument and check it against the allowed values.
 */
static char *
check_choice(text *arg, const char *argname, const char *const *choices,
			 const char *hint)
{
	char	   *value = asc_tolower(VARDATA_ANY(arg), VARSIZE_ANY_EXHDR(arg));

	for (int i = 0; choices[i] != NULL; i++)
	{
		if (strcmp(value, choices[i]) == 0)
			return value;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s \"%s\"", argname, text_to_cstring(arg)),
			 errhint("%s", hint)));
	return NULL;				/* keep compiler quiet */
}

/*
 * A reference's name must differ from the names of its child's constraints,
 * which promote() would otherwise collide with (and ri_policy.references
 * would list twice).  Constraints being created by transactions still in
 * progress count too (a dirty snapshot): see declare_reference().
 */
static void
check_name_free(Oid child, const char *name)
{
	Relation	rel;
	ScanKeyData keys[3];
	SysScanDesc scan;
	SnapshotData dirty;
	bool		taken;

	if (strlen(name) >= NAMEDATALEN)
		return;					/* no constraint can have it */
	InitDirtySnapshot(dirty);
	rel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_constraint_conrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(child));
	ScanKeyInit(&keys[1], Anum_pg_constraint_contypid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(InvalidOid));
	ScanKeyInit(&keys[2], Anum_pg_constraint_conname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(name));
	scan = systable_beginscan(rel, ConstraintRelidTypidNameIndexId, true,
							  &dirty, 3, keys);
	taken = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (taken)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("constraint \"%s\" of relation \"%s\" already exists",
						name, get_rel_name(child)),
				 errhint("A reference's name must differ from the names of its child table's constraints.")));
}

/*
 * The columns that ON DELETE SET NULL / SET DEFAULT (columns) sets: each one
 * of the child columns, as PostgreSQL requires of a foreign key's list
 * (validateFkOnDeleteSetColumns in tablecmds.c), a repeated one kept once,
 * as PostgreSQL keeps it.  Returns how many, and their 1-based positions in
 * the child columns: recorded by position, the list needs no upkeep when a
 * column is renamed.
 */
static int
resolve_set_columns(Oid child, ArrayType *arr, int nkeys,
					AttrNumber *child_attnums, int16 *positions)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			nset = 0;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("on_delete_columns must be a one-dimensional array")));
	deconstruct_array(arr, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_delete_columns must name at least one column"),
				 errhint("Pass NULL to set every reference column.")));
	if (n > INDEX_MAX_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_COLUMNS),
				 errmsg("cannot have more than %d keys in a reference",
						INDEX_MAX_KEYS)));
	for (int i = 0; i < n; i++)
	{
		char	   *colname;
		AttrNumber	attnum;
		int			pos = 0;
		bool		seen = false;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("on_delete_columns must not contain nulls")));
		colname = NameStr(*DatumGetName(elems[i]));
		attnum = get_attnum(child, colname);
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							colname, get_rel_name(child))));
		for (int j = 0; j < nkeys; j++)
		{
			if (child_attnums[j] == attnum)
				pos = j + 1;
		}
		if (pos == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("column \"%s\" referenced in ON DELETE SET action must be part of the reference",
							colname)));
		for (int j = 0; j < nset; j++)
		{
			if (positions[j] == pos)
				seen = true;
		}
		if (!seen)
			positions[nset++] = pos;
	}
	return nset;
}

/*
 * declare_reference(child, child_columns, parent, parent_columns, name,
 *					 match, on_delete, on_update, is_deferrable,
 *					 initially_deferred, on_delete_columns, not_valid)
 *	returns text
 *
 * The arguments after on_delete record the rest of what a foreign key has,
 * so that promote() gives back the key that demote() took away.  Called
 * through an older signature (objects not updated yet), it refuses before
 * reading them.
 */
Datum
ri_policy_declare_reference(PG_FUNCTION_ARGS)
{
	static const char *const match_choices[] = {"simple", "full", NULL};
	static const char *const action_choices[] = {"no action", "restrict",
	"cascade", "set null", "set default", NULL};
	static const char *const action_hint =
		"Valid actions are \"no action\", \"restrict\", \"cascade\", \"set null\" and \"set default\".";
	Oid			child;
	Oid			parent;
	char	   *child_names[INDEX_MAX_KEYS];
	char	   *parent_names[INDEX_MAX_KEYS];
	AttrNumber	child_attnums[INDEX_MAX_KEYS];
	AttrNumber	parent_attnums[INDEX_MAX_KEYS];
	Oid			operators[INDEX_MAX_KEYS];
	int			nkeys;
	int			npkeys = 0;
	char	   *name;
	char	   *match;
	char	   *on_delete;
	char	   *on_update;
	bool		is_deferrable;
	bool		initially_deferred;
	bool		not_valid;
	int16		set_positions[INDEX_MAX_KEYS];
	int			nset = 0;
	Relation	childrel;
	Relation	parentrel;
	Oid			indexoid;
	StringInfoData buf;
	Datum		values[13];
	char		nulls[13];
	Oid			argtypes[13] = {TEXTOID, REGCLASSOID, NAMEARRAYOID, REGCLASSOID,
		NAMEARRAYOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID,
	BOOLOID, INT2ARRAYOID, BOOLOID};
	Datum	   *namedatums;

	ri_require_current_objects();
	if (PG_NARGS() < 12)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"ri_policy\" must be updated to the version of its library"),
				 errhint("Run ALTER EXTENSION ri_policy UPDATE.")));
	require_arg(fcinfo, 0, "child");
	require_arg(fcinfo, 1, "child_columns");
	require_arg(fcinfo, 2, "parent");
	require_arg(fcinfo, 5, "match");
	require_arg(fcinfo, 6, "on_delete");
	require_arg(fcinfo, 7, "on_update");
	require_arg(fcinfo, 8, "is_deferrable");
	require_arg(fcinfo, 9, "initially_deferred");
	require_arg(fcinfo, 11, "not_valid");
	child = PG_GETARG_OID(0);
	parent = PG_GETARG_OID(2);
	match = check_choice(PG_GETARG_TEXT_PP(5), "match type", match_choices,
						 "Valid match types are \"simple\" and \"full\".");
	on_delete = check_choice(PG_GETARG_TEXT_PP(6), "on_delete action",
							 action_choices, action_hint);
	on_update = check_choice(PG_GETARG_TEXT_PP(7), "on_update action",
							 action_choices, action_hint);
	is_deferrable = PG_GETARG_BOOL(8);
	initially_deferred = PG_GETARG_BOOL(9);
	not_valid = PG_GETARG_BOOL(11);
	if (initially_deferred && !is_deferrable)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a reference that is initially deferred must be deferrable"),
				 errhint("Pass is_deferrable => true.")));
	if (!PG_ARGISNULL(10) && !COMPAT_HAS_DELETE_SET_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("on_delete_columns needs PostgreSQL 15 or later")));
	if (!PG_ARGISNULL(10) && strcmp(on_delete, "set null") != 0 &&
		strcmp(on_delete, "set default") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_delete_columns is only supported with on_delete \"set null\" or \"set default\"")));

	/* AccessShareLock: declaring must not block readers or writers */
	check_table(child, "child");
	check_table(parent, "parent");
	childrel = table_open(child, AccessShareLock);
	parentrel = table_open(parent, AccessShareLock);

	if (!compat_class_ownercheck(child, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(childrel->rd_rel->relkind),
					   RelationGetRelationName(childrel));

	nkeys = resolve_columns(child, PG_GETARG_ARRAYTYPE_P(1), "child_columns",
							child_names, child_attnums);
	if (!PG_ARGISNULL(10))
		nset = resolve_set_columns(child, PG_GETARG_ARRAYTYPE_P(10), nkeys,
								   child_attnums, set_positions);
	if (!PG_ARGISNULL(3))
		npkeys = resolve_columns(parent, PG_GETARG_ARRAYTYPE_P(3),
								 "parent_columns", parent_names, parent_attnums);

	/* the name: given, or <child>_<col>[_<col>...]_ref */
	if (!PG_ARGISNULL(4))
	{
		name = text_to_cstring(PG_GETARG_TEXT_PP(4));
		if (name[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("reference name must not be empty")));
		if (strlen(name) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("reference name \"%s\" is too long", name),
					 errdetail("A reference's name, like a constraint's, has at most %d bytes.",
							   NAMEDATALEN - 1)));
	}
	else
	{
		initStringInfo(&buf);
		appendStringInfoString(&buf, RelationGetRelationName(childrel));
		for (int i = 0; i < nkeys; i++)
			appendStringInfo(&buf, "_%s", child_names[i]);
		appendStringInfoString(&buf, "_ref");
		name = buf.data;
	}

	indexoid = find_parent_index(parentrel, &npkeys, parent_names, parent_attnums);
	if (npkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 errmsg("there is no primary key for referenced table \"%s\"",
						RelationGetRelationName(parentrel))));
	if (npkeys != nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 errmsg("number of referencing and referenced columns for reference \"%s\" disagree",
						name)));
	if (!OidIsValid(indexoid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FOREIGN_KEY),
				 errmsg("there is no unique constraint matching given keys for referenced table \"%s\"",
						RelationGetRelationName(parentrel))));

	find_eq_operators(indexoid, child, child_names, child_attnums, parent,
					  parent_names, parent_attnums, nkeys, name, operators);

	check_references_privilege(parent, nkeys, parent_attnums);
	check_comparison(name, child, child_names, child_attnums, parent,
					 parent_names, parent_attnums, nkeys, operators);

	/* record it */
	SPI_connect();
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(child);
	namedatums = palloc(nkeys * sizeof(Datum));
	for (int i = 0; i < nkeys; i++)
		namedatums[i] = DirectFunctionCall1(namein, CStringGetDatum(child_names[i]));
	values[2] = PointerGetDatum(construct_array(namedatums, nkeys, NAMEOID,
												NAMEDATALEN, false, TYPALIGN_CHAR));
	values[3] = ObjectIdGetDatum(parent);
	for (int i = 0; i < nkeys; i++)
		namedatums[i] = DirectFunctionCall1(namein, CStringGetDatum(parent_names[i]));
	values[4] = PointerGetDatum(construct_array(namedatums, nkeys, NAMEOID,
												NAMEDATALEN, false, TYPALIGN_CHAR));
	values[5] = ri_operator_names(operators, nkeys);
	values[6] = CStringGetTextDatum(match);
	values[7] = CStringGetTextDatum(on_delete);
	values[8] = CStringGetTextDatum(on_update);
	values[9] = BoolGetDatum(is_deferrable);
	values[10] = BoolGetDatum(initially_deferred);
	memset(nulls, ' ', sizeof(nulls));
	if (nset > 0)
	{
		Datum	   *posdatums = palloc(nset * sizeof(Datum));

		for (int i = 0; i < nset; i++)
			posdatums[i] = Int16GetDatum(set_positions[i]);
		values[11] = PointerGetDatum(construct_array(posdatums, nset, INT2OID,
													 sizeof(int16), true,
													 TYPALIGN_SHORT));
	}
	else
	{
		values[11] = (Datum) 0;
		nulls[11] = 'n';
	}
	values[12] = BoolGetDatum(not_valid);

	/*
	 * Insert, then check the child's constraints: a concurrent ADD
	 * CONSTRAINT of the same name checks the registry after creating its
	 * key (ri_reference_name_taken()), so one of the two sees the other.
	 */
	exec_as_owner("INSERT INTO ri_policy._reference (name, child, child_columns,"
				  " parent, parent_columns, eq_operators, match, on_delete,"
				  " on_update, is_deferrable, initially_deferred,"
				  " on_delete_columns, not_valid)"
				  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
				  " ON CONFLICT (child, name) DO NOTHING RETURNING id",
				  13, argtypes, values, nulls, false);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("reference \"%s\" of table \"%s\" already exists",
						name, RelationGetRelationName(childrel))));
	check_name_free(child, name);
	SPI_finish();

	table_close(parentrel, NoLock);
	table_close(childrel, NoLock);

	PG_RETURN_TEXT_P(cstring_to_text(name));
}


/*
 * drop_reference(reference)
 */
Datum
ri_policy_drop_reference(PG_FUNCTION_ARGS)
{
	RiReference *ref;
	Datum		id;
	Oid			argtype = INT8OID;

	require_arg(fcinfo, 0, "name");
	ri_require_current_objects();
	ref = ri_resolve_reference(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (OidIsValid(ref->conoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a foreign key constraint, not a declared reference",
						ref->name),
				 errhint("Use ALTER TABLE ... DROP CONSTRAINT.")));
	ri_require_child_owner(ref);

	/*
	 * Wait for a validation or repair of the reference under way (its lock,
	 * until the end of this transaction): one that went on after the drop
	 * would record results for a reference that no longer exists.
	 */
	{
		LOCKTAG		tag;

		ri_reference_locktag(&tag, ref->id);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}

	SPI_connect();
	id = Int64GetDatum(ref->id);
	/* lock the row first: a concurrent drop or rename waits */
	exec_as_owner("SELECT 1 FROM ri_policy._reference WHERE id = $1 FOR UPDATE",
				  1, &argtype, &id, NULL, false);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reference \"%s\" does not exist", ref->name)));
	ri_untrack(ref);
	exec_as_owner(psprintf("WITH r AS (DELETE FROM ri_policy._reference WHERE id = $1),"
						   " v AS (DELETE FROM ri_policy._violation WHERE reference = $1),"
						   " p AS (DELETE FROM ri_policy._pending WHERE reference = $1),%s"
						   " c AS (DELETE FROM ri_policy._changed WHERE reference = $1),"
						   " s AS (DELETE FROM ri_policy._sentinel WHERE reference = $1)"
						   " DELETE FROM ri_policy._progress WHERE reference = $1",
						   pending_batch_exists() ?
						   " b AS (DELETE FROM ri_policy._pending_batch WHERE reference = $1)," :
						   ""),
				  1, &argtype, &id, NULL, false);
	forget_pieces();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * rename_reference(reference, new_name): everything that belongs to the
 * reference (results, progress, tracking) belongs to its id, and stays.
 */
Datum
ri_policy_rename_reference(PG_FUNCTION_ARGS)
{
	RiReference *ref;
	char	   *new_name;
	Datum		args[2];
	Oid			argtypes[2] = {INT8OID, TEXTOID};

	require_arg(fcinfo, 0, "reference");
	require_arg(fcinfo, 1, "new_name");
	ri_require_current_objects();
	ref = ri_resolve_reference(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	new_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (OidIsValid(ref->conoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a foreign key constraint, not a declared reference",
						ref->name),
				 errhint("Use ALTER TABLE ... RENAME CONSTRAINT.")));
	ri_require_child_owner(ref);
	if (new_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reference name must not be empty")));
	if (strlen(new_name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("reference name \"%s\" is too long", new_name),
				 errdetail("A reference's name, like a constraint's, has at most %d bytes.",
						   NAMEDATALEN - 1)));

	SPI_connect();
	args[0] = Int64GetDatum(ref->id);
	args[1] = CStringGetTextDatum(new_name);
	exec_as_owner("SELECT 1 FROM ri_policy._reference r"
				  " WHERE r.child = (SELECT child FROM ri_policy._reference WHERE id = $1)"
				  "   AND r.name = $2 AND r.id <> $1",
				  2, argtypes, args, NULL, false);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("reference \"%s\" of table \"%s\" already exists",
						new_name, get_rel_name(ref->child))));
	exec_as_owner("UPDATE ri_policy._reference SET name = $2 WHERE id = $1",
				  2, argtypes, args, NULL, false);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reference \"%s\" does not exist", ref->name)));
	check_name_free(ref->child, new_name);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Could the registry or the results hold anything?  A cheap test that lets
 * ordinary DROP statements skip the sql_drop work while nothing was ever
 * declared or validated.
 */
static bool
registry_has_rows(void)
{
	Oid			nsp = get_namespace_oid("ri_policy", false);
	const char *tables[] = {"_reference", "_foreign_key", "_progress"};

	for (int i = 0; i < lengthof(tables); i++)
	{
		Relation	rel = table_open(get_relname_relid(tables[i], nsp), AccessShareLock);
		BlockNumber nblocks = RelationGetNumberOfBlocks(rel);

		table_close(rel, AccessShareLock);
		if (nblocks > 0)
			return true;
	}
	return false;
}

/*
 * sql_drop: forget the references of dropped tables and columns, saying so
 * with a NOTICE each, and the ids (with their results) of dropped foreign
 * keys.  A foreign key is the one its registry row names by table and
 * name; a DROP reports it by the same address.  (ALTER COLUMN TYPE
 * re-creates a foreign key with its name, and does not report it.)
 */
Datum
ri_policy_on_sql_drop(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						"ri_policy_on_sql_drop")));
	/* older objects are for ALTER EXTENSION UPDATE to tidy up */
	if (!ri_registry_exists() || !ri_objects_current() || !registry_has_rows())
		PG_RETURN_VOID();

	SPI_connect();
	/* a table that Citus replaces by a new one keeps its references */
	ri_citus_follow_conversion();
	exec_as_owner(psprintf("WITH d AS ("
						   "  SELECT objid, objsubid, object_type, address_names"
						   "    FROM pg_catalog.pg_event_trigger_dropped_objects()"
						   "   WHERE object_type IN ('table', 'table column', 'table constraint')),"
						   " gone AS ("
						   "  DELETE FROM ri_policy._reference r USING d"
						   "   WHERE (d.object_type = 'table'"
						   "          AND d.objid IN (r.child::pg_catalog.oid, r.parent::pg_catalog.oid))"
						   "      OR (d.object_type = 'table column' AND r.child::pg_catalog.oid = d.objid"
						   "          AND d.address_names[3] = ANY (r.child_columns))"
						   "      OR (d.object_type = 'table column' AND r.parent::pg_catalog.oid = d.objid"
						   "          AND d.address_names[3] = ANY (r.parent_columns))"
						   "  RETURNING r.id, r.name, r.child::pg_catalog.oid AS child,"
						   "            r.parent::pg_catalog.oid AS parent),"
						   " fk AS ("
						   "  DELETE FROM ri_policy._foreign_key f USING d"
						   "   WHERE (d.object_type = 'table' AND d.objid = f.child::pg_catalog.oid)"
						   "      OR (d.object_type = 'table constraint'"
						   "          AND d.address_names[3] = f.name"
						   "          AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
						   "                        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
						   "                       WHERE c.oid = f.child::pg_catalog.oid"
						   "                         AND n.nspname = d.address_names[1]"
						   "                         AND c.relname = d.address_names[2]))"
						   "  RETURNING f.id),"
						   " ids AS (SELECT id FROM gone UNION SELECT id FROM fk),"
						   " v AS (DELETE FROM ri_policy._violation x USING ids"
						   "        WHERE x.reference = ids.id),"
						   " p AS (DELETE FROM ri_policy._pending x USING ids"
						   "        WHERE x.reference = ids.id),"
						   "%s"
						   " s AS (DELETE FROM ri_policy._sentinel x USING ids"
						   "        WHERE x.reference = ids.id),"
						   " q AS (DELETE FROM ri_policy._progress x USING ids"
						   "        WHERE x.reference = ids.id)"
						   " SELECT DISTINCT id, name, child, parent FROM gone ORDER BY 2, 1",
						   pending_batch_exists() ?
						   " b AS (DELETE FROM ri_policy._pending_batch x USING ids"
						   "        WHERE x.reference = ids.id)," : ""),
				  0, NULL, NULL, NULL, false);
	{
		SPITupleTable *gone = SPI_tuptable;
		uint64		ngone = SPI_processed;

		for (uint64 i = 0; i < ngone; i++)
		{
			RiReference ref = {0};
			bool		isnull;
			Datum		arg;
			Oid			argtype = INT8OID;

			ref.id = DatumGetInt64(SPI_getbinval(gone->vals[i], gone->tupdesc, 1, &isnull));
			ref.name = SPI_getvalue(gone->vals[i], gone->tupdesc, 2);
			ref.child = DatumGetObjectId(SPI_getbinval(gone->vals[i], gone->tupdesc, 3, &isnull));
			ref.parent = DatumGetObjectId(SPI_getbinval(gone->vals[i], gone->tupdesc, 4, &isnull));
			/* the tracking triggers left on the table that remains */
			ri_untrack(&ref);
			/* its recorded changes: the log is partitioned by id */
			arg = Int64GetDatum(ref.id);
			exec_as_owner("DELETE FROM ri_policy._changed WHERE reference = $1",
						  1, &argtype, &arg, NULL, false);
			ereport(NOTICE,
					(errmsg("drop cascades to reference \"%s\"", ref.name)));
		}
		forget_pieces();
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Does the registry exist?  Not while the extension is being dropped, nor
 * in an installation still at version 0.1.
 */
bool
ri_registry_exists(void)
{
	Oid			nsp = get_namespace_oid("ri_policy", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("_reference", nsp));
}

/*
 * Does ri_policy._pending_batch exist (0.9)?  Not while ALTER EXTENSION
 * UPDATE runs the scripts before 0.9, which may drop references.
 */
static bool
pending_batch_exists(void)
{
	Oid			nsp = get_namespace_oid("ri_policy", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("_pending_batch", nsp));
}

/*
 * Are the extension's objects those of this library's version (0.6, which
 * keeps the pinned operators by name)?  Not between the installation of a
 * new library and ALTER EXTENSION UPDATE.  While an update runs, its
 * scripts before 0.6 use the library on 0.5's objects, which differ only
 * in the type of eq_operators (read as regoperator[] either way, and not
 * written by those scripts).
 */
bool
ri_objects_current(void)
{
	Oid			nsp = get_namespace_oid("ri_policy", true);
	Oid			registry;

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("_foreign_key", nsp)))
		return false;
	/*
	 * 0.7: where the pieces of a parallel pass resume (parallel.c); 0.9: the
	 * orphans that batches append (results.c)
	 */
	if ((!OidIsValid(get_relname_relid("_progress_share", nsp)) ||
		 !OidIsValid(get_relname_relid("_pending_batch", nsp))) &&
		!(creating_extension &&
		  CurrentExtensionObject == get_extension_oid("ri_policy", true)))
		return false;
	registry = get_relname_relid("_reference", nsp);
	if (!OidIsValid(registry))
		return false;
	if (creating_extension &&
		CurrentExtensionObject == get_extension_oid("ri_policy", true))
		return true;
	return get_atttype(registry, get_attnum(registry, "eq_operators")) == TEXTARRAYOID;
}

/*
 * The pinned equality operators, as ri_policy._reference.eq_operators keeps
 * them: each by its schema-qualified name and argument types, as
 * pg_identify_object() names it, which reads back (::regoperator) as the
 * same operator whatever the search_path.  Not by OID: pg_upgrade keeps
 * the OIDs of tables and types but not of operators, and refuses a
 * database with regoperator columns.
 */
Datum
ri_operator_names(const Oid *operators, int n)
{
	Datum	   *names = palloc(n * sizeof(Datum));

	for (int i = 0; i < n; i++)
		names[i] = CStringGetTextDatum(format_operator_qualified(operators[i]));
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/* ... and refuse to work on older ones. */
void
ri_require_current_objects(void)
{
	if (!ri_objects_current())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"ri_policy\" must be updated to the version of its library"),
				 errhint("Run ALTER EXTENSION ri_policy UPDATE.")));
}

/*
 * After ALTER TABLE ... RENAME COLUMN: rename the column in the references
 * of that table and of the tables that inherited the rename, and in the
 * keys of their results.
 */
static void
follow_column_rename(RenameStmt *stmt, Oid relid)
{
	List	   *rels;
	ListCell   *lc;
	Datum	   *oids;
	int			n = 0;
	Datum		values[3];
	Oid			argtypes[3] = {OIDARRAYOID, NAMEOID, NAMEOID};
	bool		current = ri_objects_current();

	rels = find_all_inheritors(relid, NoLock, NULL);
	oids = palloc(list_length(rels) * sizeof(Datum));
	foreach(lc, rels)
		oids[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid),
												true, TYPALIGN_INT));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(stmt->subname));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(stmt->newname));

	SPI_connect();
	exec_as_owner("UPDATE ri_policy._reference"
				  "   SET child_columns = CASE WHEN child::oid = ANY ($1)"
				  "         THEN pg_catalog.array_replace(child_columns, $2, $3)"
				  "         ELSE child_columns END,"
				  "       parent_columns = CASE WHEN parent::oid = ANY ($1)"
				  "         THEN pg_catalog.array_replace(parent_columns, $2, $3)"
				  "         ELSE parent_columns END"
				  " WHERE child::oid = ANY ($1) OR parent::oid = ANY ($1)",
				  3, argtypes, values, NULL, false);
	/* older objects: ALTER EXTENSION UPDATE re-creates the triggers */
	if (!current)
	{
		SPI_finish();
		return;
	}
	exec_as_owner("SELECT id FROM ri_policy._reference"
				  " WHERE (child::oid = ANY ($1) OR parent::oid = ANY ($1))"
				  "   AND tracked_since IS NOT NULL"
				  "   AND ($3 = ANY (child_columns) OR $3 = ANY (parent_columns))",
				  3, argtypes, values, NULL, false);

	/* tracked references whose key column it was: their triggers name it */
	{
		SPITupleTable *tracked = SPI_tuptable;
		uint64		ntracked = SPI_processed;

		/*
		 * Recorded keys are objects keyed by the child's column names: those
		 * of declared references and of foreign keys on that column.
		 */
		exec_as_owner(psprintf("WITH r AS (SELECT id FROM ri_policy._reference"
							   "            WHERE child::oid = ANY ($1) AND $3 = ANY (child_columns)"
							   "           UNION ALL"
							   "           SELECT f.id FROM ri_policy._foreign_key f"
							   "             JOIN pg_catalog.pg_constraint c"
							   "               ON c.conrelid = f.child::pg_catalog.oid AND c.conname = f.name"
							   "            WHERE f.child::oid = ANY ($1) AND c.contype = 'f'"
							   "              AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
							   "                           WHERE a.attrelid = c.conrelid"
							   "                             AND a.attnum = ANY (c.conkey)"
							   "                             AND a.attname = $3)),"
							   " p AS (UPDATE ri_policy._pending x"
							   "        SET key = (x.key - $2::text)"
							   "                  || pg_catalog.jsonb_build_object($3::text, x.key -> $2::text)"
							   "       FROM r WHERE x.reference = r.id AND x.key ? $2::text)%s"
							   " UPDATE ri_policy._violation x"
							   "    SET key = (x.key - $2::text)"
							   "              || pg_catalog.jsonb_build_object($3::text, x.key -> $2::text)"
							   "   FROM r WHERE x.reference = r.id AND x.key ? $2::text",
							   pending_batch_exists() ?
							   ", b AS (UPDATE ri_policy._pending_batch x"
							   "        SET keys = ARRAY(SELECT CASE WHEN k ? $2::text"
							   "                                     THEN (k - $2::text)"
							   "                                          || pg_catalog.jsonb_build_object($3::text, k -> $2::text)"
							   "                                     ELSE k END"
							   "                           FROM pg_catalog.unnest(x.keys) WITH ORDINALITY AS u(k, i)"
							   "                          ORDER BY i)"
							   "       FROM r WHERE x.reference = r.id)" : ""),
					  3, argtypes, values, NULL, false);

		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		for (uint64 i = 0; i < ntracked; i++)
		{
			bool		isnull;
			RiReference *ref;

			ref = ri_load_reference_id(DatumGetInt64(SPI_getbinval(tracked->vals[i],
																   tracked->tupdesc,
																   1, &isnull)));
			foreach(lc, rels)
			{
				if (lfirst_oid(lc) == ref->child || lfirst_oid(lc) == ref->parent)
					ri_retrack_table(ref, lfirst_oid(lc));
			}
		}
		PopActiveSnapshot();
	}
	SPI_finish();
}

/*
 * After ALTER TABLE ... RENAME CONSTRAINT: a foreign key's id stays with
 * it; and no constraint may take the name of a declared reference of its
 * table.
 */
static void
follow_constraint_rename(RenameStmt *stmt, Oid relid)
{
	Datum		values[3];
	Oid			argtypes[3] = {OIDOID, NAMEOID, NAMEOID};

	if (ri_reference_name_taken(relid, stmt->newname))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("reference \"%s\" of table \"%s\" already exists",
						stmt->newname, get_rel_name(relid)),
				 errhint("A constraint's name must differ from the names of its table's declared references.")));
	/* no key had the new name: a row of it is left from one not followed */
	ri_forget_foreign_key(relid, stmt->newname);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(stmt->subname));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(stmt->newname));
	SPI_connect();
	exec_as_owner("UPDATE ri_policy._foreign_key SET name = $3"
				  " WHERE child::pg_catalog.oid = $1 AND name = $2",
				  3, argtypes, values, NULL, false);
	SPI_finish();
}

/*
 * Forget the id of the foreign key "name" of table "child", with its
 * results: before another key takes that name, the row is a leftover (of a
 * rename or drop made while event triggers were off), and the new key must
 * not inherit it.
 */
void
ri_forget_foreign_key(Oid child, const char *name)
{
	Datum		values[2];
	Oid			argtypes[2] = {OIDOID, NAMEOID};

	values[0] = ObjectIdGetDatum(child);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(name));
	SPI_connect();
	exec_as_owner(psprintf("WITH f AS (DELETE FROM ri_policy._foreign_key"
						   "            WHERE child::pg_catalog.oid = $1 AND name = $2 RETURNING id),"
						   " v AS (DELETE FROM ri_policy._violation x USING f WHERE x.reference = f.id),%s"
						   " p AS (DELETE FROM ri_policy._pending x USING f WHERE x.reference = f.id)"
						   " DELETE FROM ri_policy._progress x USING f WHERE x.reference = f.id",
						   pending_batch_exists() ?
						   " b AS (DELETE FROM ri_policy._pending_batch x USING f"
						   "        WHERE x.reference = f.id)," : ""),
				  2, argtypes, values, NULL, false);
	forget_pieces();
	SPI_finish();
}

/*
 * Called at ddl_command_end for ALTER TABLE ... RENAME: follow the renames
 * of columns and constraints.
 */
void
ri_follow_rename(Node *parsetree)
{
	RenameStmt *stmt = (RenameStmt *) parsetree;
	Oid			relid;

	if (!IsA(parsetree, RenameStmt) || stmt->relation == NULL ||
		(stmt->renameType != OBJECT_COLUMN &&
		 stmt->renameType != OBJECT_TABCONSTRAINT))
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	if (stmt->renameType == OBJECT_COLUMN)
		follow_column_rename(stmt, relid);
	else if (ri_objects_current())
		follow_constraint_rename(stmt, relid);
}

/*
 * The declared references whose child table the caller owns, in name order
 * (what validate() and repair() do when given no reference).
 */
List *
ri_owned_references(void)
{
	List	   *ids = NIL;
	List	   *refs = NIL;
	ListCell   *lc;
	MemoryContext oldcxt = CurrentMemoryContext;

	SPI_connect();
	exec_as_owner("SELECT id FROM ri_policy._reference ORDER BY name, id",
				  0, NULL, NULL, NULL, false);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext spicxt = MemoryContextSwitchTo(oldcxt);
		int64	   *idp = palloc(sizeof(int64));

		*idp = id;
		ids = lappend(ids, idp);
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();

	foreach(lc, ids)
	{
		RiReference *ref = ri_load_reference_id(*(int64 *) lfirst(lc));

		if (compat_class_ownercheck(ref->child, GetUserId()))
			refs = lappend(refs, ref);
	}
	return refs;
}

/*
 * Changing a reference, or its results, requires owning its child table,
 * as ALTER TABLE would.
 */
void
ri_require_child_owner(RiReference *ref)
{
	if (!compat_class_ownercheck(ref->child, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(get_rel_relkind(ref->child)),
					   get_rel_name(ref->child));
}

/*
 * Fill in column types and collations, checking that the tables and the
 * columns still exist (with the types the pinned operators were chosen
 * for).
 */
static void
complete_reference(RiReference *ref)
{
	if (get_rel_relkind(ref->child) == '\0' ||
		get_rel_relkind(ref->parent) == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("a table of reference \"%s\" no longer exists", ref->name)));
	for (int i = 0; i < ref->nkeys; i++)
	{
		AttrNumber	cattnum = get_attnum(ref->child, ref->child_columns[i]);
		AttrNumber	pattnum = get_attnum(ref->parent, ref->parent_columns[i]);
		int32		typmod;

		if (cattnum <= 0 || pattnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("a column of reference \"%s\" no longer exists",
							ref->name)));
		ref->child_types[i] = get_atttype(ref->child, cattnum);
		get_atttypetypmodcoll(ref->parent, pattnum, &ref->parent_types[i],
							  &typmod, &ref->parent_collations[i]);
	}
	ref->only_parent = (get_rel_relkind(ref->parent) != RELKIND_PARTITIONED_TABLE);
}

/* The columns of ri_policy._reference that load_declared() reads */
#define DECLARED_COLUMNS \
	"id, name, child, child_columns, parent, parent_columns," \
	" eq_operators::pg_catalog.regoperator[]," \
	" match, on_delete, on_update, is_deferrable, initially_deferred," \
	" on_delete_columns, not_valid"

/*
 * A declared reference from its registry row, read by SPI (in the
 * caller's memory context).
 */
static RiReference *
load_declared(HeapTuple tup, TupleDesc desc, MemoryContext cxt)
{
	RiReference *ref;
	Datum	   *cols;
	Datum	   *pcols;
	Datum	   *ops;
	Datum		datum;
	int			n;
	bool		isnull;
	MemoryContext spicxt = MemoryContextSwitchTo(cxt);

	ref = palloc0(sizeof(RiReference));
	ref->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	ref->name = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
	ref->child = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	ref->parent = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull)),
					  NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &cols, NULL, &n);
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 6, &isnull)),
					  NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &pcols, NULL, &n);
	/* regoperator[] (ri_operator_names()), whose elements are OIDs */
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 7, &isnull)),
					  REGOPERATOROID, sizeof(Oid), true, TYPALIGN_INT,
					  &ops, NULL, &n);
	ref->nkeys = n;
	for (int i = 0; i < n; i++)
	{
		ref->child_columns[i] = pstrdup(NameStr(*DatumGetName(cols[i])));
		ref->parent_columns[i] = pstrdup(NameStr(*DatumGetName(pcols[i])));
		ref->eq_operators[i] = DatumGetObjectId(ops[i]);
	}
	ref->match_full = strcmp(TextDatumGetCString(SPI_getbinval(tup, desc, 8, &isnull)),
							 "full") == 0;
	ref->on_delete = TextDatumGetCString(SPI_getbinval(tup, desc, 9, &isnull));
	ref->on_update = TextDatumGetCString(SPI_getbinval(tup, desc, 10, &isnull));
	ref->is_deferrable = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
	ref->initially_deferred = DatumGetBool(SPI_getbinval(tup, desc, 12, &isnull));
	datum = SPI_getbinval(tup, desc, 13, &isnull);
	if (!isnull)
	{
		Datum	   *pos;

		deconstruct_array(DatumGetArrayTypeP(datum), INT2OID, sizeof(int16),
						  true, TYPALIGN_SHORT, &pos, NULL, &ref->n_delete_set);
		for (int i = 0; i < ref->n_delete_set; i++)
			ref->delete_set[i] = DatumGetInt16(pos[i]) - 1;
	}
	ref->not_valid = DatumGetBool(SPI_getbinval(tup, desc, 14, &isnull));
	MemoryContextSwitchTo(spicxt);
	return ref;
}

/*
 * Refuse a temporal foreign key (PERIOD, 18+): each of its rows must have its
 * period covered by the referenced rows' periods, which comparing keys for
 * equality, as references do, cannot check.
 */
void
ri_refuse_temporal_key(const FormData_pg_constraint *con)
{
	if (compat_conperiod(con))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("temporal foreign key \"%s\" of table \"%s\" is not supported",
						NameStr(con->conname), get_rel_name(con->conrelid)),
				 errdetail("Its rows must have their periods covered by the referenced rows; references compare keys for equality only.")));
}

/*
 * A foreign key constraint as a reference, with the given id (0: none yet).
 */
static RiReference *
load_foreign_key(Oid conoid, int64 id)
{
	RiReference *ref = palloc0(sizeof(RiReference));
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	Form_pg_constraint con;
	Datum		datum;
	bool		isnull;
	ArrayType  *arr;
	int16	   *conkey;
	int16	   *confkey;
	Oid		   *pfeqop;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	con = (Form_pg_constraint) GETSTRUCT(tup);
	ri_refuse_temporal_key(con);
	ref->id = id;
	ref->conoid = conoid;
	ref->name = pstrdup(NameStr(con->conname));
	ref->child = con->conrelid;
	ref->parent = con->confrelid;
	ref->match_full = (con->confmatchtype == FKCONSTR_MATCH_FULL);
	switch (con->confdeltype)
	{
		case FKCONSTR_ACTION_CASCADE:
			ref->on_delete = "cascade";
			break;
		case FKCONSTR_ACTION_SETNULL:
			ref->on_delete = "set null";
			break;
		case FKCONSTR_ACTION_SETDEFAULT:
			ref->on_delete = "set default";
			break;
		case FKCONSTR_ACTION_RESTRICT:
			ref->on_delete = "restrict";
			break;
		default:
			ref->on_delete = "no action";
			break;
	}
	/* int2[] and oid[], read as core reads them (ri_triggers.c) */
	datum = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conkey, &isnull);
	arr = DatumGetArrayTypeP(datum);
	ref->nkeys = ARR_DIMS(arr)[0];
	conkey = (int16 *) ARR_DATA_PTR(arr);
	datum = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_confkey, &isnull);
	confkey = (int16 *) ARR_DATA_PTR(DatumGetArrayTypeP(datum));
	datum = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conpfeqop, &isnull);
	pfeqop = (Oid *) ARR_DATA_PTR(DatumGetArrayTypeP(datum));
	for (int i = 0; i < ref->nkeys; i++)
	{
		ref->child_columns[i] = get_attname(ref->child, conkey[i], false);
		ref->parent_columns[i] = get_attname(ref->parent, confkey[i], false);
		ref->eq_operators[i] = pfeqop[i];
	}
	ReleaseSysCache(tup);
	/* a foreign key covers the rows of its own table (or its partitions) */
	ref->only_child = (get_rel_relkind(ref->child) != RELKIND_PARTITIONED_TABLE);
	complete_reference(ref);
	return ref;
}

/*
 * The top-level foreign key of that name on that table, or InvalidOid.
 */
static Oid
foreign_key_oid(Oid child, const char *name)
{
	Oid			conoid = get_relation_constraint_oid(child, name, true);
	HeapTuple	tup;
	bool		ok = false;

	if (!OidIsValid(conoid))
		return InvalidOid;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		ok = con->contype == CONSTRAINT_FOREIGN && !OidIsValid(con->conparentid);
		ReleaseSysCache(tup);
	}
	return ok ? conoid : InvalidOid;
}

/*
 * Load a reference by its id: a declared reference, or the foreign key that
 * the id's registry row names.
 */
RiReference *
ri_load_reference_id(int64 id)
{
	MemoryContext cxt = CurrentMemoryContext;
	RiReference *ref = NULL;
	Datum		arg = Int64GetDatum(id);
	Oid			argtype = INT8OID;
	Oid			child = InvalidOid;
	char	   *name = NULL;

	ri_require_current_objects();
	SPI_connect();
	exec_as_owner("SELECT " DECLARED_COLUMNS " FROM ri_policy._reference WHERE id = $1",
				  1, &argtype, &arg, NULL, false);
	if (SPI_processed == 1)
		ref = load_declared(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, cxt);
	else
	{
		exec_as_owner("SELECT child, name FROM ri_policy._foreign_key WHERE id = $1",
					  1, &argtype, &arg, NULL, false);
		if (SPI_processed == 1)
		{
			bool		isnull;

			child = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
			name = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 2));
		}
	}
	SPI_finish();

	if (ref != NULL)
		complete_reference(ref);
	else if (name != NULL && OidIsValid(foreign_key_oid(child, name)))
		ref = load_foreign_key(foreign_key_oid(child, name), id);
	else
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reference %lld no longer exists", (long long) id)));
	return ref;
}

/*
 * Split an address, [[schema.]table.]name, by PostgreSQL's rules for
 * qualified names (SplitIdentifierString(): double quotes, case folding).
 * Returns the number of parts, or 0 if the text is not a list of
 * identifiers.
 */
static int
split_address(const char *address, char **parts)
{
	char	   *raw = pstrdup(address);
	List	   *names;
	ListCell   *lc;
	int			n = 0;

	if (!SplitIdentifierString(raw, '.', &names) || names == NIL)
		return 0;
	if (list_length(names) > 3)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("improper qualified name (too many dotted names): %s", address),
				 errhint("A reference is named as name, table.name or schema.table.name.")));
	foreach(lc, names)
		parts[n++] = pstrdup(lfirst(lc));
	return n;
}

/*
 * The rows of ri_resolve_reference()'s two lookups: declared references
 * (their tables joined as each lookup needs), then foreign keys with their
 * id if they have one.
 */
#define REFERENCE_COLUMNS \
	"SELECT r.id, 0::pg_catalog.oid, r.child::pg_catalog.oid," \
	"       pg_catalog.quote_ident(n.nspname) || '.' ||" \
	"       pg_catalog.quote_ident(c.relname) || '.' || pg_catalog.quote_ident(r.name)" \
	"  FROM ri_policy._reference r"
#define FOREIGN_KEY_COLUMNS \
	"SELECT f.id, k.oid, k.conrelid," \
	"       pg_catalog.quote_ident(n.nspname) || '.' ||" \
	"       pg_catalog.quote_ident(c.relname) || '.' || pg_catalog.quote_ident(k.conname)" \
	"  FROM pg_catalog.pg_constraint k" \
	"  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid" \
	"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace" \
	"  LEFT JOIN ri_policy._foreign_key f" \
	"         ON f.child::pg_catalog.oid = k.conrelid AND f.name = k.conname"

/*
 * Find a reference by its address, as the functions that take a reference
 * do.
 *
 * "schema.table.name" and "table.name" name a reference of that table (the
 * table found as a regclass would be, along search_path): a reference's
 * name is unique among the declared references and constraints of its
 * child table.  A bare "name" is looked up in the whole database and must
 * be unique there, or the call fails with 42P08 and a hint naming the
 * qualified forms.  Identifiers follow PostgreSQL's rules (double quotes
 * keep case and special characters); a bare name also matches a reference
 * named exactly as written, as in 0.4 (but if both exist, that is
 * ambiguous too), and a text that is not an identifier at all is taken as
 * such a name.  Whatever the form, every reference it could mean is
 * considered: another role's reference can make a bare name ambiguous,
 * never make it mean something else.
 */
static SPIPlanPtr resolve_in_table = NULL;
static SPIPlanPtr resolve_anywhere = NULL;

RiReference *
ri_resolve_reference(const char *address)
{
	char	   *parts[3];
	int			nparts = split_address(address, parts);
	Oid			child = InvalidOid;
	Datum		args[3];
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	char		nulls[3] = {' ', ' ', 'n'};
	MemoryContext cxt = CurrentMemoryContext;
	RiReference *ref = NULL;
	int64		id = 0;
	Oid			conoid = InvalidOid;
	bool		isnull;
	uint64		n;

	ri_require_current_objects();
	if (nparts <= 1)
	{
		args[1] = CStringGetTextDatum(nparts == 1 ? parts[0] : address);
		if (nparts == 1 && strcmp(parts[0], address) != 0)
		{
			args[2] = CStringGetTextDatum(address);
			nulls[2] = ' ';
		}
	}
	else
	{
		RangeVar   *rv = makeRangeVar(nparts == 3 ? parts[0] : NULL,
									  parts[nparts - 2], -1);

		child = RangeVarGetRelid(rv, NoLock, true);
		if (!OidIsValid(child))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"%s\" does not exist",
							nparts == 3 ? quote_qualified_identifier(parts[0], parts[1]) :
							quote_identifier(parts[0]))));
		args[1] = CStringGetTextDatum(parts[nparts - 1]);
	}
	args[0] = ObjectIdGetDatum(child);

	/*
	 * Declared references, then foreign keys (with their id if they have
	 * one).  Two queries, so that each finds its rows through an index.
	 * Their plans are kept for the session (planning the second took about
	 * a millisecond, a third of an incremental pass with nothing to do);
	 * the plan cache plans them again when a table they read changes.
	 */
	SPI_connect();
	ri_exec_as_owner(OidIsValid(child) ? &resolve_in_table : &resolve_anywhere,
					 OidIsValid(child) ?
					 REFERENCE_COLUMNS
					 "  JOIN pg_catalog.pg_class c ON c.oid = r.child::pg_catalog.oid"
					 "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					 " WHERE r.child::pg_catalog.oid = $1 AND r.name IN ($2, $3)"
					 " UNION ALL "
					 FOREIGN_KEY_COLUMNS
					 " WHERE k.conrelid = $1 AND k.contype = 'f' AND k.conparentid = 0"
					 "   AND k.conname::pg_catalog.text IN ($2, $3)"
					 " ORDER BY 4" :
					 REFERENCE_COLUMNS
					 "  LEFT JOIN pg_catalog.pg_class c ON c.oid = r.child::pg_catalog.oid"
					 "  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					 " WHERE r.name IN ($2, $3)"
					 " UNION ALL "
					 FOREIGN_KEY_COLUMNS
					 " WHERE k.conname IN ($2::pg_catalog.name, $3::pg_catalog.name)"
					 "   AND k.conname::pg_catalog.text IN ($2, $3)"
					 "   AND k.contype = 'f' AND k.conparentid = 0"
					 " ORDER BY 4",
					 3, argtypes, args, nulls, false);
	n = SPI_processed;
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reference \"%s\" does not exist", address)));
	if (n > 1)
	{
		StringInfoData list;
		bool		one_table = true;

		initStringInfo(&list);
		for (uint64 i = 0; i < n; i++)
		{
			if (i > 0)
				appendStringInfoString(&list, ", ");
			if (i == 10)
			{
				appendStringInfoString(&list, "...");
				break;
			}
			appendStringInfoString(&list, SPI_getvalue(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 4));
			one_table &= (SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull) ==
						  SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		}
		/* possible only in a registry from before 0.5 */
		if (one_table)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
					 errmsg("reference name \"%s\" is ambiguous", address),
					 errdetail("Table %s has a declared reference and a foreign key constraint of that name.",
							   ri_qualified_name(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
																				SPI_tuptable->tupdesc,
																				3, &isnull)))),
					 errhint("Rename the constraint with ALTER TABLE ... RENAME CONSTRAINT.")));
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("reference name \"%s\" is ambiguous", address),
				 errdetail("%llu references have that name.", (unsigned long long) n),
				 errhint("Name one of them with its table: %s.", list.data)));
	}
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		id = 0;
	conoid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!OidIsValid(conoid))
	{
		Datum		arg = Int64GetDatum(id);
		Oid			argtype = INT8OID;

		exec_as_owner("SELECT " DECLARED_COLUMNS " FROM ri_policy._reference WHERE id = $1",
					  1, &argtype, &arg, NULL, false);
		if (SPI_processed != 1)
			elog(ERROR, "reference %lld vanished", (long long) id);
		ref = load_declared(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, cxt);
	}
	SPI_finish();

	if (ref != NULL)
		complete_reference(ref);
	else
		ref = load_foreign_key(conoid, id);
	return ref;
}

/*
 * A reference's address that no other reference shares:
 * schema.table.name, quoted as need be.
 */
char *
ri_reference_address(RiReference *ref)
{
	return psprintf("%s.%s", ri_qualified_name(ref->child), quote_identifier(ref->name));
}

/*
 * Give a foreign key an id, the first time it gets results: a row of
 * ri_policy._foreign_key naming it by table and name.
 */
void
ri_ensure_identity(RiReference *ref)
{
	Datum		args[2];
	Oid			argtypes[2] = {REGCLASSOID, NAMEOID};
	bool		isnull;

	if (ref->id != 0)
		return;
	Assert(OidIsValid(ref->conoid));

	/*
	 * Dropping or renaming the key locks its table: with this lock (which
	 * validation takes anyway) the key is still there by that name, and a
	 * DROP that waits for it sees the row (sql_drop).
	 */
	LockRelationOid(ref->child, AccessShareLock);
	if (!OidIsValid(foreign_key_oid(ref->child, ref->name)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reference \"%s\" does not exist", ref->name)));
	args[0] = ObjectIdGetDatum(ref->child);
	args[1] = DirectFunctionCall1(namein, CStringGetDatum(ref->name));
	SPI_connect();
	exec_as_owner("INSERT INTO ri_policy._foreign_key (child, name) VALUES ($1, $2)"
				  " ON CONFLICT (child, name) DO NOTHING RETURNING id",
				  2, argtypes, args, NULL, false);
	if (SPI_processed == 0)
		exec_as_owner("SELECT id FROM ri_policy._foreign_key WHERE child = $1 AND name = $2",
					  2, argtypes, args, NULL, false);
	if (SPI_processed != 1)
		elog(ERROR, "could not record an id for foreign key \"%s\"", ref->name);
	ref->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  1, &isnull));
	SPI_finish();
}

/*
 * Does table "child" have a declared reference named "name"?  For the
 * guard, which refuses a foreign key of that name on that table.  Reads
 * the registry directly, through its (child, name) index, with a dirty
 * snapshot: a reference declared by a transaction still in progress counts
 * (declare_reference() inserts, then checks the constraints, so that one
 * of two concurrent commands sees the other).  Cheap, and false while the
 * extension has no registry.
 */
bool
ri_reference_name_taken(Oid child, const char *name)
{
	Oid			nsp = get_namespace_oid("ri_policy", true);
	Oid			relid;
	Oid			indexid;
	Relation	rel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	SnapshotData dirty;
	AttrNumber	child_attnum;
	AttrNumber	name_attnum;
	bool		taken;

	if (!OidIsValid(nsp))
		return false;
	relid = get_relname_relid("_reference", nsp);
	if (!OidIsValid(relid))
		return false;
	/* 0.4's registry has no such index: read the (small) table */
	indexid = get_relname_relid("_reference_child_name_key", nsp);
	child_attnum = get_attnum(relid, "child");
	name_attnum = get_attnum(relid, "name");
	if (child_attnum == InvalidAttrNumber || name_attnum == InvalidAttrNumber)
		return false;

	InitDirtySnapshot(dirty);
	rel = table_open(relid, AccessShareLock);
	ScanKeyInit(&keys[0], child_attnum, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(child));
	ScanKeyInit(&keys[1], name_attnum, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(name));
	scan = systable_beginscan(rel, indexid, OidIsValid(indexid), &dirty, 2, keys);
	taken = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return taken;
}
