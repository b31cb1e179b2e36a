/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the PostgreSQL majors ri_policy supports
 *		(15 to 19), in one place, so that call sites stay free of version
 *		tests.
 *
 * src/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_COMPAT_H
#define RI_POLICY_COMPAT_H

#include "access/genam.h"
#include "access/tableam.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_constraint.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "nodes/execnodes.h"
#include "nodes/parsenodes.h"
#include "storage/lock.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/syscache.h"

#if PG_VERSION_NUM < 150000
#error "ri_policy needs PostgreSQL 15 or later"
#endif

/* The varlena macros (VARSIZE_ANY_EXHDR, ...) left postgres.h in 16 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* A partitioned table's partitions, leaving out those being detached. */
#define compat_partition_desc(rel) RelationGetPartitionDesc(rel, true)

/*
 * Table scans take a flags argument (ScanOptions) from 19 on; the
 * four-argument table_beginscan() of the earlier majors stays usable.
 */
#if PG_VERSION_NUM >= 190000
#define table_beginscan(rel, snapshot, nkeys, key) \
	table_beginscan(rel, snapshot, nkeys, key, SO_NONE)
#endif

/*
 * A tuple descriptor built by hand (CreateTemplateTupleDesc() and
 * TupleDescInitEntry()) must be finalized before it is blessed from 19 on,
 * or an assertion-enabled server aborts and another reads offsets that
 * were never computed.  TupleDescFinalize() only derives fields from the
 * attributes, so finalizing any descriptor again changes nothing; every
 * BlessTupleDesc() of ri_policy does it.
 */
#if PG_VERSION_NUM >= 190000
static inline TupleDesc
compat_bless_tupdesc(TupleDesc tupdesc)
{
	TupleDescFinalize(tupdesc);
	return BlessTupleDesc(tupdesc);
}
#define BlessTupleDesc(tupdesc) compat_bless_tupdesc(tupdesc)
#endif

/*
 * Find the guc.c entry of a setting, to read where its value came from.
 * find_option() is exported from 16 on; before that we search the array,
 * comparing names as guc.c does: without regard to case (a client's
 * "-c RI_POLICY.MODE=allow" makes a placeholder named so).
 */
static inline struct config_generic *
compat_find_guc(const char *name)
{
#if PG_VERSION_NUM >= 160000
	return find_option(name, false, true, ERROR);
#else
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();

	for (int i = 0; i < n; i++)
	{
		if (pg_strcasecmp(vars[i]->name, name) == 0)
			return vars[i];
	}
	return NULL;
#endif
}

/*
 * Does a raw (untransformed) FOREIGN KEY constraint node ask for an enforced
 * constraint?  NOT ENFORCED exists from 18 on; table constraints carry it in
 * is_enforced, column constraints in a sibling attribute node (below).
 */
static inline bool
compat_constraint_enforced(const Constraint *con)
{
#if PG_VERSION_NUM >= 180000
	return con->is_enforced;
#else
	return true;
#endif
}

/*
 * Is a raw column-constraint node the NOT ENFORCED attribute that applies to
 * the constraint before it?  (18+; such nodes are merged later by
 * transformConstraintAttrs.)
 */
static inline bool
compat_is_not_enforced_attr(const Constraint *con)
{
#if PG_VERSION_NUM >= 180000
	return con->contype == CONSTR_ATTR_NOT_ENFORCED;
#else
	return false;
#endif
}

/*
 * If a raw ALTER TABLE subcommand is ALTER CONSTRAINT ... ENFORCED (18+),
 * return the constraint's name, else NULL.
 */
static inline const char *
compat_alter_constraint_enforces(const AlterTableCmd *cmd)
{
#if PG_VERSION_NUM >= 180000
	if (cmd->subtype == AT_AlterConstraint && IsA(cmd->def, ATAlterConstraint))
	{
		ATAlterConstraint *ac = (ATAlterConstraint *) cmd->def;

		if (ac->alterEnforceability && ac->is_enforced)
			return ac->conname;
	}
#endif
	return NULL;
}

/*
 * Is a collected (transformed) ALTER TABLE subcommand one that can bring an
 * enforced foreign key into being: ADD CONSTRAINT (with its internal
 * recursing variant before 16), or ALTER CONSTRAINT ... ENFORCED on 18?
 * AT_ReAddConstraint (ALTER COLUMN TYPE rebuilding an existing key) is
 * deliberately not one of them.
 */
static inline bool
compat_subcmd_creates_constraint(const AlterTableCmd *cmd)
{
	if (cmd->subtype == AT_AddConstraint)
		return true;
#if PG_VERSION_NUM < 160000
	if (cmd->subtype == AT_AddConstraintRecurse)
		return true;
#endif
	if (compat_alter_constraint_enforces(cmd) != NULL)
		return true;
	return false;
}

/*
 * Can altering a constraint make a foreign key enforced (ALTER CONSTRAINT
 * ... ENFORCED, 18+)?  The guard notes altered constraints only then.
 */
#if PG_VERSION_NUM >= 180000
#define COMPAT_ALTER_CAN_ENFORCE true
#else
#define COMPAT_ALTER_CAN_ENFORCE false
#endif

