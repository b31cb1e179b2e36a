/*-------------------------------------------------------------------------
 *
 * citus.c
 *		Tables whose rows are not in their own heap, and what ri_policy
 *		does with them.
 *
 * The validator reads a child's rows directly, block range by block range
 * (validate.c), and tracking sees changes through triggers on both tables
 * (track.c).  Neither works where the rows live elsewhere: the shell of a
 * Citus table on the coordinator holds no rows (its shards, on the workers,
 * do), a foreign table's rows are behind its wrapper, and a table access
 * method without TID range scans (Citus's columnar) cannot be read by
 * block ranges.  Reading such a table directly would report no orphans
 * where there are some, so every function that would do so asks here
 * first, and refuses with the reason, naming the table.
 *
 * Except for Citus tables, which validation and orphans() read through
 * Citus's planner instead (see "Validation through Citus" below), and whose
 * parent keys are read and probed the same way.
 *
 * Citus is found at run time, by name, only in a database where the citus
 * extension exists: ri_policy neither links with it nor needs it.
 *
 * src/citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/ruleutils.h"
#include "utils/uuid.h"

#include "citus.h"
#include "columns.h"
#include "compare.h"
#include "keyset.h"
#include "ri_policy.h"
#include "shard_filter.h"

/*
 * Citus's pg_dist_partition, if the citus extension exists in this
 * database; else InvalidOid.
 */
static Oid
citus_partition_catalog(void)
{
	if (!OidIsValid(get_extension_oid("citus", true)))
		return InvalidOid;
	return get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
}

/*
 * The kind of Citus table relid is, as Citus names it, or NULL if it is
 * none: its row in pg_dist_partition, read by column name.
 */
static const char *
citus_table_kind(Oid relid)
{
	Oid			catalog = citus_partition_catalog();
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	const char *kind = NULL;
	AttrNumber	relcol;
	AttrNumber	methodcol;
	AttrNumber	modelcol;
	AttrNumber	colocationcol;

	if (!OidIsValid(catalog))
		return NULL;
	relcol = get_attnum(catalog, "logicalrelid");
	methodcol = get_attnum(catalog, "partmethod");
	modelcol = get_attnum(catalog, "repmodel");
	colocationcol = get_attnum(catalog, "colocationid");
	if (relcol == InvalidAttrNumber || methodcol == InvalidAttrNumber ||
		modelcol == InvalidAttrNumber || colocationcol == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this version of Citus is not supported"),
				 errdetail("Its catalog pg_dist_partition lacks a column ri_policy reads.")));

	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, relcol, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		char		method = DatumGetChar(heap_getattr(tup, methodcol, desc, &isnull));
		char		model = DatumGetChar(heap_getattr(tup, modelcol, desc, &isnull));
		int32		colocation = DatumGetInt32(heap_getattr(tup, colocationcol, desc, &isnull));

		if (method == 'n' && model == 't')
			kind = "a Citus reference table";
		else if (method == 'n' && colocation == 0)
			kind = "a Citus local table";
		else
			kind = "a Citus distributed table";
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return kind;
}

/*
 * Where the rows of table relid are; *kind, if given, says what the table
 * is when they are not here.
 */
RiRowsAt
ri_rows_at(Oid relid, const char **kind)
{
	Relation	rel;
	RiRowsAt	at = RI_ROWS_HERE;
	const char *what = NULL;

	if (get_rel_relkind(relid) == RELKIND_FOREIGN_TABLE)
	{
		at = RI_ROWS_FOREIGN;
		what = "a foreign table";
	}
	else if ((what = citus_table_kind(relid)) != NULL)
		at = RI_ROWS_CITUS;
	else if (get_rel_relkind(relid) == RELKIND_RELATION &&
			 (rel = try_table_open(relid, AccessShareLock)) != NULL)
	{
		if (rel->rd_tableam->scan_set_tidrange == NULL)
		{
			at = RI_ROWS_NO_RANGES;
			what = psprintf("a table of access method \"%s\"",
							get_am_name(rel->rd_rel->relam));
		}
		table_close(rel, NoLock);
	}
	if (kind != NULL)
		*kind = what;
	return at;
}

/*
 * The name Citus gives the shard "id" of an object named "name" (its
 * AppendShardIdToName(), found by name), or "" when Citus offers none.
 */
static char *
citus_shard_name(const char *name, uint64 id)
{
	void		(*append_id) (char **name, uint64 id);
	char	   *result = pstrdup(name);

	append_id = (void (*) (char **, uint64))
		load_external_function("$libdir/citus", "AppendShardIdToName", false, NULL);
	if (append_id == NULL)
		return "";
	append_id(&result, id);
	return result;
}

/*
 * Citus converts a table (alter_distributed_table(), undistribute_table(),
 * alter_table_set_access_method(), a Citus local table distributed) by
 * creating its replacement under a temporary name, moving the rows,
 * dropping the table and renaming the replacement: the same table to its
 * users, a new one to the catalogs.  While Citus does that, which table
 * replaces the dropped table "relname" of schema "nspname"?  InvalidOid if
 * none, or when no conversion is under way.  Citus names the replacement
 * as a shard, after a hash of the table's name; both the name and whether
 * it is converting are only in its library, found by name.
 */
static Oid
citus_replacement(const char *nspname, const char *relname)
{
	bool	   *converting;
	uint32		hash;

	if (!OidIsValid(citus_partition_catalog()))
		return InvalidOid;
	converting = (bool *) load_external_function("$libdir/citus",
												  "InTableTypeConversionFunctionCall",
												  false, NULL);
	if (converting == NULL || !*converting)
		return InvalidOid;
	hash = DatumGetUInt32(hash_any((const unsigned char *) relname, strlen(relname)));
	return get_relname_relid(citus_shard_name(relname, hash),
							 get_namespace_oid(nspname, false));
}

/*
 * The shard id that ends a shard's name, as Citus names shards ("_" and
 * digits), or 0.
 */
static uint64
name_shard_id(const char *relname)
{
	const char *digits = relname != NULL ? strrchr(relname, '_') : NULL;

	if (digits == NULL || digits[1] == '\0' || strlen(digits + 1) > 18 ||
		strspn(digits + 1, "0123456789") != strlen(digits + 1))
		return 0;
	return (uint64) strtoi64(digits + 1, NULL, 10);
}

/*
 * The Citus table that table "rel" is a shard of, by Citus's metadata and
 * the shard's name and schema; else "rel" itself.
 */
static Oid
citus_shard_base(Oid rel)
{
	char	   *relname = get_rel_name(rel);
	uint64		shardid = name_shard_id(relname);
	Datum		arg = Int64GetDatum((int64) shardid);
	Oid			argtype = INT8OID;
	Oid			base = rel;
	int			nestlevel;

	if (shardid == 0)
		return rel;
	nestlevel = ri_own_settings_begin();
	SPI_connect();
	if (SPI_execute_with_args("SELECT logicalrelid::pg_catalog.oid FROM pg_catalog.pg_dist_shard"
							  " WHERE shardid = $1",
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_shard");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Oid			shell = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 1, &isnull));
		char	   *shellname = get_rel_name(shell);

		if (shellname != NULL && get_rel_namespace(shell) == get_rel_namespace(rel) &&
			strcmp(citus_shard_name(shellname, shardid), relname) == 0)
			base = shell;
	}
	SPI_finish();
	ri_own_settings_end(nestlevel);
	return base;
}

/*
 * The logical key that foreign key "conname" of table "rel" referencing
 * "ref" is a copy of, as Citus's metadata says (not as a client claims):
 * on a shard of a Citus table (a worker's, or the coordinator's of a Citus
 * local or reference table), the Citus table (*lrel) and the Citus table
 * referenced (*lref), by pg_dist_shard and the shards' names, and the name
 * (*lname) of the Citus table's own key referencing *lref whose copy on
 * this shard Citus names "conname" (or, where that key is not visible,
 * "conname" without the shard's id, as Citus names copies).  A name that
 * is neither stays as it is.  Outside a database with Citus, the key
 * itself, and false.
 */
bool
ri_citus_logical_key(Oid rel, const char *conname, Oid ref,
					 Oid *lrel, char **lname, Oid *lref)
{
	uint64		shard;
	Relation	conrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	*lrel = rel;
	*lref = ref;
	*lname = pstrdup(conname);
	if (!OidIsValid(citus_partition_catalog()))
		return false;
	*lrel = citus_shard_base(rel);
	*lref = citus_shard_base(ref);
	if (*lrel == rel)
		return true;
	shard = name_shard_id(get_rel_name(rel));
	conrel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(*lrel));
	scan = systable_beginscan(conrel, ConstraintRelidTypidNameIndexId, true,
							  NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (con->contype == CONSTRAINT_FOREIGN && con->confrelid == *lref &&
			strcmp(citus_shard_name(NameStr(con->conname), shard), conname) == 0)
		{
			*lname = pstrdup(NameStr(con->conname));
			break;
		}
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);

	/*
	 * Not there (yet, for us): Citus adds the key to the shell and to the
	 * shards on this node in one distributed transaction, but by several
	 * connections, so the shell's may not be visible here.  Then the name
	 * Citus would give this shard's copy of a key named as "conname" is
	 * without its shard id.  (Names that Citus shortened with a hash
	 * cannot be taken back, and stay as they are.)
	 */
	if (strcmp(*lname, conname) == 0)
	{
		char	   *suffix = psprintf("_" UINT64_FORMAT, shard);
		size_t		len = strlen(conname);
		size_t		slen = strlen(suffix);

		if (len > slen && strcmp(conname + len - slen, suffix) == 0)
		{
			char	   *base = pnstrdup(conname, len - slen);

			if (strcmp(citus_shard_name(base, shard), conname) == 0)
				*lname = base;
		}
	}
	return true;
}

