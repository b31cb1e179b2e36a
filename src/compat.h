/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the PostgreSQL majors ri_policy supports
 *		(13 to 18), in one place, so that call sites stay free of version
 *		tests.
 *
 * src/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_COMPAT_H
#define RI_POLICY_COMPAT_H

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_constraint.h"
#include "executor/spi.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "nodes/execnodes.h"
#include "nodes/parsenodes.h"
#include "storage/lock.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/syscache.h"

#if PG_VERSION_NUM < 130000
#error "ri_policy needs PostgreSQL 13 or later"
#endif

/* Catalog index OIDs moved from catalog/indexing.h to the catalogs' headers in 14. */
#if PG_VERSION_NUM < 140000
#include "catalog/indexing.h"
#endif

/*
 * try_table_open() arrived in 14; 13 has try_relation_open(), which lacks
 * only the check that the relation is not an index or composite type.
 */
#if PG_VERSION_NUM < 140000
#include "access/relation.h"
#define try_table_open(relid, lockmode) try_relation_open(relid, lockmode)
#endif

/* RelationGetPartitionDesc() learned to omit detached partitions in 14. */
#if PG_VERSION_NUM >= 140000
#define compat_partition_desc(rel) RelationGetPartitionDesc(rel, true)
#else
#define compat_partition_desc(rel) RelationGetPartitionDesc(rel)
#endif

/* MarkGUCPrefixReserved() replaced EmitWarningsOnPlaceholders() in 15. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * Find the guc.c entry of a setting, to read where its value came from.
 * find_option() is exported from 16 on; before that we search the array.
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
		if (strcmp(vars[i]->name, name) == 0)
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
 * Scan the blocks [start, nblocks) of a table.  TID range scans exist from
 * 14 on; 13 limits a plain heap scan instead.  Either way only those blocks
 * are read.
 */
static inline TableScanDesc
compat_beginscan_blocks(Relation rel, Snapshot snapshot,
						BlockNumber start, BlockNumber nblocks)
{
#if PG_VERSION_NUM >= 140000
	ItemPointerData mintid;
	ItemPointerData maxtid;

	ItemPointerSet(&mintid, start, FirstOffsetNumber);
	ItemPointerSet(&maxtid, nblocks - 1, MaxOffsetNumber);
	return table_beginscan_tidrange(rel, snapshot, &mintid, &maxtid);
#else
	/* heap_setscanlimits() wants a scan that may not start elsewhere */
	TableScanDesc scan = table_beginscan_strat(rel, snapshot, 0, NULL, true, false);

	heap_setscanlimits(scan, start, nblocks - start);
	return scan;
#endif
}

static inline bool
compat_scan_getnextslot_blocks(TableScanDesc scan, TupleTableSlot *slot)
{
#if PG_VERSION_NUM >= 140000
	return table_scan_getnextslot_tidrange(scan, ForwardScanDirection, slot);
#else
	return table_scan_getnextslot(scan, ForwardScanDirection, slot);
#endif
}

/* index_insert() took an indexUnchanged hint from 14 on. */
static inline void
compat_index_insert(Relation index, Datum *values, bool *isnull,
					ItemPointer tid, Relation heap, IndexInfo *info)
{
#if PG_VERSION_NUM >= 140000
	(void) index_insert(index, values, isnull, tid, heap, UNIQUE_CHECK_NO,
						false, info);
#else
	(void) index_insert(index, values, isnull, tid, heap, UNIQUE_CHECK_NO,
						info);
#endif
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

/*
 * Commit and start the next transaction.  SPI_commit() starts it itself only
 * from 15 and in recent minors of 13 and 14; SPI_start_transaction() is a
 * no-op where it does.
 */
static inline void
compat_spi_commit(void)
{
	SPI_commit();
	SPI_start_transaction();
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

/* Multiranges arrived in 14: the range type of a multirange, if it is one. */
static inline Oid
compat_multirange_range(Oid type)
{
#if PG_VERSION_NUM >= 140000
	return get_multirange_range(type);
#else
	return InvalidOid;
#endif
}

#endif							/* RI_POLICY_COMPAT_H */
