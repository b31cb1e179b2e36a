/*-------------------------------------------------------------------------
 *
 * track.c
 *		Incremental tracking: ri_policy.track() and the trigger that records
 *		the keys a statement changed.
 *
 * Tracking a reference puts statement-level AFTER triggers with transition
 * tables on both tables: INSERT, UPDATE, DELETE and TRUNCATE of either (a
 * child's INSERT or UPDATE can add an orphan, a parent's DELETE or UPDATE
 * too; the others can make one disappear, which a pass must also see).  A
 * child's DELETE can only shrink the recorded violations, so it records no
 * keys, just that it happened (an entry with no keys, and no transition
 * table to fill): the next pass re-checks the recorded violations.
 * Statement-level, because a row-level
 * trigger would cost a function call per row of a bulk load; with transition
 * tables one call sees all of a statement's rows.  The trigger reads no
 * other table and locks nothing (but for a look at ri_policy._progress, see
 * "Full passes under way"): it counts each key's rows in the new and
 * old transition tables, keeps the keys whose count changed (so an UPDATE
 * that leaves the key alone records nothing, unless a full pass is under
 * way: see below), and appends those keys, as the
 * text of their values, in one row per statement to ri_policy._changed with
 * a plain heap insert (no SPI, no index, no WAL: the table is unlogged),
 * marked with the side it came from.  TRUNCATE records a marker that makes
 * the next validation a full pass.
 *
 * The triggers fire ALWAYS, so that writes under session_replication_role
 * = replica are recorded too.  What they cannot see makes passes full
 * instead: states that a pass checks when it begins (ri_track_gap(): a
 * trigger missing or not firing ALWAYS, partitions and inheritance, a
 * subscription's apply worker, which fires no statement triggers), and
 * DDL followed as it happens (follow.c), which forgets that the change log
 * is complete (ri_track_forget()).
 *
 * The triggers belong to the reference's id, not its name: they are named
 * ri_policy_track_<id>_<side><event>, take the id as their first argument
 * (which also keys the change log), and are found by the function they call
 * and that argument, never by their names (which any role that may create
 * triggers on the table can choose).
 *
 * The next validate() of a tracked reference re-checks only those keys
 * (validate.c).  Finding the child rows of a key deleted from the parent
 * needs an index on the child's reference columns to be fast; track()
 * says so when there is none.
 *
 * src/track.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_subscription_rel.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "port/pg_bitutils.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "citus.h"
#include "compat.h"
#include "keyset.h"
#include "reference.h"

PG_FUNCTION_INFO_V1(ri_policy_track);
PG_FUNCTION_INFO_V1(ri_policy_track_trigger);
PG_FUNCTION_INFO_V1(ri_policy_track_triggers);

/* Events tracked, with the transition tables each needs */
typedef struct TrackEvent
{
	bool		on_child;
	const char *event;
	const char *referencing;
	char		tag;			/* last letter of the trigger's name */
	int16		type;			/* its event in pg_trigger.tgtype */
} TrackEvent;

static const TrackEvent track_events[] = {
	{true, "INSERT", "REFERENCING NEW TABLE AS ri_new", 'i', TRIGGER_TYPE_INSERT},
	{true, "UPDATE", "REFERENCING OLD TABLE AS ri_old NEW TABLE AS ri_new", 'u', TRIGGER_TYPE_UPDATE},
	{true, "DELETE", "", 'd', TRIGGER_TYPE_DELETE},	/* see below */
	{true, "TRUNCATE", "", 't', TRIGGER_TYPE_TRUNCATE},
	{false, "INSERT", "REFERENCING NEW TABLE AS ri_new", 'i', TRIGGER_TYPE_INSERT},
	{false, "UPDATE", "REFERENCING OLD TABLE AS ri_old NEW TABLE AS ri_new", 'u', TRIGGER_TYPE_UPDATE},
	{false, "DELETE", "REFERENCING OLD TABLE AS ri_old", 'd', TRIGGER_TYPE_DELETE},
	{false, "TRUNCATE", "", 't', TRIGGER_TYPE_TRUNCATE},
};

/*
 * Set while ri_policy itself creates tracking triggers, whose ALTER TABLE
 * ... ENABLE ALWAYS TRIGGER the DDL follower must not take for a user's.
 */
static int	own_trigger_ddl = 0;

/*
 * The trigger function, ri_policy._track_trigger(), or InvalidOid if the
 * extension has none.  Nobody else may use it in a trigger (it is not
 * PUBLIC), so a trigger that calls it, with a reference's id as its first
 * argument, is that reference's.
 */
static Oid
track_function(void)
{
	List	   *name = list_make2(makeString("ri_policy"), makeString("_track_trigger"));

	if (!OidIsValid(get_namespace_oid("ri_policy", true)))
		return InvalidOid;
	return LookupFuncName(name, 0, NULL, true);
}

/*
 * Argument n (from 0) of a pg_trigger row, or NULL if it has fewer.  tgargs
 * holds them one after another, each ending in a NUL byte.
 */
static char *
trigger_arg(HeapTuple tup, TupleDesc desc, int n)
{
	Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);
	bool		isnull;
	bytea	   *args;
	char	   *p;
	char	   *end;

	if (n >= tg->tgnargs)
		return NULL;
	args = DatumGetByteaPP(heap_getattr(tup, Anum_pg_trigger_tgargs, desc, &isnull));
	if (isnull)
		return NULL;
	p = VARDATA_ANY(args);
	end = p + VARSIZE_ANY_EXHDR(args);
	for (int i = 0; i < n && p < end; i++)
		p += strnlen(p, end - p) + 1;
	if (p >= end)
		return NULL;
	return pnstrdup(p, strnlen(p, end - p));
}