/*
 * In sql_drop (registry.c), before the references of dropped tables are
 * forgotten: move those of a table that Citus is replacing by a conversion
 * (see citus_replacement) to its replacement, with the foreign keys that
 * have results (Citus re-creates them there, by name), so that they
 * survive, with their results.  Where a pass of the old table was left
 * unfinished, the next one starts over.
 */
void
ri_citus_follow_conversion(void)
{
	uint64		n;
	SPITupleTable *dropped;

	if (!OidIsValid(citus_partition_catalog()))
		return;
	ri_exec_as_owner(NULL, "SELECT objid, schema_name, object_name"
					 "  FROM pg_catalog.pg_event_trigger_dropped_objects()"
					 " WHERE object_type = 'table'", 0, NULL, NULL, NULL, true);
	dropped = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			old = DatumGetObjectId(SPI_getbinval(dropped->vals[i], dropped->tupdesc,
														 1, &isnull));
		char	   *nspname = SPI_getvalue(dropped->vals[i], dropped->tupdesc, 2);
		char	   *relname = SPI_getvalue(dropped->vals[i], dropped->tupdesc, 3);
		Oid			replacement;
		Datum		args[2];
		Oid			argtypes[2] = {OIDOID, OIDOID};

		if (nspname == NULL || relname == NULL)
			continue;
		replacement = citus_replacement(nspname, relname);
		if (!OidIsValid(replacement))
			continue;
		args[0] = ObjectIdGetDatum(old);
		args[1] = ObjectIdGetDatum(replacement);
		ri_exec_as_owner(NULL,
						 "WITH r AS ("
						 "  UPDATE ri_policy._reference"
						 "     SET child = CASE WHEN child::pg_catalog.oid = $1"
						 "                      THEN $2::pg_catalog.regclass ELSE child END,"
						 "         parent = CASE WHEN parent::pg_catalog.oid = $1"
						 "                       THEN $2::pg_catalog.regclass ELSE parent END"
						 "   WHERE $1 IN (child::pg_catalog.oid, parent::pg_catalog.oid)"
						 "  RETURNING id),"
						 " f AS ("
						 "  UPDATE ri_policy._foreign_key SET child = $2::pg_catalog.regclass"
						 "   WHERE child::pg_catalog.oid = $1 RETURNING id)"
						 " DELETE FROM ri_policy._progress p"
						 "  WHERE p.reference IN (SELECT id FROM r UNION ALL SELECT id FROM f)"
						 "    AND p.status <> 'done'",
						 2, argtypes, args, NULL, false);
	}
}

static bool citus_child_check(RiReference *ref, const char *action, int elevel);

/*
 * Through Citus, a table's rows are read by queries as its owner, and each
 * worker applies its shards' policies: an owner bound by them (FORCE ROW
 * LEVEL SECURITY) would see fewer rows, where a direct read sees all.  If
 * so for table relid, a Citus table of the reference, report it at elevel
 * and return false.
 */
static bool
citus_rls_check(RiReference *ref, Oid relid, const char *action, int elevel)
{
	if (ri_rows_at(relid, NULL) != RI_ROWS_CITUS ||
		check_enable_rls(relid, ri_rel_owner(relid), true) != RLS_ENABLED)
		return true;
	ereport(elevel,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot %s reference \"%s\" through Citus", action, ref->name),
			 errdetail("Table \"%s\" forces row level security on its owner, as whom Citus would read it.",
					   get_rel_name(relid)),
			 errhint("ALTER TABLE %s NO FORCE ROW LEVEL SECURITY lets its owner read every row.",
					 ri_qualified_name(relid))));
	return false;
}

/*
 * The tables of a reference that hold its rows: the child's (only its own
 * for a foreign key on a plain table, else every table under it), or the
 * parent's.
 */
static List *
reference_tables(RiReference *ref, bool child)
{
	Oid			top = child ? ref->child : ref->parent;

	if (child && ref->only_child)
		return list_make1_oid(top);
	return find_all_inheritors(top, AccessShareLock, NULL);
}

/*
 * Is the reference's child a Citus table, whose rows validation reads
 * through Citus's planner?
 */
bool
ri_reads_through_citus(RiReference *ref)
{
	return ri_rows_at(ref->child, NULL) == RI_ROWS_CITUS;
}

/*
 * At the end of a pass, which read the child through Citus or not: is that
 * still how its rows are read?  A table distributed by Citus while a pass
 * read it directly gave its rows to the shards, and the batches after that
 * read an empty shell; a table attached since may hold rows elsewhere.
 * The lock keeps that from changing until the pass's results commit.
 */
void
ri_refuse_moved_rows(RiReference *ref, bool through_citus)
{
	LockRelationOid(ref->child, AccessShareLock);
	if (get_rel_name(ref->child) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the tables of reference \"%s\" changed while it was being validated",
						ref->name),
				 errdetail("Its child table was dropped or replaced by another (as Citus replaces a table it converts)."),
				 errhint("Call ri_policy.validate() again: the next pass starts over.")));
	if (through_citus != ri_reads_through_citus(ref))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" %s Citus during the validation of reference \"%s\"",
						get_rel_name(ref->child),
						through_citus ? "was removed from" : "was added to", ref->name),
				 errhint("Call ri_policy.validate() again: the next pass starts over.")));
	(void) ri_refuse_rows_elsewhere(ref, RI_USE_SCAN, "validate", ERROR);
}

/*
 * Refuse to "action" the reference when one of its tables holds its rows
 * elsewhere: for RI_USE_SCAN, a table of the child that the validator would
 * read directly (the parent is only ever probed by queries, which read it
 * wherever its rows are); for RI_USE_TRACK, a table of either, whose
 * changes triggers would not see.  Reported at elevel: below ERROR, returns
 * false instead.
 */
bool
ri_refuse_rows_elsewhere(RiReference *ref, RiRowsUse use, const char *action,
						 int elevel)
{
	for (int side = 0; side < 2; side++)
	{
		bool		child = (side == 0);
		ListCell   *lc;

		if (!child && use == RI_USE_SCAN)
		{
			/* a Citus parent's keys are read through Citus too */
			if (!citus_rls_check(ref, ref->parent, action, elevel))
				return false;
			break;
		}
		if (child && use == RI_USE_SCAN && ri_reads_through_citus(ref))
		{
			if (!citus_child_check(ref, action, elevel))
				return false;
			continue;
		}
		foreach(lc, reference_tables(ref, child))
		{
			Oid			relid = lfirst_oid(lc);
			const char *kind;
			RiRowsAt	at = ri_rows_at(relid, &kind);

			if (at == RI_ROWS_HERE)
				continue;
			/* tracking needs triggers that see changes, not block ranges */
			if (at == RI_ROWS_NO_RANGES && use == RI_USE_TRACK)
				continue;
			ereport(elevel,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot %s reference \"%s\": table \"%s\" is %s",
							action, ref->name, get_rel_name(relid), kind),
					 use == RI_USE_TRACK ?
					 errdetail("Tracking sees changes through triggers on the tables, and the rows of this table change where its triggers do not fire.") :
					 at == RI_ROWS_NO_RANGES ?
					 errdetail("Validation reads the child's tables by block ranges, which this access method does not offer.") :
					 errdetail("Validation reads the rows of the child's tables directly, and the rows of this table are not stored in it."),
					 at == RI_ROWS_CITUS && use == RI_USE_TRACK ?
					 errhint("Validate it with full passes: ri_policy.validate() reads Citus tables through Citus.") : 0));
			return false;
		}
	}
	return true;
}

