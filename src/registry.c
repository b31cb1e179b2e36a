/*-------------------------------------------------------------------------
 *
 * registry.c
 *		Declared references: declare_reference(), drop_reference(), the
 *		upkeep that follows renames and drops, and loading a reference (or a
 *		foreign key constraint) for the validator.
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
 * src/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "storage/bufmgr.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compare.h"
#include "compat.h"
#include "reference.h"

PG_FUNCTION_INFO_V1(ri_policy_declare_reference);
PG_FUNCTION_INFO_V1(ri_policy_drop_reference);
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
 * Pin search_path to pg_catalog, pg_temp for ri_policy's own SQL, so that a
 * caller's search_path cannot put its operators or functions in the way.
 * Returns the GUC nest level to pass to ri_restore_search_path().
 */
int
ri_safe_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nestlevel;
}

void
ri_restore_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
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
	RiUserState saved;
	int			rc;
	int			nestlevel;
	MemoryContext oldcxt = CurrentMemoryContext;
	bool		snapshot = read_only && push_snapshot();

	ri_become(ri_extension_owner(), SECURITY_LOCAL_USERID_CHANGE, &saved);
	nestlevel = ri_safe_search_path();
	if (plan != NULL)
	{
		if (*plan == NULL)
		{
			*plan = SPI_prepare(sql, nargs, argtypes);
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
	ri_restore_search_path(nestlevel);
	ri_restore(&saved);
	if (snapshot)
		PopActiveSnapshot();
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	return rc;
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
 * declare_reference(child, child_columns, parent, parent_columns, name,
 *					 match, on_delete) returns text
 */
Datum
ri_policy_declare_reference(PG_FUNCTION_ARGS)
{
	static const char *const match_choices[] = {"simple", "full", NULL};
	static const char *const action_choices[] = {"no action", "cascade",
	"set null", "set default", NULL};
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
	Relation	childrel;
	Relation	parentrel;
	Oid			indexoid;
	StringInfoData buf;
	Datum		values[8];
	Oid			argtypes[8] = {TEXTOID, REGCLASSOID, NAMEARRAYOID, REGCLASSOID,
	NAMEARRAYOID, REGOPERATORARRAYOID, TEXTOID, TEXTOID};
	Datum	   *namedatums;
	Datum	   *opdatums;

	require_arg(fcinfo, 0, "child");
	require_arg(fcinfo, 1, "child_columns");
	require_arg(fcinfo, 2, "parent");
	require_arg(fcinfo, 5, "match");
	require_arg(fcinfo, 6, "on_delete");
	child = PG_GETARG_OID(0);
	parent = PG_GETARG_OID(2);
	match = check_choice(PG_GETARG_TEXT_PP(5), "match type", match_choices,
						 "Valid match types are \"simple\" and \"full\".");
	on_delete = check_choice(PG_GETARG_TEXT_PP(6), "on_delete action",
							 action_choices,
							 "Valid actions are \"no action\", \"cascade\", \"set null\" and \"set default\".");

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

	for (int i = 0; i < nkeys; i++)
	{
		int			indexcol = -1;
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index ind = (Form_pg_index) GETSTRUCT(tup);

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
	opdatums = palloc(nkeys * sizeof(Datum));
	for (int i = 0; i < nkeys; i++)
		opdatums[i] = ObjectIdGetDatum(operators[i]);
	values[5] = PointerGetDatum(construct_array(opdatums, nkeys, REGOPERATOROID,
												sizeof(Oid), true, TYPALIGN_INT));
	values[6] = CStringGetTextDatum(match);
	values[7] = CStringGetTextDatum(on_delete);

	exec_as_owner("SELECT 1 FROM ri_policy._reference WHERE name = $1",
				  1, argtypes, values, NULL, true);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("reference \"%s\" already exists", name)));
	exec_as_owner("SELECT 1 FROM pg_catalog.pg_constraint"
				  " WHERE contype = 'f' AND conparentid = 0 AND conname = $1",
				  1, argtypes, values, NULL, true);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("a foreign key constraint named \"%s\" already exists", name),
				 errhint("Reference names share one namespace with foreign key constraint names.")));

	exec_as_owner("INSERT INTO ri_policy._reference (name, child, child_columns,"
				  " parent, parent_columns, eq_operators, match, on_delete)"
				  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
				  8, argtypes, values, NULL, false);
	SPI_finish();

	table_close(parentrel, NoLock);
	table_close(childrel, NoLock);

	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * drop_reference(name)
 */