/* A tracking trigger as pg_trigger has it */
typedef struct TrackTrigger
{
	char	   *name;
	bool		on_child;		/* records the child's changes */
	int16		type;			/* pg_trigger.tgtype */
	char		enabled;		/* pg_trigger.tgenabled */
} TrackTrigger;

/*
 * The tracking triggers of a reference on one table (TrackTriggers, in a
 * list), or of any reference if id is 0, found by their function and
 * arguments, never by name: any role that can create triggers on the table
 * can choose their names.  Read from the catalog, not the table's relcache
 * entry: no lock on the table.
 */
static List *
tracking_triggers(Oid relid, int64 id)
{
	Oid			fn = track_function();
	char	   *idstr = psprintf(INT64_FORMAT, id);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *found = NIL;

	if (!OidIsValid(fn))
		return NIL;
	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);
		TrackTrigger *t;
		char	   *first;
		char	   *side;

		if (tg->tgfoid != fn)
			continue;
		first = trigger_arg(tup, RelationGetDescr(rel), 0);
		if (id != 0 && (first == NULL || strcmp(first, idstr) != 0))
			continue;
		/* the side is the third argument from 0.4 on (an odd count) */
		side = (tg->tgnargs % 2) ? trigger_arg(tup, RelationGetDescr(rel), 2) : NULL;
		t = palloc(sizeof(TrackTrigger));
		t->name = pstrdup(NameStr(tg->tgname));
		t->on_child = side != NULL && strcmp(side, "child") == 0;
		t->type = tg->tgtype;
		t->enabled = tg->tgenabled;
		found = lappend(found, t);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Drop the tracking triggers of a reference from both tables (those that
 * still exist), or from only_rel if valid.  Runs as the extension's owner:
 * the caller may be dropping the other table, and these are ri_policy's
 * own triggers.
 */
static void
drop_triggers(RiReference *ref, Oid only_rel)
{
	Oid			rels[2] = {ref->child, ref->parent};
	StringInfoData sql;
	RiUserState saved;
	int			nestlevel;

	initStringInfo(&sql);
	SPI_connect();
	ri_become(ri_extension_owner(), SECURITY_LOCAL_USERID_CHANGE, &saved);
	nestlevel = ri_own_settings_begin();
	for (int r = 0; r < lengthof(rels); r++)
	{
		ListCell   *lc;

		if ((OidIsValid(only_rel) && rels[r] != only_rel) ||
			(r == 1 && rels[1] == rels[0]))
			continue;
		foreach(lc, tracking_triggers(rels[r], ref->id))
		{
			TrackTrigger *t = lfirst(lc);

			resetStringInfo(&sql);
			appendStringInfo(&sql, "DROP TRIGGER %s ON %s",
							 quote_identifier(t->name), ri_qualified_name(rels[r]));
			if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "could not run \"%s\"", sql.data);
		}
	}
	ri_own_settings_end(nestlevel);
	ri_restore(&saved);
	SPI_finish();
}

void
ri_untrack(RiReference *ref)
{
	drop_triggers(ref, InvalidOid);
}

/*
 * Make a tracking trigger fire ALWAYS (in SPI, as the extension's owner,
 * inside own_trigger_ddl).
 */
static void
enable_always(Oid relid, const char *tgname)
{
	char	   *sql = psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s",
							   ri_qualified_name(relid), quote_identifier(tgname));

	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not run \"%s\"", sql);
	pfree(sql);
}

/*
 * Create the tracking triggers of a reference on both tables, or on only_rel
 * if valid, as the extension's owner (the trigger function is not PUBLIC).
 * They are named by the reference's id, and their arguments are the id and
 * the key columns as they are now.  They fire ALWAYS, so that writes under
 * session_replication_role = replica are recorded too.
 */
static void
create_triggers(RiReference *ref, Oid only_rel)
{
	StringInfoData sql;
	RiUserState owner;
	int			nest;

	initStringInfo(&sql);
	SPI_connect();
	ri_become(ri_extension_owner(), SECURITY_LOCAL_USERID_CHANGE, &owner);
	nest = ri_own_settings_begin();
	own_trigger_ddl++;
	PG_TRY();
	{
		for (int e = 0; e < lengthof(track_events); e++)
		{
			const TrackEvent *ev = &track_events[e];
			Oid			rel = ev->on_child ? ref->child : ref->parent;
			char		tgname[NAMEDATALEN];

			if (OidIsValid(only_rel) && rel != only_rel)
				continue;
			snprintf(tgname, sizeof(tgname), "ri_policy_track_" INT64_FORMAT "_%c%c",
					 ref->id, ev->on_child ? 'c' : 'p', ev->tag);
			resetStringInfo(&sql);
			appendStringInfo(&sql,
							 "CREATE TRIGGER %s AFTER %s ON %s %s FOR EACH STATEMENT"
							 " EXECUTE FUNCTION ri_policy._track_trigger('" INT64_FORMAT "', %s, %s",
							 quote_identifier(tgname), ev->event, ri_qualified_name(rel),
							 ev->referencing, ref->id,
							 quote_literal_cstr(ref->match_full ? "full" : "simple"),
							 quote_literal_cstr(ev->on_child ? "child" : "parent"));
			/* the key's columns in this table, by number and by name */
			for (int i = 0; i < ref->nkeys; i++)
			{
				char	   *column = ev->on_child ? ref->child_columns[i] :
					ref->parent_columns[i];

				appendStringInfo(&sql, ", '%d', %s", get_attnum(rel, column),
								 quote_literal_cstr(column));
			}
			appendStringInfoChar(&sql, ')');
			if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "could not run \"%s\"", sql.data);
			enable_always(rel, tgname);
		}
	}
	PG_FINALLY();
	{
		own_trigger_ddl--;
	}
	PG_END_TRY();
	ri_own_settings_end(nest);
	ri_restore(&owner);
	SPI_finish();
}