/* ----------------------------------------------------------------
 * Validation through Citus
 *
 * Where the child is a Citus table, its rows are read by one query that
 * Citus runs on every shard in parallel, each grouping its rows by key:
 *
 *	SELECT c.k1, ..., count(*) FROM [ONLY] child c
 *	 WHERE c.k1 IS NOT NULL AND ... [AND (c.k1, ...) > ($1, ...)]
 *	 GROUP BY 1, ... ORDER BY 1, ...
 *
 * opened as a cursor and read batch_size distinct keys at a time.  Each
 * batch's keys are tested against the parent's keys, read through Citus as
 * well (ri_citus_parent_keys), and the suspects confirmed by the probe
 * (probe.c, which on a Citus parent fetches the batch's matching parent
 * keys with "= ANY ($1)", a query Citus prunes to the shards that hold
 * them).  Between batches validate() commits: the cursor is pinned, so the
 * commit keeps what is left of its result (a tuplestore, which spills to
 * disk past work_mem).  The last key of each batch is recorded with it
 * (ri_policy._progress.resume_key), so an interrupted pass resumes after
 * it; keys are distinct and ordered, so no key is read twice.  This needs
 * keys whose equal values are alike in every way ri_policy compares them
 * (built-in types and operators, deterministic collations: see
 * ri_incremental_inexact()), so that grouping them by the type's equality
 * loses nothing, and their text forms read back exactly.
 * ----------------------------------------------------------------
 */

struct RiCitusReader
{
	RiReference *ref;
	Oid			scan_user;
	char		portal[NAMEDATALEN];	/* the cursor's name, chosen by SPI */
	bool		open;
	bool		prefilter;		/* the workers drop keys that have a parent */
	bool		fit_checked;	/* ... if the parent's keys fit */
	bool		comparable;		/* the parent's keys compare as the child's */
	Oid			parent_owner;	/* reads the parent's keys for keys_array */
	MemoryContext cxt;			/* the reader's */
	Datum		keys_array;		/* the parent's keys, sent with the query, or 0 */
	int			nruns;			/* or as runs of consecutive integers: */
	int64	   *run_first;
	int64	   *run_last;
	Datum		keys_bitmap;	/* or as a bitmap of the integers from */
	int64		bitmap_first;	/* ... this one to */
	int64		bitmap_last;	/* ... this one */
	Datum		keys_multirange;	/* or as an int8multirange of their runs */
	Datum		keys_set;		/* or as a set for ri_policy._int8_in_keys() */
	bool		set_of_uuids;	/* ... or for ri_policy._uuid_in_keys() */
	int64		rows_before;	/* rows up to the key a cursor resumed after */
};

/* Has parent_keys_array() kept the parent's keys, in one of its forms? */
static bool
keys_held(RiCitusReader *r)
{
	return r->keys_array != (Datum) 0 || r->nruns > 0 || r->keys_bitmap != (Datum) 0 ||
		r->keys_multirange != (Datum) 0 || r->keys_set != (Datum) 0;
}

/* Does the child's query carry the parent's keys (parent_keys_array())? */
static bool
keys_sent(RiCitusReader *r)
{
	return r->prefilter && keys_held(r);
}

/*
 * Can this reference's Citus child be read through Citus?  If not, report
 * why at elevel and return false.
 */
static bool
citus_child_check(RiReference *ref, const char *action, int elevel)
{
	const char *inexact = ri_incremental_inexact(ref);

	if (inexact != NULL)
	{
		ereport(elevel,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s reference \"%s\" through Citus", action, ref->name),
				 errdetail_internal("%s", inexact),
				 errhint("On a Citus table, keys are grouped on the workers, which is exact only for built-in key types compared with built-in operators.")));
		return false;
	}
	if (!citus_rls_check(ref, ref->child, action, elevel) ||
		!citus_rls_check(ref, ref->parent, action, elevel))
		return false;
	if (ref->match_full && ref->nkeys > 1)
	{
		ereport(elevel,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s reference \"%s\" through Citus", action, ref->name),
				 errdetail("A MATCH FULL reference of several columns is not read through Citus.")));
		return false;
	}
	return true;
}

RiCitusReader *
ri_citus_reader_create(RiReference *ref, Oid scan_user, MemoryContext cxt)
{
	RiCitusReader *r = MemoryContextAllocZero(cxt, sizeof(RiCitusReader));

	(void) citus_child_check(ref, "read", ERROR);
	r->ref = ref;
	r->scan_user = scan_user;
	r->parent_owner = ri_rel_owner(ref->parent);
	r->cxt = cxt;
	r->comparable = true;
	/* and the parent's keys fit: see reader_first_fetch() */
	r->prefilter = (r->parent_owner == scan_user);

	/* NOT IN compares text under one collation, which both columns must have */
	for (int i = 0; i < ref->nkeys; i++)
	{
		if (ri_child_column_collation(ref, i) != ref->parent_collations[i])
			r->prefilter = r->comparable = false;
	}
	return r;
}

/* The reader's cursor, if it is still there */
static Portal
reader_portal(RiCitusReader *r)
{
	return r->open ? GetPortalByName(r->portal) : NULL;
}

/* Close the reader's cursor, if it is open. */
void
ri_citus_reader_end(RiCitusReader *r)
{
	Portal		portal;

	if (r == NULL)
		return;
	portal = reader_portal(r);
	if (PortalIsValid(portal))
	{
		if (portal->portalPinned)
			UnpinPortal(portal);
		SPI_cursor_close(portal);
	}
	r->open = false;
}

/*
 * The last key of the batches a pass of reference "id" has committed, as
 * text, or NULL.
 */
static Datum *
saved_resume_key(RiReference *ref)
{
	Datum		arg = Int64GetDatum(ref->id);
	Oid			argtype = INT8OID;
	Datum	   *elems = NULL;
	bool	   *nulls;
	int			n;
	bool		isnull;
	Datum		d;

	ri_exec_as_owner(NULL, "SELECT resume_key FROM ri_policy._progress WHERE reference = $1",
					 1, &argtype, &arg, NULL, false);
	if (SPI_processed == 1)
	{
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
		{
			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &n);
			if (n != ref->nkeys)
				elems = NULL;
		}
	}
	return elems;
}

/*
 * The query of the parent's non-null keys, "SELECT x.a, ... FROM parent x
 * WHERE x.a IS NOT NULL AND ...", which Citus can run on any parent.
 */
static void
append_parent_keys(StringInfo buf, RiReference *ref)
{
	appendStringInfoString(buf, "SELECT ");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(buf, "%sx.%s", i > 0 ? ", " : "",
						 quote_identifier(ref->parent_columns[i]));
	appendStringInfo(buf, " FROM %s%s x WHERE ", ref->only_parent ? "ONLY " : "",
					 ri_qualified_name(ref->parent));
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(buf, "%sx.%s IS NOT NULL", i > 0 ? " AND " : "",
						 quote_identifier(ref->parent_columns[i]));
}

/*
 * The child's key column as the workers return it: NULL when it is one of
 * the parent's keys that the query carries (keys_sent()) as runs, a bitmap,
 * a multirange, a set or an array ($param), itself otherwise.
 */