Datum
ri_policy_drop_reference(PG_FUNCTION_ARGS)
{
	Datum		name;
	Oid			argtypes[1] = {TEXTOID};
	Oid			child;
	bool		isnull;

	require_arg(fcinfo, 0, "name");
	name = PG_GETARG_DATUM(0);

	SPI_connect();
	exec_as_owner("SELECT child FROM ri_policy._reference WHERE name = $1 FOR UPDATE",
				  1, argtypes, &name, NULL, false);
	if (SPI_processed == 0)
	{
		exec_as_owner("SELECT 1 FROM pg_catalog.pg_constraint"
					  " WHERE contype = 'f' AND conname = $1",
					  1, argtypes, &name, NULL, true);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is a foreign key constraint, not a declared reference",
							TextDatumGetCString(name)),
					 errhint("Use ALTER TABLE ... DROP CONSTRAINT.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reference \"%s\" does not exist",
						TextDatumGetCString(name))));
	}
	child = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	if (!compat_class_ownercheck(child, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(get_rel_relkind(child)),
					   get_rel_name(child));

	{
		RiReference *ref = ri_load_reference(TextDatumGetCString(name));

		ri_untrack(ref);
	}
	exec_as_owner("WITH r AS (DELETE FROM ri_policy._reference WHERE name = $1),"
				  " v AS (DELETE FROM ri_policy._violation WHERE reference = $1),"
				  " p AS (DELETE FROM ri_policy._pending WHERE reference = $1),"
				  " c AS (DELETE FROM ri_policy._changed WHERE reference = $1)"
				  " DELETE FROM ri_policy._progress WHERE reference = $1",
				  1, argtypes, &name, NULL, false);
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
	const char *tables[] = {"_reference", "_progress"};

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
 * with a NOTICE each, and the results of dropped foreign keys.
 */
Datum
ri_policy_on_sql_drop(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						"ri_policy_on_sql_drop")));
	if (!ri_registry_exists() || !registry_has_rows())
		PG_RETURN_VOID();

	SPI_connect();
	exec_as_owner("WITH d AS ("
				  "  SELECT objid, objsubid, object_type, address_names"
				  "    FROM pg_catalog.pg_event_trigger_dropped_objects()"
				  "   WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
				  "     AND object_type IN ('table', 'table column')),"
				  " gone AS ("
				  "  DELETE FROM ri_policy._reference r USING d"
				  "   WHERE (d.objsubid = 0 AND d.objid IN (r.child::oid, r.parent::oid))"
				  "      OR (d.objsubid <> 0 AND r.child::oid = d.objid"
				  "          AND d.address_names[3] = ANY (r.child_columns))"
				  "      OR (d.objsubid <> 0 AND r.parent::oid = d.objid"
				  "          AND d.address_names[3] = ANY (r.parent_columns))"
				  "  RETURNING r.name, r.child::oid AS child, r.parent::oid AS parent),"
				  " fk AS ("
				  "  SELECT address_names[3] AS name"
				  "    FROM pg_catalog.pg_event_trigger_dropped_objects()"
				  "   WHERE object_type = 'table constraint'"
				  "     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c"
				  "                      WHERE c.contype = 'f'"
				  "                        AND c.conname = address_names[3])),"
				  " names AS (SELECT name FROM gone UNION SELECT name FROM fk),"
				  " v AS (DELETE FROM ri_policy._violation x USING names"
				  "        WHERE x.reference = names.name),"
				  " p AS (DELETE FROM ri_policy._pending x USING names"
				  "        WHERE x.reference = names.name),"
				  " q AS (DELETE FROM ri_policy._progress x USING names"
				  "        WHERE x.reference = names.name)"
				  " SELECT DISTINCT name, child, parent FROM gone ORDER BY 1",
				  0, NULL, NULL, NULL, false);
	{
		SPITupleTable *gone = SPI_tuptable;
		uint64		ngone = SPI_processed;

		for (uint64 i = 0; i < ngone; i++)
		{
			RiReference ref = {0};
			bool		isnull;

			ref.name = SPI_getvalue(gone->vals[i], gone->tupdesc, 1);
			ref.child = DatumGetObjectId(SPI_getbinval(gone->vals[i], gone->tupdesc, 2, &isnull));
			ref.parent = DatumGetObjectId(SPI_getbinval(gone->vals[i], gone->tupdesc, 3, &isnull));
			/* the tracking triggers left on the table that remains */
			ri_untrack(&ref);
			/* its recorded changes, by name: the log is partitioned by it */
			{
				Datum		arg = CStringGetTextDatum(ref.name);
				Oid			argtype = TEXTOID;

				exec_as_owner("DELETE FROM ri_policy._changed WHERE reference = $1",
							  1, &argtype, &arg, NULL, false);
			}
			ereport(NOTICE,
					(errmsg("drop cascades to reference \"%s\"", ref.name)));
		}
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
 * Are the extension's objects those of this library's version (0.4)?  Not
 * between the installation of a new library and ALTER EXTENSION UPDATE.
 */
bool
ri_objects_current(void)
{
	return OidIsValid(get_relname_relid("_sentinel", get_namespace_oid("ri_policy", false)));
}

/*
 * Called at ddl_command_end for ALTER TABLE ... RENAME COLUMN: rename the
 * column in the references of that table and of the tables that inherited
 * the rename.
 */
void
ri_follow_column_rename(Node *parsetree)
{
	RenameStmt *stmt = (RenameStmt *) parsetree;
	Oid			relid;
	List	   *rels;
	ListCell   *lc;
	Datum	   *oids;
	int			n = 0;
	Datum		values[3];
	Oid			argtypes[3] = {OIDARRAYOID, NAMEOID, NAMEOID};

	if (!IsA(parsetree, RenameStmt) || stmt->renameType != OBJECT_COLUMN ||
		stmt->relation == NULL)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;

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
				  " WHERE child::oid = ANY ($1) OR parent::oid = ANY ($1)"
				  " RETURNING name, tracked_since IS NOT NULL"
				  "       AND ($3 = ANY (child_columns) OR $3 = ANY (parent_columns))",
				  3, argtypes, values, NULL, false);

	/* tracked references whose key column it was: their triggers name it */
	{
		SPITupleTable *updated = SPI_tuptable;
		uint64		nupdated = SPI_processed;

		/* recorded keys are objects keyed by the child's column names */
		exec_as_owner("WITH r AS (SELECT name FROM ri_policy._reference"
					  "            WHERE child::oid = ANY ($1) AND $3 = ANY (child_columns)),"
					  " p AS (UPDATE ri_policy._pending x"
					  "        SET key = (x.key - $2::text)"
					  "                  || pg_catalog.jsonb_build_object($3::text, x.key -> $2::text)"
					  "       FROM r WHERE x.reference = r.name AND x.key ? $2::text)"
					  " UPDATE ri_policy._violation x"
					  "    SET key = (x.key - $2::text)"
					  "              || pg_catalog.jsonb_build_object($3::text, x.key -> $2::text)"
					  "   FROM r WHERE x.reference = r.name AND x.key ? $2::text",
					  3, argtypes, values, NULL, false);

		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		for (uint64 i = 0; i < nupdated; i++)
		{
			bool		isnull;
			RiReference *ref;

			if (!DatumGetBool(SPI_getbinval(updated->vals[i], updated->tupdesc, 2, &isnull)))
				continue;
			ref = ri_load_reference(SPI_getvalue(updated->vals[i], updated->tupdesc, 1));
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
 * The names of all declared references, in order.
 */
List *
ri_declared_reference_names(void)
{
	List	   *names = NIL;
	MemoryContext oldcxt = CurrentMemoryContext;

	SPI_connect();
	exec_as_owner("SELECT name FROM ri_policy._reference ORDER BY name",
				  0, NULL, NULL, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext spicxt = MemoryContextSwitchTo(oldcxt);

		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();
	return names;
}

/*
 * The declared references whose child table the caller owns, in name order
 * (what validate() and repair() do when given no reference).
 */
List *
ri_owned_reference_names(void)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, ri_declared_reference_names())
	{
		RiReference *ref = ri_load_reference(lfirst(lc));

		if (compat_class_ownercheck(ref->child, GetUserId()))
			names = lappend(names, lfirst(lc));
	}
	return names;
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
 * Fill in column types and collations, checking that the columns still
 * exist with the types the pinned operators were chosen for.
 */
static void
complete_reference(RiReference *ref)
{
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

/*
 * Load a reference by name: a declared reference, or else a foreign key
 * constraint of that name (which must be unique among foreign keys).
 */
RiReference *
ri_load_reference(const char *name)
{
	RiReference *ref = palloc0(sizeof(RiReference));
	MemoryContext oldcxt = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;

	ref->name = pstrdup(name);

	SPI_connect();
	exec_as_owner("SELECT child, child_columns, parent, parent_columns,"
				  "       eq_operators, match, on_delete"
				  "  FROM ri_policy._reference WHERE name = $1",
				  1, argtypes, &arg, NULL, true);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum	   *cols;
		Datum	   *pcols;
		Datum	   *ops;
		int			n;
		MemoryContext spicxt;

		spicxt = MemoryContextSwitchTo(oldcxt);
		ref->child = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		ref->parent = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull)),
						  NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
						  &cols, NULL, &n);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull)),
						  NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
						  &pcols, NULL, &n);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 5, &isnull)),
						  REGOPERATOROID, sizeof(Oid), true, TYPALIGN_INT,
						  &ops, NULL, &n);
		ref->nkeys = n;
		for (int i = 0; i < n; i++)
		{
			ref->child_columns[i] = pstrdup(NameStr(*DatumGetName(cols[i])));
			ref->parent_columns[i] = pstrdup(NameStr(*DatumGetName(pcols[i])));
			ref->eq_operators[i] = DatumGetObjectId(ops[i]);
		}
		ref->match_full = strcmp(TextDatumGetCString(SPI_getbinval(tup, desc, 6, &isnull)),
								 "full") == 0;
		ref->on_delete = TextDatumGetCString(SPI_getbinval(tup, desc, 7, &isnull));
		MemoryContextSwitchTo(spicxt);
		SPI_finish();

		if (get_rel_relkind(ref->child) == '\0' ||
			get_rel_relkind(ref->parent) == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("a table of reference \"%s\" no longer exists", name)));
		complete_reference(ref);
		return ref;
	}

	exec_as_owner("SELECT oid FROM pg_catalog.pg_constraint"
				  " WHERE contype = 'f' AND conparentid = 0 AND conname = $1",
				  1, argtypes, &arg, NULL, true);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reference \"%s\" does not exist", name)));
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("foreign key name \"%s\" is ambiguous", name),
				 errdetail("%llu foreign key constraints have that name.",
						   (unsigned long long) SPI_processed)));
	ref->conoid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	{
		HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(ref->conoid));
		Form_pg_constraint con;
		Datum		datum;
		ArrayType  *arr;
		int16	   *conkey;
		int16	   *confkey;
		Oid		   *pfeqop;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for constraint %u", ref->conoid);
		con = (Form_pg_constraint) GETSTRUCT(tup);
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
	}
	/* a foreign key covers the rows of its own table (or its partitions) */
	ref->only_child = (get_rel_relkind(ref->child) != RELKIND_PARTITIONED_TABLE);
	complete_reference(ref);
	return ref;
}