/*
 * Is the ALTER TABLE now under way one of ri_policy's own (enabling the
 * triggers it has just created)?
 */
bool
ri_track_own_ddl(void)
{
	return own_trigger_ddl > 0;
}

/*
 * ALTER TABLE ... ENABLE TRIGGER (by name, ALL or USER) just enabled the
 * tracking triggers of a table: as track() created them, ALWAYS, so that
 * writes under session_replication_role = replica are recorded too (a
 * plain ENABLE would fire them only outside it).  With tgname, only that
 * trigger.
 */
void
ri_track_enable_always(Oid relid, const char *tgname)
{
	ListCell   *lc;
	RiUserState owner;
	int			nest;

	SPI_connect();
	ri_become(ri_extension_owner(), SECURITY_LOCAL_USERID_CHANGE, &owner);
	nest = ri_own_settings_begin();
	own_trigger_ddl++;
	PG_TRY();
	{
		foreach(lc, tracking_triggers(relid, 0))
		{
			TrackTrigger *t = lfirst(lc);

			if (t->enabled != TRIGGER_FIRES_ON_ORIGIN ||
				(tgname != NULL && strcmp(t->name, tgname) != 0))
				continue;
			enable_always(relid, t->name);
		}
	}
	PG_FINALLY();
	{
		own_trigger_ddl--;
	}
	PG_END_TRY();
	ri_own_settings_end(nest);
	ri_restore(&owner);
	SPI_finish();
}

/*
 * Does a table carry tracking triggers (of any reference), or, given a
 * trigger's name, is that trigger one of them?  Cheap: one index scan of
 * pg_trigger, and no lock on the table.
 */
bool
ri_track_table_tracked(Oid relid, const char *tgname)
{
	ListCell   *lc;

	foreach(lc, tracking_triggers(relid, 0))
	{
		TrackTrigger *t = lfirst(lc);

		if (tgname == NULL || strcmp(t->name, tgname) == 0)
			return true;
	}
	return false;
}