static void
append_key_filter(StringInfo buf, RiCitusReader *r, const char *col, int param)
{
	RiReference *ref = r->ref;

	/* see parent_keys_array() and integer_key_filter() */
	if (r->keys_bitmap != (Datum) 0)
	{
		/* the range first (a CASE keeps the order): nothing overflows */
		appendStringInfo(buf, "CASE WHEN c.%s OPERATOR(pg_catalog.<) '" INT64_FORMAT
						 "'::pg_catalog.int8 OR c.%s OPERATOR(pg_catalog.>) '" INT64_FORMAT
						 "'::pg_catalog.int8 THEN c.%s",
						 col, r->bitmap_first, col, r->bitmap_last, col);
		appendStringInfo(buf, " WHEN pg_catalog.get_bit($%d, c.%s OPERATOR(pg_catalog.-) '"
						 INT64_FORMAT "'::pg_catalog.int8) OPERATOR(pg_catalog.=) 0"
						 " THEN c.%s END",
						 param, col, r->bitmap_first, col);
		return;
	}
	appendStringInfoString(buf, "CASE WHEN NOT (");
	if (r->keys_multirange != (Datum) 0)
		appendStringInfo(buf, "c.%s::pg_catalog.int8 OPERATOR(pg_catalog.<@) $%d", col, param);
	else if (r->keys_set != (Datum) 0 && r->set_of_uuids)
		appendStringInfo(buf, "ri_policy._uuid_in_keys(c.%s, $%d)", col, param);
	else if (r->keys_set != (Datum) 0)
		appendStringInfo(buf, "ri_policy._int8_in_keys(c.%s::pg_catalog.int8, $%d)", col, param);
	else if (r->nruns > 0)
		for (int i = 0; i < r->nruns; i++)
			appendStringInfo(buf, "%s(c.%s OPERATOR(pg_catalog.>=) '" INT64_FORMAT
							 "'::pg_catalog.int8 AND c.%s OPERATOR(pg_catalog.<=) '"
							 INT64_FORMAT "'::pg_catalog.int8)",
							 i > 0 ? " OR " : "", col, r->run_first[i], col,
							 r->run_last[i]);
	else
		generate_operator_clause(buf, psprintf("c.%s", col), ref->child_types[0],
								 get_commutator(ref->eq_operators[0]),
								 psprintf("ANY ($%d)", param), ref->parent_types[0]);
	appendStringInfo(buf, ") THEN c.%s END", col);
}

/*
 * Citus writes each shard's query with pg_catalog's functions unqualified
 * (count(*), current_schema()), and runs it on a worker as the child's
 * owner, under that role's search_path there, which the role may set to
 * put a schema of its own, with functions of those names, before
 * pg_catalog: then the counts, and the keys returned, would be its.  So
 * the transaction on every worker connection that the step uses gets
 * "SET LOCAL search_path = pg_catalog, pg_temp", which Citus sends there
 * (citus.propagate_set_commands, for SET LOCAL run in a DO block: see
 * Citus's IsMultiStatementTransaction()), until workers_settings_end()
 * resets it there and restores this node's settings.  Returns the GUC
 * nest level to pass to it.
 *
 * The same way, work_mem there is this session's maintenance_work_mem, the
 * memory a pass may give the parent's keys: where the shards filter by NOT
 * IN, PostgreSQL hashes the parent's keys only if they fit in work_mem
 * (times hash_mem_multiplier), and otherwise compares each row with each
 * key, which took minutes for a parent of a million keys (see
 * parent_keys_fit()).
 */
static int
workers_settings_begin(void)
{
	int			nestlevel = NewGUCNestLevel();
	char	   *sql = psprintf("DO $$BEGIN"
							   " SET LOCAL citus.propagate_set_commands = 'local';"
							   " SET LOCAL search_path = pg_catalog, pg_temp;"
							   " SET LOCAL work_mem = '%dkB';"
							   " END$$", maintenance_work_mem);

	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not set the workers' search_path and work_mem");
	return nestlevel;
}