/* Is a pg_constraint row enforced?  Every constraint is, before 18. */
static inline bool
compat_conenforced(const FormData_pg_constraint *con)
{
#if PG_VERSION_NUM >= 180000
	return con->conenforced;
#else
	return true;
#endif
}

/* A foreign key on a partitioned table may be added NOT VALID from 18 on. */
#define COMPAT_NOT_VALID_FK_ON_PARTITIONED (PG_VERSION_NUM >= 180000)

/*
 * ON DELETE SET NULL / SET DEFAULT (columns) arrived in 15
 * (pg_constraint.confdelsetcols); before, the action sets every column.
 */
#define COMPAT_HAS_DELETE_SET_COLUMNS (PG_VERSION_NUM >= 150000)

static inline Datum
compat_confdelsetcols(HeapTuple contup, bool *isnull)
{
#if PG_VERSION_NUM >= 150000
	return SysCacheGetAttr(CONSTROID, contup, Anum_pg_constraint_confdelsetcols,
						   isnull);
#else
	*isnull = true;
	return (Datum) 0;
#endif
}

/*
 * Is a pg_constraint row a temporal constraint (PERIOD in a foreign key,
 * WITHOUT OVERLAPS in a key)?  They exist from 18 on.
 */
static inline bool
compat_conperiod(const FormData_pg_constraint *con)
{
#if PG_VERSION_NUM >= 180000
	return con->conperiod;
#else
	return false;
#endif
}

/*
 * Scan the blocks [start, nblocks) of a table, reading only those: a TID
 * range scan, which takes scan flags from 19 on.  Its buffers come from a
 * ring (SO_ALLOW_STRAT, which the heap honours for a table larger than a
 * quarter of shared_buffers), so that a page it finds in shared buffers
 * keeps its usage count: one the pass read into its own ring (validate.c)
 * is then reused there, not evicted from the rest of the pool.
 */
static inline TableScanDesc
compat_beginscan_blocks(Relation rel, Snapshot snapshot,
						BlockNumber start, BlockNumber nblocks)
{
	ItemPointerData mintid;
	ItemPointerData maxtid;
	TableScanDesc scan;

	ItemPointerSet(&mintid, start, FirstOffsetNumber);
	ItemPointerSet(&maxtid, nblocks - 1, MaxOffsetNumber);
#if PG_VERSION_NUM >= 190000
	scan = table_beginscan_tidrange(rel, snapshot, &mintid, &maxtid,
									SO_ALLOW_STRAT);
#else
	scan = rel->rd_tableam->scan_begin(rel, snapshot, 0, NULL, NULL,
									   SO_TYPE_TIDRANGESCAN |
									   SO_ALLOW_PAGEMODE | SO_ALLOW_STRAT);
	rel->rd_tableam->scan_set_tidrange(scan, &mintid, &maxtid);
#endif
	return scan;
}

static inline bool
compat_scan_getnextslot_blocks(TableScanDesc scan, TupleTableSlot *slot)
{
	return table_scan_getnextslot_tidrange(scan, ForwardScanDirection, slot);
}

/* Insert one entry into an index, as a plain (non-unique) insert. */
static inline void
compat_index_insert(Relation index, Datum *values, bool *isnull,
					ItemPointer tid, Relation heap, IndexInfo *info)
{
	(void) index_insert(index, values, isnull, tid, heap, UNIQUE_CHECK_NO,
						false, info);
}

/* LockHeldByMe() took an orstronger flag in 17. */
static inline bool
compat_lock_held_by_me(const LOCKTAG *locktag, LOCKMODE lockmode)
{
#if PG_VERSION_NUM >= 170000
	return LockHeldByMe(locktag, lockmode, false);
#else
	return LockHeldByMe(locktag, lockmode);
#endif
}

/* Commit and start the next transaction (SPI_commit() starts it). */
static inline void
compat_spi_commit(void)
{
	SPI_commit();
}

/*
 * Does a raw ALTER TABLE subcommand give a generated column a new
 * expression, rewriting its values (ALTER COLUMN ... SET EXPRESSION, 17+)?
 */
static inline bool
compat_sets_expression(const AlterTableCmd *cmd)
{
#if PG_VERSION_NUM >= 170000
	return cmd->subtype == AT_SetExpression;
#else
	return false;
#endif
}

/*
 * Is a column a virtual generated column (18+)?  Triggers see no value in
 * one.
 */
static inline bool
compat_attr_is_virtual(Oid relid, const char *column)
{
#if PG_VERSION_NUM >= 180000
	AttrNumber	attnum = get_attnum(relid, column);

	return attnum > 0 && get_attgenerated(relid, attnum) == ATTRIBUTE_GENERATED_VIRTUAL;
#else
	return false;
#endif
}

/* Ownership checks became object_ownercheck() in 16. */
static inline bool
compat_class_ownercheck(Oid relid, Oid roleid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, roleid);
#else
	return pg_class_ownercheck(relid, roleid);
#endif
}

/* The range type of a multirange, if the type is one. */
static inline Oid
compat_multirange_range(Oid type)
{
	return get_multirange_range(type);
}

#endif							/* RI_POLICY_COMPAT_H */