/* Is a table the target of a logical replication subscription? */
static bool
subscription_target(Oid relid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	rel = table_open(SubscriptionRelRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_subscription_rel_srrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, SubscriptionRelSrrelidSrsubidIndexId, true,
							  NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Can the tracking triggers of a reference see every change of its keys,
 * as things are now?  NULL if so; otherwise why not, and in *hint (if not
 * NULL) what to do about it, if anything.  Not when:
 *
 * - one of its eight triggers is missing, or does not fire ALWAYS (a
 *   disabled trigger records nothing; an ENABLE [REPLICA] one misses
 *   writes under session_replication_role = replica, or all others);
 * - either table has partitions or inheritance children (rows written
 *   straight into those escape triggers on the named table) or is one
 *   (rows written through its parent escape its own);
 * - either table is a logical replication subscription target: the apply
 *   worker fires no statement triggers;
 * - a key column is a virtual generated column, which triggers do not see
 *   computed.
 *
 * Each is a state that a pass can see when it begins; a full pass begun
 * in one does not vouch for the change log (validate.c), and ALTER TABLE
 * that enters or leaves one is followed as it happens (follow.c).
 */
char *
ri_track_gap(RiReference *ref, const char **hint)
{
	Oid			rels[2] = {ref->child, ref->parent};
	bool		seen[lengthof(track_events)] = {0};

	if (hint)
		*hint = NULL;
	for (int r = 0; r < 2; r++)
	{
		const char *name = get_rel_name(rels[r]);

		if (has_superclass(rels[r]))
			return psprintf("table \"%s\" is a partition or an inheritance child, whose rows can be written through its parent, past its triggers",
							name);
		if (has_subclass(rels[r]))
			return psprintf("table \"%s\" has partitions or inheritance children, whose rows can be written past its triggers",
							name);
		if (subscription_target(rels[r]))
			return psprintf("table \"%s\" is a logical replication subscription target, and the apply worker fires no statement triggers",
							name);
	}
	for (int i = 0; i < ref->nkeys; i++)
	{
		if (compat_attr_is_virtual(ref->child, ref->child_columns[i]))
			return psprintf("key column \"%s\" of table \"%s\" is a virtual generated column, which triggers do not see",
							ref->child_columns[i], get_rel_name(ref->child));
	}

	for (int r = 0; r < 2; r++)
	{
		ListCell   *lc;

		if (r == 1 && rels[1] == rels[0])
			break;
		foreach(lc, tracking_triggers(rels[r], ref->id))
		{
			TrackTrigger *t = lfirst(lc);

			for (int e = 0; e < lengthof(track_events); e++)
			{
				const TrackEvent *ev = &track_events[e];

				if ((ev->on_child ? ref->child : ref->parent) != rels[r] ||
					ev->on_child != t->on_child || !(t->type & ev->type))
					continue;
				if (t->enabled != TRIGGER_FIRES_ALWAYS)
				{
					if (hint)
						*hint = psprintf("Enable it with ALTER TABLE ... ENABLE TRIGGER (which enables a tracking trigger ALWAYS), or run ri_policy.track('%s') again.",
										 ri_reference_address(ref));
					return psprintf("its tracking trigger \"%s\" on table \"%s\" %s",
									t->name, get_rel_name(rels[r]),
									t->enabled == TRIGGER_DISABLED ? "is disabled" :
									t->enabled == TRIGGER_FIRES_ON_REPLICA ?
									"fires only under session_replication_role = replica" :
									"does not fire under session_replication_role = replica");
				}
				seen[e] = true;
			}
		}
	}
	for (int e = 0; e < lengthof(track_events); e++)
	{
		if (!seen[e])
		{
			if (hint)
				*hint = psprintf("Run ri_policy.track('%s') again to create the tracking triggers again.",
								 ri_reference_address(ref));
			return psprintf("its tracking trigger for %s on table \"%s\" is missing",
							track_events[e].event,
							get_rel_name(track_events[e].on_child ? ref->child : ref->parent));
		}
	}
	return NULL;
}

/*
 * Something happened that tracking cannot see, on these tables (any key
 * column) or to these references: the change log of each tracked one may
 * be incomplete.  Forget that it is complete (its sentinel), so that its
 * next pass is full, and record why for validation_progress.  A marker in
 * the log does the same for an incremental pass already under way, which
 * may put the sentinel back when it ends (validate.c takes a marker as a
 * TRUNCATE).  Runs as the extension's owner, in the caller's transaction;
 * the caller has connected to SPI.
 */
void
ri_track_forget(Oid *rels, int nrels, int64 *ids, int nids, const char *why)
{
	Datum		args[3];
	Oid			argtypes[3] = {OIDARRAYOID, INT8ARRAYOID, TEXTOID};
	Datum	   *relds = palloc((nrels + 1) * sizeof(Datum));
	Datum	   *idds = palloc((nids + 1) * sizeof(Datum));

	for (int i = 0; i < nrels; i++)
		relds[i] = ObjectIdGetDatum(rels[i]);
	for (int i = 0; i < nids; i++)
		idds[i] = Int64GetDatum(ids[i]);
	args[0] = PointerGetDatum(construct_array(relds, nrels, OIDOID, sizeof(Oid),
											  true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(idds, nids, INT8OID, sizeof(int64),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = CStringGetTextDatum(why);
	(void) ri_exec_as_owner(NULL,
							"WITH r AS (SELECT id FROM ri_policy._reference"
							"            WHERE tracked_since IS NOT NULL"
							"              AND (child::pg_catalog.oid = ANY ($1)"
							"                   OR parent::pg_catalog.oid = ANY ($1)"
							"                   OR id = ANY ($2))),"
							" s AS (DELETE FROM ri_policy._sentinel s USING r"
							"        WHERE s.reference = r.id),"
							" c AS (INSERT INTO ri_policy._changed (reference, keys)"
							"        SELECT id, NULL FROM r),"
							" p AS (UPDATE ri_policy._progress p SET why_full = $3"
							"         FROM r WHERE p.reference = r.id)"
							" SELECT id FROM r",
							3, argtypes, args, NULL, false);
}

/*
 * A pass of a reference is full rather than incremental, because "why":
 * say so with a NOTICE (unless asked), and in validation_progress.why_full
 * of a tracked reference.  The caller has connected to SPI.
 */
void
ri_track_note_full(RiReference *ref, const char *why, const char *hint,
				   bool notice)
{
	Datum		args[2];
	Oid			argtypes[2] = {INT8OID, TEXTOID};

	if (notice)
		ereport(NOTICE,
				(errmsg("reference \"%s\" gets a full pass: %s", ref->name, why),
				 hint ? errhint("%s", hint) : 0));
	args[0] = Int64GetDatum(ref->id);
	args[1] = CStringGetTextDatum(why);
	(void) ri_exec_as_owner(NULL,
							"UPDATE ri_policy._progress p SET why_full = $2"
							"  FROM ri_policy._reference r"
							" WHERE p.reference = $1 AND r.id = $1"
							"   AND r.tracked_since IS NOT NULL",
							2, argtypes, args, NULL, false);
}

/*
 * After a key column of rel was renamed: its tracking triggers name the
 * columns again as they are now (a later column could take the old name).
 * What was recorded stays valid, unless the triggers could not see every
 * change before (they come back enabled, ALWAYS, and all eight).
 */
void
ri_retrack_table(RiReference *ref, Oid rel)
{
	char	   *gap = ri_track_gap(ref, NULL);

	drop_triggers(ref, rel);
	create_triggers(ref, rel);
	if (gap != NULL)
	{
		SPI_connect();
		ri_track_forget(NULL, 0, &ref->id, 1, gap);
		SPI_finish();
	}
}

/*
 * Is there an index on the child whose leading columns are the reference's
 * columns (in any order)?  Without one, finding the children of a deleted
 * parent key means reading the child.
 */
static bool
child_has_index(RiReference *ref)
{
	Relation	rel = table_open(ref->child, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index ind = (Form_pg_index) GETSTRUCT(tup);
		bool		covers = ind->indnkeyatts >= ref->nkeys &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL);

		for (int i = 0; i < ref->nkeys && covers; i++)
		{
			AttrNumber	attnum = get_attnum(ref->child, ref->child_columns[i]);
			bool		present = false;

			for (int j = 0; j < ref->nkeys; j++)
				present |= (ind->indkey.values[j] == attnum);
			covers = present;
		}
		found |= covers;
		ReleaseSysCache(tup);
	}
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * track(reference text, enabled boolean) returns void
 */
Datum
ri_policy_track(PG_FUNCTION_ARGS)
{
	bool		enabled;
	RiReference *ref;
	Datum		args[2];
	Oid			argtypes[2] = {INT8OID, BOOLOID};
	RiUserState saved;
	int			nestlevel;
	AclResult	aclresult;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(0) ? "reference" : "enabled")));
	enabled = PG_GETARG_BOOL(1);
	ri_require_current_objects();

	ref = ri_resolve_reference(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (OidIsValid(ref->conoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a foreign key constraint, not a declared reference", ref->name),
				 errhint("Only declared references are tracked; a foreign key checks its own rows.")));
	ri_require_child_owner(ref);
	aclresult = pg_class_aclcheck(ref->parent, GetUserId(), ACL_TRIGGER);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(ref->parent)),
					   get_rel_name(ref->parent));

	if (enabled)
		(void) ri_refuse_rows_elsewhere(ref, RI_USE_TRACK, "track", ERROR);
	ri_untrack(ref);
	if (enabled)
	{
		const char *inexact = ri_incremental_inexact(ref);

		create_triggers(ref, InvalidOid);
		if (inexact != NULL)
			ereport(NOTICE,
					(errmsg("reference \"%s\" is validated by full passes only", ref->name),
					 errdetail_internal("%s", inexact),
					 errhint("Tracking it saves no work: ri_policy.track() with enabled => false stops it.")));
		if (!child_has_index(ref))
			ereport(NOTICE,
					(errmsg("table \"%s\" has no index on the columns of reference \"%s\"",
							get_rel_name(ref->child), ref->name),
					 errdetail("After a parent key is deleted or changed, validation must find its child rows; without an index it reads the whole table."),
					 errhint("Create an index on %s (%s).", get_rel_name(ref->child),
							 ref->child_columns[0])));
	}

	/* record since when the reference is tracked, and forget old changes */
	args[0] = Int64GetDatum(ref->id);
	args[1] = BoolGetDatum(enabled);
	SPI_connect();
	ri_become(ri_extension_owner(), SECURITY_LOCAL_USERID_CHANGE, &saved);
	nestlevel = ri_own_settings_begin();
	if (SPI_execute_with_args("WITH c AS (DELETE FROM ri_policy._changed WHERE reference = $1)"
							  " UPDATE ri_policy._reference"
							  "    SET tracked_since = CASE WHEN $2 THEN pg_catalog.clock_timestamp() END"
							  "  WHERE id = $1",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record tracking of \"%s\"", ref->name);
	ri_own_settings_end(nestlevel);
	ri_restore(&saved);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ri_policy._track_triggers(reference bigint) returns void: create the
 * tracking triggers of a tracked reference again, under the current naming,
 * keeping what it recorded (ALTER EXTENSION UPDATE; not PUBLIC).
 */
Datum
ri_policy_track_triggers(PG_FUNCTION_ARGS)
{
	RiReference *ref;
	Datum		arg;
	Oid			argtype = INT8OID;
	bool		tracked;
	char	   *gap;

	ri_require_current_objects();
	ref = ri_load_reference_id(PG_GETARG_INT64(0));
	if (OidIsValid(ref->conoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a foreign key constraint, not a declared reference", ref->name)));
	arg = Int64GetDatum(ref->id);
	SPI_connect();
	(void) ri_exec_as_owner(NULL, "SELECT tracked_since IS NOT NULL FROM ri_policy._reference"
							" WHERE id = $1", 1, &argtype, &arg, NULL, true);
	tracked = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &tracked));
	SPI_finish();
	if (!tracked)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("reference \"%s\" is not tracked", ref->name)));

	/*
	 * Triggers that could not see every change (dropped or disabled, say)
	 * leave a log that is not complete; an update of the extension replaces
	 * its own under locks, and keeps it.
	 */
	gap = creating_extension ? NULL : ri_track_gap(ref, NULL);
	ri_untrack(ref);
	create_triggers(ref, InvalidOid);
	if (gap != NULL)
	{
		SPI_connect();
		ri_track_forget(NULL, 0, &ref->id, 1, gap);
		SPI_finish();
	}
	PG_RETURN_VOID();
}

/*
 * Count the rows of each key of a transition table, with the given sign.
 */
static void
count_keys(ChildKeyGroup *group, Tuplestorestate *store, TupleDesc desc,
		   int nkeys, AttrNumber *attnums, bool match_full, int sign)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	tuplestore_rescan(store);
	while (tuplestore_gettupleslot(store, true, false, slot))
	{
		int			nnulls = 0;

		for (int i = 0; i < nkeys; i++)
		{
			values[i] = slot_getattr(slot, attnums[i], &isnull[i]);
			nnulls += isnull[i];
		}
		/* keys that are never checked (see validate.c) need no tracking */
		if (nnulls == nkeys || (nnulls > 0 && !match_full))
			continue;
		childkeys_add(group, values, isnull, sign, true);
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * The keys of one pass-by-value column, in a hash table of Datums: most
 * references are a single integer column, and a bulk load's trigger spends
 * its time here.  Equal images are equal keys, as in childkeys_add().
 *
 * An UPDATE's keys are counted, +1 for each new row and -1 for each old
 * one.  The keys of an INSERT or a DELETE all changed: they are a set, kept
 * as 64-bit words of a bitmap of the Datums' values (entry "key" holds value
 * >> 6), so that the dense keys of a bulk load share few entries.
 */
typedef struct ByvalKey
{
	Datum		key;			/* a key; in a set, value >> 6 */
	uint64		bits;			/* in a set: values (key << 6) + 0 ... 63 */
	int64		rows;			/* counted: rows of the key */
	char		status;
} ByvalKey;

static inline uint32
datum_hash(Datum key)
{
	uint64		h = (uint64) key;

	/* the finalizer of MurmurHash3 */
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (uint32) h;
}

#define SH_PREFIX byvalkeys
#define SH_ELEMENT_TYPE ByvalKey
#define SH_KEY_TYPE Datum
#define SH_KEY key
#define SH_HASH_KEY(tb, k) datum_hash(k)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Add a transition table's keys: to a set (sign 0), or counted. */
static void
add_byval_keys(byvalkeys_hash *keys, Tuplestorestate *store, TupleDesc desc,
			   AttrNumber attnum, int sign)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	tuplestore_rescan(store);
	while (tuplestore_gettupleslot(store, true, false, slot))
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, attnum, &isnull);
		ByvalKey   *entry;
		bool		found;

		/* a NULL single-column key is never checked */
		if (isnull)
			continue;
		if (sign == 0)
		{
			entry = byvalkeys_insert(keys, value >> 6, &found);
			entry->bits = (found ? entry->bits : 0) | (UINT64CONST(1) << (value & 63));
		}
		else
		{
			entry = byvalkeys_insert(keys, value, &found);
			entry->rows = (found ? entry->rows : 0) + sign;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * The keys of a statement's transition tables whose number of rows changed
 * (with all_keys, every key in them), column after column into *values and
 * *isnull; returns how many.
 */
static int
changed_keys(TriggerData *trigdata, int nkeys, AttrNumber *attnums,
			 Oid *types, bool match_full, bool all_keys, Datum **values,
			 bool **isnull)
{
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	Tuplestorestate *stores[2] = {trigdata->tg_newtable, trigdata->tg_oldtable};
	int			n = 0;

	if (nkeys == 1 && TupleDescAttr(desc, attnums[0] - 1)->attbyval)
	{
		bool		counted = stores[0] && stores[1] && !all_keys;
		int64		nrows = 0;
		byvalkeys_hash *keys;
		byvalkeys_iterator it;
		ByvalKey   *entry;

		for (int s = 0; s < 2; s++)
			if (stores[s])
				nrows += tuplestore_tuple_count(stores[s]);
		keys = byvalkeys_create(CurrentMemoryContext, Min(Max(nrows, 8), 1024), NULL);
		for (int s = 0; s < 2; s++)
			if (stores[s])
				add_byval_keys(keys, stores[s], desc, attnums[0], counted ? (s ? -1 : 1) : 0);

		/* counted keys, or a set's entries of up to 64 keys each */
		byvalkeys_start_iterate(keys, &it);
		while ((entry = byvalkeys_iterate(keys, &it)) != NULL)
			n += counted ? (entry->rows != 0) : pg_popcount64(entry->bits);
		*values = palloc((n + 1) * sizeof(Datum));
		*isnull = palloc0((n + 1) * sizeof(bool));
		n = 0;
		byvalkeys_start_iterate(keys, &it);
		while ((entry = byvalkeys_iterate(keys, &it)) != NULL)
		{
			if (counted && entry->rows != 0)
				(*values)[n++] = entry->key;
			for (int b = 0; !counted && b < 64; b++)
				if (entry->bits & (UINT64CONST(1) << b))
					(*values)[n++] = (entry->key << 6) | b;
		}
		return n;
	}
	else
	{
		ChildKeyGroup *group = childkeys_create(nkeys, types, CurrentMemoryContext);

		for (int s = 0; s < 2; s++)
			if (stores[s])
				count_keys(group, stores[s], desc, nkeys, attnums, match_full,
						   s && !all_keys ? -1 : 1);
		*values = palloc((childkeys_count(group) * nkeys + 1) * sizeof(Datum));
		*isnull = palloc((childkeys_count(group) * nkeys + 1) * sizeof(bool));
		for (ChildKey *key = childkeys_first(group); key != NULL; key = key->next)
		{
			if (key->rows == 0)
				continue;
			for (int i = 0; i < nkeys; i++, n++)
			{
				(*values)[n] = key->values[i];
				(*isnull)[n] = key->isnull[i];
			}
		}
		return n / nkeys;
	}
}

/*
 * Where a reference's change log entries go: its hash partition of
 * ri_policy._changed, chosen as PostgreSQL's tuple routing would
 * (get_partition_for_tuple()); before version 0.4, the table itself.  The
 * log is keyed by the reference's id, and was by its name before 0.5: a
 * new library runs the old objects' triggers until ALTER EXTENSION UPDATE.
 * The log's OID is remembered until a relcache invalidation of it (its
 * drop, with the extension's), and the partition of the reference last
 * asked about too.
 */
static Oid	changed_relid = InvalidOid;
static Oid	changed_keytype = InvalidOid;
static char *cached_reference = NULL;
static Oid	cached_partition = InvalidOid;

static void forget_passes(Oid relid);

static void
forget_changed(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == changed_relid || relid == cached_partition)
	{
		changed_relid = InvalidOid;
		cached_partition = InvalidOid;
	}
	forget_passes(relid);
}