static void
workers_settings_end(int nestlevel)
{
	SPITupleTable *tuptable = SPI_tuptable; /* a fetch's rows, kept */
	uint64		processed = SPI_processed;

	if (SPI_execute("DO $$BEGIN RESET search_path; RESET work_mem; END$$", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not reset the workers' search_path and work_mem");
	SPI_tuptable = tuptable;
	SPI_processed = processed;
	/* as a subtransaction's abort would: every setting above, as it was */
	AtEOXact_GUC(false, nestlevel);
}

/*
 * " AND ROW(c.k1, ...) op ROW($1, ...)": the child's keys compared with the
 * first parameters.
 */
static void
append_after(StringInfo buf, RiReference *ref, const char *op)
{
	appendStringInfoString(buf, " AND ROW(");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(buf, "%sc.%s", i > 0 ? ", " : "",
						 quote_identifier(ref->child_columns[i]));
	appendStringInfo(buf, ") OPERATOR(pg_catalog.%s) ROW(", op);
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(buf, "%s$%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoChar(buf, ')');
}

/*
 * The child's rows (of non-null keys) up to and including the key "args"
 * (nkeys parameters), counted through Citus as the current user: a resumed
 * pass's count of the rows its earlier batches checked, whatever filter
 * and parent they were read with (see ri_citus_read_batch()).
 */
static int64
rows_up_to(RiReference *ref, Datum *args, Oid *argtypes)
{
	StringInfoData buf;
	bool		isnull;

	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT pg_catalog.count(*) FROM %s%s c WHERE ",
					 ref->only_child ? "ONLY " : "", ri_qualified_name(ref->child));
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(&buf, "%sc.%s IS NOT NULL", i > 0 ? " AND " : "",
						 quote_identifier(ref->child_columns[i]));
	append_after(&buf, ref, "<=");
	if (SPI_execute_with_args(buf.data, ref->nkeys, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not count the rows of table \"%s\" checked so far",
			 get_rel_name(ref->child));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									   &isnull));
}

/*
 * "pg_catalog.count(*) FROM child c WHERE c.k1 IS NOT NULL AND ...", and
 * with "one_process", a condition that keeps each shard's query in one
 * process: Citus runs the shards in parallel already, and a shard's query
 * that forked parallel workers of its own would have each of them parse
 * the parent's keys and hash them again, on cores the other shards use.
 * (A parallel-unsafe function in a condition that is always true, and
 * evaluated once.)
 */
static void
append_child_rows(StringInfo buf, RiReference *ref, bool one_process)
{
	appendStringInfo(buf, "pg_catalog.count(*) FROM %s%s c WHERE ",
					 ref->only_child ? "ONLY " : "", ri_qualified_name(ref->child));
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(buf, "%sc.%s IS NOT NULL", i > 0 ? " AND " : "",
						 quote_identifier(ref->child_columns[i]));
	if (one_process)
		appendStringInfoString(buf, " AND pg_catalog.current_schema() IS NOT DISTINCT FROM"
							   " pg_catalog.current_schema()");
}

/*
 * Open the cursor over the child's keys, after "after" (text forms) if
 * given, as the child's owner.  With "prefilter", only the keys that no
 * parent row equals, and first the count of every row (after "after"),
 * with NULL keys: see ri_citus_read_batch().
 */
static void
reader_open(RiCitusReader *r, Datum *after, bool prefilter)
{
	RiReference *ref = r->ref;
	StringInfoData buf;
	Datum		args[INDEX_MAX_KEYS + 1];
	Oid			argtypes[INDEX_MAX_KEYS + 1];
	int			nargs = after != NULL ? ref->nkeys : 0;
	bool		array = prefilter && keys_sent(r);
	RiUserState saved;
	int			nestlevel;
	Portal		portal;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(&buf, "c.%s, ", quote_identifier(ref->child_columns[i]));
	append_child_rows(&buf, ref, array);
	if (array)
	{
		appendStringInfoString(&buf, " AND ");
		append_key_filter(&buf, r, quote_identifier(ref->child_columns[0]), nargs + 1);
		appendStringInfoString(&buf, " IS NOT NULL");
	}
	else if (prefilter)
	{
		appendStringInfoString(&buf, " AND (");
		for (int i = 0; i < ref->nkeys; i++)
			appendStringInfo(&buf, "%sc.%s", i > 0 ? ", " : "",
							 quote_identifier(ref->child_columns[i]));
		appendStringInfoString(&buf, ") NOT IN (");
		append_parent_keys(&buf, ref);
		appendStringInfoChar(&buf, ')');
	}
	if (after != NULL)
		append_after(&buf, ref, ">");
	appendStringInfoString(&buf, " GROUP BY ");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(&buf, "%s%d", i > 0 ? ", " : "", i + 1);

	/*
	 * The count of every row, by a second scan of each shard, in one process
	 * (parallel workers of six shards' counts on two cores took five times
	 * as long).  One scan grouping every row, with the keys that have a
	 * parent as NULL, hashed each row into the aggregate: 183 ms a shard of
	 * 830k rows, against 50 for the filter and 53 for the count.
	 */
	if (prefilter)
	{
		appendStringInfoString(&buf, " UNION ALL SELECT ");
		for (int i = 0; i < ref->nkeys; i++)
			appendStringInfo(&buf, "NULL::%s, ", format_type_be_qualified(ref->child_types[i]));
		append_child_rows(&buf, ref, true);
		if (after != NULL)
			append_after(&buf, ref, ">");
	}
	appendStringInfoString(&buf, " ORDER BY ");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(&buf, "%s%d NULLS FIRST", i > 0 ? ", " : "", i + 1);

	ri_become(r->scan_user, RI_OWNER_CONTEXT, &saved);
	nestlevel = ri_fixed_output_begin();
	for (int i = 0; i < ref->nkeys; i++)
	{
		argtypes[i] = ref->child_types[i];
		if (after != NULL)
		{
			Oid			typinput;
			Oid			typioparam;

			getTypeInputInfo(argtypes[i], &typinput, &typioparam);
			args[i] = OidInputFunctionCall(typinput, TextDatumGetCString(after[i]),
										   typioparam, -1);
		}
	}
	ri_fixed_output_end(nestlevel);
	if (array && r->keys_array != (Datum) 0)
	{
		argtypes[nargs] = get_array_type(ref->parent_types[0]);
		args[nargs++] = r->keys_array;
	}
	else if (array && r->keys_bitmap != (Datum) 0)
	{
		argtypes[nargs] = BYTEAOID;
		args[nargs++] = r->keys_bitmap;
	}
	else if (array && r->keys_multirange != (Datum) 0)
	{
		argtypes[nargs] = INT8MULTIRANGEOID;
		args[nargs++] = r->keys_multirange;
	}
	else if (array && r->keys_set != (Datum) 0)
	{
		argtypes[nargs] = BYTEAOID;
		args[nargs++] = r->keys_set;
	}
	nestlevel = ri_own_settings_begin();

	/*
	 * The rows are read through SQL here, as the child's owner, whom a
	 * forced row security policy would bind: fail rather than read fewer
	 * rows (a direct read sees every row).
	 */
	(void) set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	portal = SPI_cursor_open_with_args(NULL, buf.data, nargs, argtypes,
									   args, NULL, true, CURSOR_OPT_NO_SCROLL);
	if (after != NULL)
		r->rows_before = rows_up_to(ref, args, argtypes);
	ri_own_settings_end(nestlevel);
	ri_restore(&saved);
	PinPortal(portal);
	strlcpy(r->portal, portal->name, sizeof(r->portal));
	r->open = true;
}

/*
 * Can Citus send the parent's keys to the workers for the filter (see
 * reader_first_fetch)?  It refuses an intermediate result larger than
 * citus.max_intermediate_result_size, and once it has refused, a later
 * query of the same transaction fails too, even after a rollback to a
 * savepoint: so ask first.  The keys' binary copy is smaller than the
 * parent's table, row for row.  And the shards must be able to hash them
 * (NOT IN over keys that no hash holds compares every row with every key):
 * a parent of at most half of maintenance_work_mem, which the reads give
 * the workers as work_mem (workers_settings_begin()); past it, every key
 * comes back.  Run as the parent's owner.
 */
static bool
parent_keys_fit(RiReference *ref)
{
	const char *limit = GetConfigOption("citus.max_intermediate_result_size", true, false);
	Datum		arg = ObjectIdGetDatum(ref->parent);
	Oid			argtype = REGCLASSOID;
	int64		size = -1;
	bool		isnull;
	int			nestlevel;

	if (limit == NULL)
		return false;
	nestlevel = ri_own_settings_begin();
	if (SPI_execute_with_args(ri_rows_at(ref->parent, NULL) == RI_ROWS_CITUS ?
							  "SELECT pg_catalog.citus_table_size($1)" :
							  "SELECT pg_catalog.pg_table_size($1)",
							  1, &argtype, &arg, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			size = DatumGetInt64(d);
	}
	ri_own_settings_end(nestlevel);
	return size >= 0 && (atoi(limit) < 0 || size < (int64) atoi(limit) * 1024 / 2) &&
		size <= (int64) maintenance_work_mem * 1024 / 2;
}

/* qsort() comparator of int64 */
static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * The most runs integer_key_filter() sends: each costs every row a test, where
 * the array costs one hashed lookup.
 */
#define MAX_KEY_RUNS 16

/*
 * The most memory the keys of parent_keys_array()'s array may take on the
 * coordinator.  Citus puts the array's text into every shard's query, and
 * each shard hashes it: past this, NOT IN sends the keys instead, as an
 * intermediate result that Citus bounds (citus.max_intermediate_result_size),
 * and no query text grows toward PostgreSQL's 1GB limit of a message
 * whatever maintenance_work_mem is.
 */
#define MAX_KEYS_ARRAY_BYTES (16 * 1024 * 1024)

/*
 * Is the reference's key one built-in integer column on each side, whose
 * equality is the integers'?
 */
static bool
integer_keys(RiReference *ref)
{
	Oid			ptype = ref->parent_types[0];
	Oid			ctype = ref->child_types[0];

	return ref->nkeys == 1 &&
		(ptype == INT2OID || ptype == INT4OID || ptype == INT8OID) &&
		(ctype == INT2OID || ctype == INT4OID || ctype == INT8OID) &&
		op_in_opfamily(ref->eq_operators[0], INTEGER_BTREE_FAM_OID);
}

/*
 * Integer keys (integer_keys()) may instead be sent as a bitmap of the
 * integers from the least key to the greatest, of at most this many bits a
 * key and this many bytes: a sequence's keys after deletes and rolled-back
 * inserts, too many runs for MAX_KEY_RUNS.  A row then costs two
 * comparisons and one bit, and the query carries a few bits a key where the
 * array carries its text, which every shard parses and hashes.
 */
#define MAX_BITMAP_BITS_A_KEY 64
#define MAX_KEYS_BITMAP_BYTES (1024 * 1024)

/*
 * Integer keys in runs too far apart for a bitmap, but few (a sequence's
 * keys and a handful of others, far off), may be sent as an int8multirange
 * of those runs, in which a row is found by a binary search: at most this
 * many, so that the search costs no more than a lookup in a hash.
 */
#define MAX_MULTIRANGE_RUNS 1024

/*
 * Integer keys in more runs than that may be sent as a set that each shard
 * hashes once (ri_policy._int8_in_keys(), src/shard_filter.c), of at most
 * this many bytes (about a byte a key where they are mostly consecutive,
 * up to ten where they are far apart): Citus writes its text, two
 * characters a byte, into every shard's query.
 */
#define MAX_KEYS_SET_BYTES (8 * 1024 * 1024)

/* Append v as a varint (shard_filter.c's SetReader reads it) */
static void
append_varint(StringInfo buf, uint64 v)
{
	while (v >= 0x80)
	{
		appendStringInfoChar(buf, (char) ((v & 0x7f) | 0x80));
		v >>= 7;
	}
	appendStringInfoChar(buf, (char) v);
}

/*
 * Does this database's ri_policy have the shards' function "name"(keytype,
 * bytea)?  Not where its library was updated but not its SQL objects
 * (ALTER EXTENSION ri_policy UPDATE): the keys then go as the array.
 */
static bool
set_function_exists(const char *name, Oid keytype)
{
	Oid			argtypes[2] = {keytype, BYTEAOID};

	return OidIsValid(LookupFuncName(list_make2(makeString("ri_policy"),
												makeString(pstrdup(name))),
									 2, argtypes, true));
}

/*
 * The sorted integers v[0..n-1] as a set for ri_policy._int8_in_keys(), a
 * bytea in "cxt", or 0 if it would take more than MAX_KEYS_SET_BYTES or
 * this database's ri_policy does not have that function yet (its library
 * was updated, not its SQL objects: ALTER EXTENSION ri_policy UPDATE).
 */
static Datum
integer_key_set(const int64 *v, int n, MemoryContext cxt)
{
	StringInfoData buf;
	bytea	   *set;
	Size		nkeys = 0;

	if (!set_function_exists("_int8_in_keys", INT8OID))
		return (Datum) 0;
	initStringInfo(&buf);
	for (int i = 0; i < n && buf.len <= MAX_KEYS_SET_BYTES && nkeys <= RI_SET_MAX_INT8_KEYS; i++)
	{
		/* the first from the least int8, each other from the one before */
		if (i == 0)
			append_varint(&buf, (uint64) v[0] - (uint64) PG_INT64_MIN);
		else if (v[i] != v[i - 1])
			append_varint(&buf, (uint64) v[i] - (uint64) v[i - 1] - 1);
		else
			continue;
		nkeys++;
	}
	/* (more keys than the workers' function takes go as the array) */
	if (buf.len > MAX_KEYS_SET_BYTES || nkeys > RI_SET_MAX_INT8_KEYS)
		return (Datum) 0;
	set = MemoryContextAlloc(cxt, VARHDRSZ + buf.len);
	SET_VARSIZE(set, VARHDRSZ + buf.len);
	memcpy(VARDATA(set), buf.data, buf.len);
	pfree(buf.data);
	return PointerGetDatum(set);
}

/*
 * The runs of the sorted integers v[0..n-1] as an int8multirange, in the
 * current memory context.
 */
static Datum
runs_multirange(const int64 *v, int n)
{
	StringInfoData buf;
	Oid			typinput;
	Oid			typioparam;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < n; i++)
	{
		int64		first = v[i];

		while (i + 1 < n && (v[i + 1] == v[i] || v[i + 1] == v[i] + 1))
			i++;
		appendStringInfo(&buf, "%s[" INT64_FORMAT ",", buf.len > 1 ? "," : "", first);
		/* the input adds one to an inclusive upper bound: none past the last */
		if (v[i] == PG_INT64_MAX)
			appendStringInfoChar(&buf, ')');
		else
			appendStringInfo(&buf, INT64_FORMAT "]", v[i]);
	}
	appendStringInfoChar(&buf, '}');
	getTypeInputInfo(INT8MULTIRANGEOID, &typinput, &typioparam);
	return OidInputFunctionCall(typinput, buf.data, typioparam, -1);
}

/*
 * Integer keys (integer_keys()): if the parent's keys (astate) form at most
 * MAX_KEY_RUNS runs of consecutive values, as a table's generated keys
 * mostly do, keep those runs in r instead of the array; else, if they are
 * dense enough, a bitmap of them; else, if they form at most
 * MAX_MULTIRANGE_RUNS runs, a multirange of them (above); and return true.
 * A value equals one of the keys exactly when it lies in one of the runs,
 * or its bit is set; two comparisons, a bit or a short binary search cost
 * each row less than a lookup in a hash of hundreds of thousands of keys,
 * and the query is also shorter to send, parse and plan than an array's
 * text on every shard.
 */
static bool
integer_key_filter(RiCitusReader *r, ArrayBuildState *astate)
{
	Oid			ptype = r->ref->parent_types[0];
	int64	   *v;
	int			n = astate->nelems;
	int			nruns = 0;
	uint64		span;

	if (!integer_keys(r->ref) || n == 0)
		return false;
	v = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
		v[i] = ptype == INT2OID ? DatumGetInt16(astate->dvalues[i]) :
			ptype == INT4OID ? DatumGetInt32(astate->dvalues[i]) :
			DatumGetInt64(astate->dvalues[i]);
	qsort(v, n, sizeof(int64), int64_cmp);
	for (int i = 0; i < n; i++)
		if (i == 0 || (v[i] != v[i - 1] && v[i] != v[i - 1] + 1))
			nruns++;
	span = (uint64) v[n - 1] - (uint64) v[0];	/* bits, less one */
	if (nruns <= MAX_KEY_RUNS)
	{
		r->run_first = MemoryContextAlloc(r->cxt, sizeof(int64) * nruns);
		r->run_last = MemoryContextAlloc(r->cxt, sizeof(int64) * nruns);
		r->nruns = 0;
		for (int i = 0; i < n; i++)
		{
			if (i == 0 || (v[i] != v[i - 1] && v[i] != v[i - 1] + 1))
				r->run_first[r->nruns++] = v[i];
			r->run_last[r->nruns - 1] = v[i];
		}
	}
	else if (span < (uint64) MAX_KEYS_BITMAP_BYTES * 8 &&
			 span < (uint64) n * MAX_BITMAP_BITS_A_KEY)
	{
		Size		len = span / 8 + 1;
		bytea	   *bits = MemoryContextAllocZero(r->cxt, VARHDRSZ + len);
		unsigned char *bytes = (unsigned char *) VARDATA(bits);

		SET_VARSIZE(bits, VARHDRSZ + len);
		for (int i = 0; i < n; i++)
		{
			uint64		bit = (uint64) v[i] - (uint64) v[0];

			/* as get_bit() numbers them: bit b of byte n is bit 8n + b */
			bytes[bit / 8] |= (unsigned char) (1 << (bit % 8));
		}
		r->keys_bitmap = PointerGetDatum(bits);
		r->bitmap_first = v[0];
		r->bitmap_last = v[n - 1];
	}
	else if (nruns <= MAX_MULTIRANGE_RUNS)
	{
		MemoryContext old = MemoryContextSwitchTo(r->cxt);

		r->keys_multirange = runs_multirange(v, n);
		MemoryContextSwitchTo(old);
	}
	else
		r->keys_set = integer_key_set(v, n, r->cxt);
	pfree(v);
	return r->nruns > 0 || r->keys_bitmap != (Datum) 0 ||
		r->keys_multirange != (Datum) 0 || r->keys_set != (Datum) 0;
}

/*
 * Do the parent's shards hold disjoint sets of its keys, so that each can
 * count its distinct keys and Citus add the counts up: a hash-distributed
 * table whose distribution column is the key, or a table of one shard (a
 * reference table or a Citus local table)?  (Citus counts the distinct
 * values of another column by bringing each shard's values back.)
 */
static bool
keys_disjoint_on_shards(RiReference *ref)
{
	Datum		args[2];
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	bool		isnull;
	bool		disjoint = false;
	int			nestlevel = ri_own_settings_begin();

	args[0] = ObjectIdGetDatum(ref->parent);
	args[1] = CStringGetTextDatum(ref->parent_columns[0]);
	if (SPI_execute_with_args("SELECT p.partmethod OPERATOR(pg_catalog.=) 'n'"
							  "    OR (p.partmethod OPERATOR(pg_catalog.=) 'h'"
							  "        AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)"
							  "            OPERATOR(pg_catalog.=) $2)"
							  "  FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read how table \"%s\" is distributed",
			 get_rel_name(ref->parent));
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									  &isnull);

		disjoint = !isnull && DatumGetBool(d);
	}
	ri_own_settings_end(nestlevel);
	return disjoint;
}