/*
 * The log's key for a trigger's first argument: the id, or (before 0.5) the
 * name.  False if it is not an id where the log wants one: a trigger older
 * than the log's objects.
 */
static bool
changed_key(const char *reference, Datum *key)
{
	if (changed_keytype == INT8OID)
	{
		char	   *end;
		int64		id;

		errno = 0;
		id = (int64) strtoll(reference, &end, 10);
		if (errno != 0 || end == reference || *end != '\0')
			return false;
		*key = Int64GetDatum(id);
	}
	else
		*key = CStringGetTextDatum(reference);
	return true;
}

/*
 * The partition for a trigger's first argument, and the log's key in *key;
 * InvalidOid if the argument is not a key of the log.
 */
static Oid
changed_partition(const char *reference, Datum *key)
{
	static bool registered = false;
	Relation	rel;
	Oid			partition;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(forget_changed, (Datum) 0);
		registered = true;
	}
	if (!OidIsValid(changed_relid))
	{
		changed_relid = get_relname_relid("_changed", get_namespace_oid("ri_policy", false));
		if (!OidIsValid(changed_relid))
			elog(ERROR, "table ri_policy._changed is missing");
		changed_keytype = get_atttype(changed_relid, 1);
	}
	if (!changed_key(reference, key))
		return InvalidOid;
	if (OidIsValid(cached_partition) && strcmp(cached_reference, reference) == 0)
		return cached_partition;

	/* locked until the end of the transaction, as tuple routing does */
	rel = table_open(changed_relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		partition = changed_relid;
	else
	{
		PartitionKey pkey = RelationGetPartitionKey(rel);
		PartitionDesc desc = compat_partition_desc(rel);
		bool		isnull = false;
		uint64		hash;
		int			index = -1;

		hash = compute_partition_hash_value(pkey->partnatts, pkey->partsupfunc,
											pkey->partcollation, key, &isnull);
		if (desc->nparts > 0)
			index = desc->boundinfo->indexes[hash % get_hash_partition_greatest_modulus(desc->boundinfo)];
		if (index < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table ri_policy._changed has no partition for reference \"%s\"",
							reference),
					 errhint("Reinstall extension \"ri_policy\".")));
		partition = desc->oids[index];
	}
	table_close(rel, NoLock);

	if (cached_reference)
		pfree(cached_reference);
	cached_reference = MemoryContextStrdup(TopMemoryContext, reference);
	cached_partition = partition;
	return partition;
}