/*
 * Integer keys that form one run of consecutive values (a generated key
 * without gaps) are known from their least, their greatest and their number,
 * which the shards compute for each other without sending a key back: if
 * the parent's shards hold disjoint keys and they form one run, keep it in
 * r and return true.  As the parent's owner, with pg_catalog's aggregates
 * on the workers (workers_settings_begin()).
 */
static bool
parent_keys_one_run(RiCitusReader *r)
{
	RiReference *ref = r->ref;
	const char *col = quote_identifier(ref->parent_columns[0]);
	StringInfoData buf;
	RiUserState saved;
	int			nestlevel;
	bool		isnull[3];
	int64		least = 0;
	int64		greatest = 0;
	int64		count = 0;

	if (!keys_disjoint_on_shards(ref))
		return false;
	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT pg_catalog.min(x.%s)::pg_catalog.int8,"
					 " pg_catalog.max(x.%s)::pg_catalog.int8,"
					 " pg_catalog.count(DISTINCT x.%s) FROM %s%s x WHERE x.%s IS NOT NULL",
					 col, col, col, ref->only_parent ? "ONLY " : "",
					 ri_qualified_name(ref->parent), col);
	ri_become(r->parent_owner, RI_OWNER_CONTEXT, &saved);
	nestlevel = workers_settings_begin();
	if (SPI_execute(buf.data, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the keys of table \"%s\"", get_rel_name(ref->parent));
	for (int i = 0; i < 3; i++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  i + 1, &isnull[i]);

		if (!isnull[i])
			*(i == 0 ? &least : i == 1 ? &greatest : &count) = DatumGetInt64(d);
	}
	workers_settings_end(nestlevel);
	ri_restore(&saved);

	/* with no overflow: a run of the whole of int64 has more keys than count */
	if (count == 0 || (uint64) greatest - (uint64) least != (uint64) count - 1)
		return false;
	r->run_first = MemoryContextAlloc(r->cxt, sizeof(int64));
	r->run_last = MemoryContextAlloc(r->cxt, sizeof(int64));
	r->run_first[0] = least;
	r->run_last[0] = greatest;
	r->nruns = 1;
	ereport(DEBUG1,
			(errmsg_internal("keys of table \"%s\": one run from " INT64_FORMAT " to " INT64_FORMAT ", counted on its shards",
							 get_rel_name(ref->parent), least, greatest)));
	return true;
}