/* The partition of ri_policy._changed that holds a reference's entries */
Oid
ri_changed_partition(int64 id)
{
	Datum		key;
	Oid			partition = changed_partition(psprintf(INT64_FORMAT, id), &key);

	if (!OidIsValid(partition))
		ri_require_current_objects();
	return partition;
}

/*
 * Append a statement's changed keys (NULL: the TRUNCATE marker) to
 * ri_policy._changed.  Before version 0.4 the table had no from_parent
 * column, and an index.
 */
static void
record_changes(Relation changed, Datum reference, Datum keys, bool isnull,
			   bool from_parent)
{
	Datum		values[3];
	bool		nulls[3] = {false, isnull, false};
	HeapTuple	tup;
	List	   *indexes;
	ListCell   *lc;

	values[0] = reference;
	values[1] = keys;
	values[2] = BoolGetDatum(from_parent);
	tup = heap_form_tuple(RelationGetDescr(changed), values, nulls);
	simple_heap_insert(changed, tup);

	indexes = RelationGetIndexList(changed);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);

		compat_index_insert(index, values, nulls, &tup->t_self, changed,
							BuildIndexInfo(index));
		index_close(index, RowExclusiveLock);
	}
	list_free(indexes);
	heap_freetuple(tup);
}

/* ----------------------------------------------------------------
 * Full passes under way
 *
 * A full pass does not see a row that an UPDATE moves into a block it has
 * read already (validate.c, "Rows written during a pass"), and an UPDATE
 * that keeps the key records nothing.  So while a full pass of a tracked
 * reference is under way (running, or interrupted and not yet resumed or
 * begun again), an UPDATE of its child records the keys of every row it
 * wrote: the next, incremental, pass re-checks them.
 *
 * Whether a pass is under way is read from ri_policy._progress with the
 * latest snapshot, and remembered per reference until a relcache
 * invalidation of the child, which a pass sends when it begins and when it
 * ends.  The trigger takes pending invalidations first: a statement that
 * wrote into a block a pass had read did so after the pass began, so the
 * pass's invalidation was sent before the trigger fires.  When no pass is
 * under way, an UPDATE pays for one hash lookup.
 * ----------------------------------------------------------------
 */