/*
 * uuid keys (one uuid column on each side, compared by uuid's equality,
 * which is that of their bytes) are scattered by nature: they go as a set
 * of their 16 bytes each, one after the other, which each shard hashes once
 * (ri_policy._uuid_in_keys(), src/shard_filter.c), where the array costs
 * each row PostgreSQL's hashed "= ANY".  Keep the set of the keys in astate
 * in r and return true, unless it would take more than MAX_KEYS_SET_BYTES
 * or this database's ri_policy does not have that function yet.
 */
static bool
uuid_key_set(RiCitusReader *r, ArrayBuildState *astate)
{
	RiReference *ref = r->ref;
	bytea	   *set;
	Size		len = 0;

	if (ref->nkeys != 1 || ref->parent_types[0] != UUIDOID ||
		ref->child_types[0] != UUIDOID || get_opcode(ref->eq_operators[0]) != F_UUID_EQ ||
		(Size) astate->nelems * UUID_LEN > MAX_KEYS_SET_BYTES ||
		(Size) astate->nelems > RI_SET_MAX_UUID_KEYS ||
		!set_function_exists("_uuid_in_keys", UUIDOID))
		return false;
	set = MemoryContextAlloc(r->cxt, VARHDRSZ + (Size) astate->nelems * UUID_LEN);
	for (int i = 0; i < astate->nelems; i++)
	{
		if (astate->dnulls[i])
			continue;
		memcpy(VARDATA(set) + len, DatumGetUUIDP(astate->dvalues[i]), UUID_LEN);
		len += UUID_LEN;
	}
	SET_VARSIZE(set, VARHDRSZ + len);
	r->keys_set = PointerGetDatum(set);
	r->set_of_uuids = true;
	return true;
}

/*
 * Read the parent's keys, as its owner, through Citus, into an array
 * (r->keys_array) that the child's query sends to the workers, where
 *
 *	NOT (c.k OPERATOR(=) ANY ($n))
 *
 * drops each key that one of them equals, by a hash table that each shard
 * builds once from the array (PostgreSQL hashes a constant array's
 * "<> ALL"): several times cheaper per row than NOT IN's hashed subplan over
 * an intermediate result, which Citus would also have to send to every
 * worker first.  The query is the child's owner's, and the parent's keys are
 * only data in it, so the tables may have different owners.  For a key of
 * one column whose collation is its type's (so the array's compare as the
 * column's), with an equality that has a commutator; and only while the
 * keys stay within maintenance_work_mem, as the parent's key set on one
 * node does, and the array within MAX_KEYS_ARRAY_BYTES (integer keys that
 * form few runs are sent as those runs, however many they are, and dense
 * ones as a bitmap, others in few runs as a multirange, and the rest as a
 * set: see integer_key_filter(); uuid keys as a set too: uuid_key_set()).
 * Otherwise the caller falls
 * back to NOT IN, or to reading every child key.  Returns whether the
 * array, the runs, the bitmap or the multirange are there.
 */
static bool
parent_keys_array(RiCitusReader *r)
{
	RiReference *ref = r->ref;
	Oid			childcoll;
	Oid			elemtype = ref->parent_types[0];
	RegProcedure lefthash;
	RegProcedure righthash;
	bool		hashable;
	ArrayBuildState *astate;
	StringInfoData buf;
	Portal		portal;
	RiUserState saved;
	int			nestlevel;
	bool		fits = true;

	if (keys_held(r))
		return true;
	if (ref->nkeys != 1 || !r->comparable ||
		!OidIsValid(get_commutator(ref->eq_operators[0])) ||
		!OidIsValid(get_array_type(elemtype)))
		return false;
	/* PostgreSQL hashes the array only for one hash function on both sides */
	hashable = get_op_hash_functions(ref->eq_operators[0], &lefthash, &righthash) &&
		lefthash == righthash;
	if (!hashable && !integer_keys(ref))
		return false;
	childcoll = ri_child_column_collation(ref, 0);
	if (childcoll != get_typcollation(ref->child_types[0]) ||
		childcoll != get_typcollation(elemtype))
		return false;

	if (integer_keys(ref) && parent_keys_one_run(r))
		return true;

	initStringInfo(&buf);
	append_parent_keys(&buf, ref);
	astate = initArrayResult(elemtype, r->cxt, true);
	ri_become(r->parent_owner, RI_OWNER_CONTEXT, &saved);
	nestlevel = ri_own_settings_begin();
	portal = SPI_cursor_open_with_args(NULL, buf.data, 0, NULL, NULL, NULL, true,
									   CURSOR_OPT_NO_SCROLL);
	while (fits)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc,
										  1, &isnull);

			astate = accumArrayResult(astate, d, isnull, elemtype, r->cxt);
		}
		SPI_freetuptable(SPI_tuptable);
		fits = MemoryContextMemAllocated(astate->mcontext, true) <=
			(Size) maintenance_work_mem * 1024;
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	ri_own_settings_end(nestlevel);
	ri_restore(&saved);
	if (fits && (integer_key_filter(r, astate) || uuid_key_set(r, astate)))
		MemoryContextDelete(astate->mcontext);
	else if (fits && hashable &&
			 MemoryContextMemAllocated(astate->mcontext, true) <= MAX_KEYS_ARRAY_BYTES)
		r->keys_array = makeArrayResult(astate, r->cxt);	/* frees astate */
	else
		MemoryContextDelete(astate->mcontext);
	return keys_held(r);
}

/*
 * Open the reader's cursor and fetch its first batch (into SPI_tuptable),
 * as the child's owner: the distributed query runs then.
 *
 * Where the child and the parent have one owner, the workers filter the
 * keys first, as Citus runs NOT IN: the parent's keys are sent to every
 * shard, which returns only the keys that no parent row equals, grouped,
 * and the count of all its rows.  Each of those is still confirmed against
 * the live parent through the pinned operators (probe.c), so the filter only
 * saves work: for the key types read through Citus (built-in, see
 * citus_child_check), the equality NOT IN resolves is the pinned one, and a
 * key the filter drops has a parent.  The query runs as the child's owner
 * and reads the parent, hence one owner: the parent's owner's code (row
 * security policies, say) never runs as anyone else.  When the owners
 * differ, or the parent's keys may not fit in an intermediate result,
 * every key of the child is read, grouped.
 */
static void
reader_first_fetch(RiCitusReader *r, Datum *after, int batch_size)
{
	RiUserState saved;
	int			nestlevel;

	(void) ri_citus_prefilters(r);
	ri_become(r->scan_user, RI_OWNER_CONTEXT, &saved);
	nestlevel = workers_settings_begin();
	reader_open(r, after, r->prefilter);
	SPI_cursor_fetch(reader_portal(r), true, batch_size);
	workers_settings_end(nestlevel);
	ri_restore(&saved);
}

/*
 * Read the next batch of the child's keys into "group", with their row
 * counts (*rows: their sum).  "batch" counts the batches of this pass: the
 * first of a pass, or of a resumed one, opens the cursor.  Sets *next to
 * the number of the next batch, or InvalidBlockNumber after the last.
 * With "record", saves the batch's last key in ri_policy._progress, to be
 * committed with the batch's results.  Returns why the pass must begin
 * again, having read nothing, or NULL.
 */