typedef struct PassState
{
	int64		id;				/* the reference; hash key */
	Oid			child;			/* forgotten on an invalidation of this */
	bool		under_way;
} PassState;

static HTAB *pass_states = NULL;

/* A relcache invalidation of relid (InvalidOid: of all). */
static void
forget_passes(Oid relid)
{
	HASH_SEQ_STATUS seq;
	PassState  *state;

	if (pass_states == NULL)
		return;
	hash_seq_init(&seq, pass_states);
	while ((state = hash_seq_search(&seq)) != NULL)
	{
		if (relid == InvalidOid || state->child == relid)
			(void) hash_search(pass_states, &state->id, HASH_REMOVE, NULL);
	}
}

/* Read from ri_policy._progress whether a full pass of id is under way. */
static bool
read_pass_under_way(int64 id)
{
	Oid			nsp = get_namespace_oid("ri_policy", false);
	Oid			relid = get_relname_relid("_progress", nsp);
	Oid			indexid = get_relname_relid("_progress_pkey", nsp);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tup;
	bool		under_way = false;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		elog(ERROR, "table ri_policy._progress is missing");
	rel = table_open(relid, AccessShareLock);
	/* ids are bigint from 0.5 on; objects older than the library: say yes */
	if (TupleDescAttr(RelationGetDescr(rel), 0)->atttypid != INT8OID)
	{
		table_close(rel, AccessShareLock);
		return true;
	}
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, indexid, true, snapshot, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		status = heap_getattr(tup, get_attnum(relid, "status"),
										  RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			char	   *s = TextDatumGetCString(status);

			under_way = strcmp(s, "running") == 0 || strcmp(s, "interrupted") == 0;
		}
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return under_way;
}

/* Is a full pass of reference id, whose child is child, under way? */
static bool
pass_under_way(int64 id, Oid child)
{
	PassState  *state;
	bool		under_way;

	AcceptInvalidationMessages();
	if (pass_states == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(PassState);
		pass_states = hash_create("ri_policy passes under way", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS);
	}
	state = hash_search(pass_states, &id, HASH_FIND, NULL);
	if (state != NULL)
		return state->under_way;

	/* read first: an error leaves nothing behind */
	under_way = read_pass_under_way(id);
	state = hash_search(pass_states, &id, HASH_ENTER, NULL);
	state->child = child;
	state->under_way = under_way;
	return under_way;
}

/*
 * ri_policy._track_trigger(id, match, side, attnum1, column1, ...):
 * the statement-level trigger of a tracked reference, on its child (side
 * 'child') or its parent, whose key columns are given by number and name.  Triggers created before version 0.4 have no side
 * argument; their changes count as the parent's, which is always safe.
 */
Datum
ri_policy_track_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	const char *reference;
	bool		match_full;
	bool		from_parent = true;
	int			first;
	int			nkeys;
	AttrNumber	attnums[INDEX_MAX_KEYS];
	Oid			types[INDEX_MAX_KEYS];
	TupleDesc	desc;
	Relation	changed;
	Oid			partition;
	Datum		key;
	Datum	   *values;
	bool	   *isnull;
	bool		all_keys;
	int			n;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired as a statement trigger",
						"ri_policy._track_trigger")));
	trigger = trigdata->tg_trigger;
	first = 2 + trigger->tgnargs % 2;
	if (trigger->tgnargs < first + 2 || trigger->tgnargs > first + 2 * INDEX_MAX_KEYS)
		elog(ERROR, "ri_policy._track_trigger: wrong arguments");
	reference = trigger->tgargs[0];
	match_full = strcmp(trigger->tgargs[1], "full") == 0;
	if (first == 3)
		from_parent = strcmp(trigger->tgargs[2], "child") != 0;
	nkeys = (trigger->tgnargs - first) / 2;

	/*
	 * The log's partition for the reference.  A trigger older than the
	 * log's objects (named by a 0.4 reference name, restored from an old
	 * dump, say) records nothing: it is not the reference's trigger by id,
	 * so the reference's passes are full ones (ri_track_gap()).
	 */
	partition = changed_partition(reference, &key);
	if (!OidIsValid(partition))
		return PointerGetDatum(NULL);
	/* a partition remembered from before the extension was re-created? */
	changed = try_table_open(partition, RowExclusiveLock);
	if (changed == NULL)
	{
		forget_changed((Datum) 0, InvalidOid);
		partition = changed_partition(reference, &key);
		if (!OidIsValid(partition))
			return PointerGetDatum(NULL);
		changed = table_open(partition, RowExclusiveLock);
	}

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
	{
		record_changes(changed, key, (Datum) 0, true, from_parent);
		table_close(changed, RowExclusiveLock);
		return PointerGetDatum(NULL);
	}

	/* a DELETE from the child: the marker that rows went (see above) */
	if (trigdata->tg_newtable == NULL && trigdata->tg_oldtable == NULL)
	{
		if (!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || from_parent)
			elog(ERROR, "ri_policy._track_trigger: no transition table on \"%s\"",
				 RelationGetRelationName(trigdata->tg_relation));
		record_changes(changed, key, PointerGetDatum(construct_empty_array(TEXTOID)),
					   false, from_parent);
		table_close(changed, RowExclusiveLock);
		return PointerGetDatum(NULL);
	}

	desc = RelationGetDescr(trigdata->tg_relation);
	for (int i = 0; i < nkeys; i++)
	{
		const char *column = trigger->tgargs[first + 2 * i + 1];

		/*
		 * The column by number, unless that is another column's now: a
		 * dump restored without a dropped column moves the numbers of those
		 * after it, and then its name finds it.  (A renamed column keeps its
		 * number.)  Triggers from before 0.4 name the child's columns.
		 */
		attnums[i] = (AttrNumber) pg_strtoint32(trigger->tgargs[first + 2 * i]);
		if (first == 3 &&
			(attnums[i] < 1 || attnums[i] > desc->natts ||
			 strcmp(NameStr(TupleDescAttr(desc, attnums[i] - 1)->attname), column) != 0))
		{
			AttrNumber	byname = get_attnum(RelationGetRelid(trigdata->tg_relation), column);

			if (byname != InvalidAttrNumber)
				attnums[i] = byname;
		}
		if (attnums[i] < 1 || attnums[i] > desc->natts ||
			TupleDescAttr(desc, attnums[i] - 1)->attisdropped)
			elog(ERROR, "ri_policy._track_trigger: no column %d in \"%s\"",
				 attnums[i], RelationGetRelationName(trigdata->tg_relation));
		types[i] = TupleDescAttr(desc, attnums[i] - 1)->atttypid;
	}

	/*
	 * While a full pass is under way, an UPDATE of the child records every
	 * key it wrote (see "Full passes under way").
	 */
	all_keys = !from_parent && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		changed_keytype == INT8OID &&
		pass_under_way(DatumGetInt64(key), RelationGetRelid(trigdata->tg_relation));

	/* the trigger manager resets this (per-event) context afterwards */
	n = changed_keys(trigdata, nkeys, attnums, types, match_full, all_keys,
					 &values, &isnull);

	if (n > 0)
	{
		FmgrInfo	out[INDEX_MAX_KEYS];
		int			fixed = -1;
		int			dims[1] = {n * nkeys};
		int			lbs[1] = {1};

		for (int i = 0; i < nkeys; i++)
		{
			Oid			typoutput;
			bool		typisvarlena;

			getTypeOutputInfo(types[i], &typoutput, &typisvarlena);
			fmgr_info(typoutput, &out[i]);
			/* dates and floats are written as validation will read them */
			if (fixed < 0 && ri_output_depends_on_settings(types[i]))
				fixed = ri_fixed_output_begin();
		}
		for (int e = 0; e < n * nkeys; e++)
			if (!isnull[e])
				values[e] = CStringGetTextDatum(OutputFunctionCall(&out[e % nkeys], values[e]));
		if (fixed >= 0)
			ri_fixed_output_end(fixed);
		record_changes(changed, key,
					   PointerGetDatum(construct_md_array(values, isnull, 1, dims, lbs,
														  TEXTOID, -1, false,
														  TYPALIGN_INT)),
					   false, from_parent);
	}
	table_close(changed, RowExclusiveLock);
	return PointerGetDatum(NULL);
}