const char *
ri_citus_read_batch(RiCitusReader *r, int batch_size, BlockNumber batch,
					bool record, ChildKeyGroup *group, uint64 *rows,
					BlockNumber *next)
{
	RiReference *ref = r->ref;
	Portal		portal = reader_portal(r);
	RiUserState saved;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	uint64		n;

	*rows = 0;
	*next = InvalidBlockNumber;
	if (batch == 0)
	{
		/* a pass (re)starting from the beginning */
		ri_citus_reader_end(r);
		portal = NULL;
	}
	if (!PortalIsValid(portal))
	{
		Datum	   *after = NULL;

		if (batch > 0 && record)
		{
			/* a pass that began on the table's own rows, before Citus */
			after = saved_resume_key(ref);
			if (after == NULL)
				return "it did not record where it stopped in Citus";
		}
		reader_first_fetch(r, after, batch_size);

		/*
		 * The rows the earlier batches checked are counted again, now: the
		 * parent, or the way its keys go to the workers, may have changed
		 * since, and with them which rows the first batch counted.
		 */
		if (after != NULL)
		{
			Datum		args[2];
			Oid			argtypes[2] = {INT8OID, INT8OID};
			SPITupleTable *tuptable = SPI_tuptable;
			uint64		processed = SPI_processed;

			args[0] = Int64GetDatum(ref->id);
			args[1] = Int64GetDatum(r->rows_before);
			ri_exec_as_owner(NULL, "UPDATE ri_policy._progress SET rows_checked = $2"
							 " WHERE reference = $1", 2, argtypes, args, NULL, false);
			SPI_tuptable = tuptable;
			SPI_processed = processed;
		}
	}
	else
	{
		ri_become(r->scan_user, RI_OWNER_CONTEXT, &saved);
		SPI_cursor_fetch(portal, true, batch_size);
		ri_restore(&saved);
	}
	n = SPI_processed;
	for (uint64 k = 0; k < n; k++)
	{
		HeapTuple	tup = SPI_tuptable->vals[k];
		bool		cnull;
		int64		count;

		for (int i = 0; i < ref->nkeys; i++)
			values[i] = SPI_getbinval(tup, SPI_tuptable->tupdesc, i + 1, &isnull[i]);
		count = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc,
											ref->nkeys + 1, &cnull));
		CHECK_FOR_INTERRUPTS();
		/*
		 * The prefiltered query's count of every row it checked (after the
		 * resume key, in a resumed pass).
		 */
		if (isnull[0])
		{
			*rows += count;
			continue;
		}
		childkeys_add(group, values, isnull, count, true);
		if (!r->prefilter)
			*rows += count;
	}

	if (record && childkeys_count(group) > 0)
	{
		HeapTuple	last = SPI_tuptable->vals[n - 1];
		Datum		text[INDEX_MAX_KEYS];
		Datum		args[2];
		Oid			argtypes[2] = {INT8OID, TEXTARRAYOID};
		int			nestlevel;

		ri_become(r->scan_user, RI_OWNER_CONTEXT, &saved);
		nestlevel = ri_fixed_output_begin();
		for (int i = 0; i < ref->nkeys; i++)
			text[i] = CStringGetTextDatum(SPI_getvalue(last, SPI_tuptable->tupdesc, i + 1));
		ri_fixed_output_end(nestlevel);
		ri_restore(&saved);
		args[0] = Int64GetDatum(ref->id);
		args[1] = PointerGetDatum(construct_array(text, ref->nkeys, TEXTOID, -1, false,
												  TYPALIGN_INT));
		SPI_freetuptable(SPI_tuptable);
		ri_exec_as_owner(NULL, "UPDATE ri_policy._progress SET resume_key = $2"
						 " WHERE reference = $1", 2, argtypes, args, NULL, false);
	}
	else
		SPI_freetuptable(SPI_tuptable);
	if (n == (uint64) batch_size)
		*next = batch + 1;
	return NULL;
}

/*
 * May the child's owner, whose queries carry the parent's keys sent to the
 * workers (and who may read those queries back, from its own sessions or
 * Citus's log of remote commands), see every one of them?  Only with
 * SELECT on the parent's key columns, and no row security of the parent's
 * hiding rows from it: REFERENCES alone lets a role test keys one at a
 * time, as a foreign key does, not list them.
 */
static bool
child_owner_reads_parent_keys(RiCitusReader *r)
{
	RiReference *ref = r->ref;

	if (r->scan_user == r->parent_owner)
		return true;
	if (check_enable_rls(ref->parent, r->scan_user, true) == RLS_ENABLED)
		return false;
	if (pg_class_aclcheck(ref->parent, r->scan_user, ACL_SELECT) == ACLCHECK_OK)
		return true;
	for (int i = 0; i < ref->nkeys; i++)
	{
		AttrNumber	attnum = get_attnum(ref->parent, ref->parent_columns[i]);

		if (attnum == InvalidAttrNumber ||
			pg_attribute_aclcheck(ref->parent, attnum, r->scan_user,
								  ACL_SELECT) != ACLCHECK_OK)
			return false;
	}
	return true;
}

/*
 * Will the workers drop the keys that have a parent (reader_first_fetch)?
 * Then the parent's key set saves nothing.
 */
bool
ri_citus_prefilters(RiCitusReader *r)
{
	if (!r->fit_checked && child_owner_reads_parent_keys(r) && parent_keys_array(r))
		r->prefilter = true;
	else if (r->prefilter && !r->fit_checked)
	{
		RiUserState saved;

		/* the filter reads the parent with row security off: see reader_open */
		ri_become(r->scan_user, RI_OWNER_CONTEXT, &saved);
		r->prefilter = parent_keys_fit(r->ref) &&
			check_enable_rls(r->ref->parent, InvalidOid, true) != RLS_ENABLED;
		ri_restore(&saved);
	}
	r->fit_checked = true;
	return r->prefilter;
}

/*
 * Fill the parent's key set from a Citus parent, through Citus, as the
 * parent's owner.  Returns false when the set outgrew its limit.
 */
bool
ri_citus_parent_keys(RiReference *ref, ParentKeySet *set)
{
	StringInfoData buf;
	Portal		portal;
	bool		complete = true;
	Datum		values[INDEX_MAX_KEYS];
	int			nestlevel;

	initStringInfo(&buf);
	append_parent_keys(&buf, ref);

	nestlevel = ri_own_settings_begin();
	portal = SPI_cursor_open_with_args(NULL, buf.data, 0, NULL, NULL, NULL, true,
									   CURSOR_OPT_NO_SCROLL);
	while (complete)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 k = 0; complete && k < SPI_processed; k++)
		{
			for (int i = 0; i < ref->nkeys; i++)
			{
				bool		isnull;

				values[i] = SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc,
										  i + 1, &isnull);
			}
			complete = keyset_add(set, values);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	ri_own_settings_end(nestlevel);
	return complete;
}

/*
 * The probe of a Citus parent (see ri_probe_prepare): the parent keys that
 * match the batch's, fetched with "= ANY", which Citus prunes to their
 * shards, then the batch's keys without one among them:
 *
 *	WITH x AS MATERIALIZED (SELECT x.pk1, ... FROM [ONLY] parent x
 *							WHERE x.pk1 OPERATOR(op1) ANY ($1) AND ...)
 *	SELECT u.i FROM ROWS FROM (unnest($1), ...) WITH ORDINALITY u(k1, ..., i)
 *	 WHERE NOT EXISTS (SELECT 1 FROM x WHERE x.pk1 OPERATOR(op1) u.k1 AND ...)
 *
 * Citus cannot run the correlated form against a distributed table.
 */
void
ri_citus_probe_sql(StringInfo buf, RiReference *ref, const Oid *keytypes)
{
	appendStringInfoString(buf, "WITH x AS MATERIALIZED (SELECT ");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(buf, "%sx.%s", i > 0 ? ", " : "",
						 quote_identifier(ref->parent_columns[i]));
	appendStringInfo(buf, " FROM %s%s x WHERE ", ref->only_parent ? "ONLY " : "",
					 ri_qualified_name(ref->parent));
	for (int i = 0; i < ref->nkeys; i++)
	{
		Oid			left;
		Oid			right;

		/* the array's elements are of the operator's input type already */
		op_input_types(ref->eq_operators[i], &left, &right);
		if (i > 0)
			appendStringInfoString(buf, " AND ");
		generate_operator_clause(buf, psprintf("x.%s", quote_identifier(ref->parent_columns[i])),
								 ref->parent_types[i], ref->eq_operators[i],
								 psprintf("ANY ($%d)", i + 1), right);
	}
	appendStringInfoString(buf, ") SELECT u.i FROM ");
	ri_append_key_rows(buf, ref->nkeys, "u");
	appendStringInfoString(buf, " WHERE NOT EXISTS (SELECT 1 FROM x WHERE ");
	for (int i = 0; i < ref->nkeys; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, " AND ");
		generate_operator_clause(buf, psprintf("x.%s", quote_identifier(ref->parent_columns[i])),
								 ref->parent_types[i], ref->eq_operators[i],
								 psprintf("u.k%d", i + 1), keytypes[i]);
	}
	appendStringInfoChar(buf, ')');
}
