/*-------------------------------------------------------------------------
 *
 * validate.c
 *		Deferred batch validation: CALL ri_policy.validate() and
 *		ri_policy.orphans().
 *
 * The child is read once, in batches of whole pages (a TID range scan of
 * blocks [start, end) of one table): physical ranges need no index on the
 * child, every batch costs about the same, and "where to resume" is one
 * block number per table.  Partitioned and inherited children are read one
 * leaf table at a time, in OID order.
 *
 * Each child key is tested against an in-memory set of the parent's keys
 * (keyset.c), built once per call from the parent's own heap, so a batch
 * costs one hash probe per row instead of a join.  Keys missing from the set
 * are suspects only: each distinct suspect is confirmed against the live
 * parent, through its unique index, with a fresh snapshot, before it is
 * recorded.  So a parent inserted since the set was built never produces a
 * false orphan.  When the set cannot be used (an operator that is not
 * hashable, or a parent whose keys exceed maintenance_work_mem), every
 * distinct key of a batch is confirmed that way instead.
 *
 * Called outside a transaction block, validate() commits after every batch,
 * so no snapshot, lock (AccessShareLock only) or transaction lives longer
 * than one batch; the orphans found so far (ri_policy._pending, or
 * _pending_batch: results.c) and the position reached (ri_policy._progress)
 * commit with the batch, so an interrupted pass resumes exactly where it
 * stopped, and the final counts are exact for the rows not written while
 * the pass ran (see "Rows written during a pass").  A batch groups its rows by binary image, so each group
 * is judged as its rows would be; its orphans are then merged into keys as
 * GROUP BY would merge them, by the child type's equality (results.c).
 * When a pass completes, its orphans replace the reference's rows in
 * ri_policy._violation in one transaction.  A session advisory lock
 * keeps two validations of one reference apart; its absence is also how
 * ri_policy.validation_progress tells a dead run ("interrupted").
 *
 * Security: validation requires ownership of the child, and the work runs
 * as the tables' owners, as ANALYZE and the RI triggers do, each in a
 * restricted security context: the child scan, hashing, conversion and key
 * formatting as the child's owner (whoever calls), probes of the parent as
 * the parent's owner, and only the fixed writes to ri_policy's own tables as
 * the extension's owner.  Which functions a comparison may run at all is
 * checked when a pass begins (compare.c).
 *
 * src/validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/subtrans.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "nodes/parsenodes.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#include "citus.h"
#include "compare.h"
#include "columns.h"
#include "compat.h"
#include "keyset.h"
#include "parallel.h"
#include "probe.h"
#include "results.h"
#include "reference.h"
#include "ri_policy.h"

PG_FUNCTION_INFO_V1(ri_policy_validate);
PG_FUNCTION_INFO_V1(ri_policy_orphans);

typedef struct Validator Validator;

/*
 * Where a full pass began: its first snapshot, as full transaction ids, with
 * every transaction that snapshot saw running (subtransactions included),
 * and the WAL position just before it was taken.  The pass counts only row
 * versions whose inserting transaction this snapshot sees as committed
 * (written_during()).
 */
typedef struct StartPoint
{
	uint64		xmin;
	uint64		xmax;
	uint64	   *xip;			/* sorted */
	int			nxip;
	XLogRecPtr	lsn;
} StartPoint;

/* What to do with the orphaned keys of one batch */
typedef void (*OrphanSink) (Validator *v, ChildKeyGroup *batch);
static void record_orphans(Validator *v, ChildKeyGroup *batch);

struct Validator
{
	RiReference *ref;
	int			batch_size;
	bool		atomic;			/* no commits between batches */
	MemoryContext cxt;			/* lives for the whole call */
	MemoryContext batch_cxt;	/* reset for every batch */
	ParentKeySet *set;			/* NULL: confirm every distinct key */
	KeyEquality *equality;		/* how child keys are grouped */
	SPIPlanPtr	confirm;		/* which of these keys has no parent? */
	SPIPlanPtr	record_plans[RI_PENDING_PLANS]; /* add orphans to _pending */
	SPIPlanPtr	progress_plan;	/* record a batch's progress */
	Oid			scan_user;		/* the child's owner: reads, converts and
								 * formats its values */
	Oid			parent_owner;	/* probes the parent */
	Oid			ext_owner;		/* writes ri_policy's tables */
	List	   *leaves;			/* child tables to read, in OID order */
	RiCitusReader *citus;		/* or the Citus table to read through Citus */
	OrphanSink	sink;

	/* orphans(): results so far */
	ChildKeyGroup *results;
	int64		max_keys;

	/* validate(): counters of this batch */
	uint64		batch_rows;
	int			batch_new_keys; /* keys new to _pending */

	/* validate(): the keys recorded so far, if this process alone records */
	RiRecorded *recorded;

	/* validate(): the key columns as the pass began; has it begun? */
	RiColumns  *columns;
	bool		run_begun;

	/*
	 * One snapshot for every batch (orphans(), and validate() inside a
	 * transaction block), or NULL: a fresh one each.
	 */
	Snapshot	snapshot;

	/* validate(): where the pass began (see written_during()) */
	StartPoint *start;
	bool		tracked;		/* hand what it skips to the next pass */
	Oid			filenode;		/* of the table a batch stopped inside */
	const char *start_over;		/* why the pass must begin again, if so */

	/* validate(), per batch: the next xid then, keys of rows it skipped */
	uint64		next_xid;
	ChildKeyGroup *skipped;
	bool		skipped_unread; /* one of them could not be read safely */

	/*
	 * validate(), a pass split into pieces (parallel.c): how many workers
	 * to ask for; the piece being read (-1: none, the pass is read by
	 * table) and where it ends; the leader's workers, or a worker's segment.
	 */
	int			workers;
	int32		piece;
	BlockNumber end_block;
	RiParallel *par;
	RiParallelShared *shared;
	SPIPlanPtr	piece_plans[2];

	/* the ring of buffers the pass reads a large child through */
	BufferAccessStrategy ring;
};

/* ----------------------------------------------------------------
 * Setting up
 * ----------------------------------------------------------------
 */

/*
 * The tables holding the child's rows: for a partitioned or inherited child,
 * every leaf with storage; a foreign key on a plain table covers only that
 * table.  Sorted by OID, so that a resumed pass visits them in the same
 * order.
 */
static List *
child_leaves(RiReference *ref)
{
	List	   *rels;
	List	   *leaves = NIL;
	ListCell   *lc;

	/* one query through Citus reads every partition at once */
	if (ref->only_child || ri_reads_through_citus(ref))
		return list_make1_oid(ref->child);

	rels = find_all_inheritors(ref->child, AccessShareLock, NULL);
	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);

		if (get_rel_relkind(relid) == RELKIND_RELATION)
			leaves = lappend_oid(leaves, relid);
	}
	list_sort(leaves, list_oid_cmp);
	return leaves;
}

/*
 * Build the set of the parent's keys, reading its heap (every partition of
 * a partitioned parent) as its owner.  Leaves v->set NULL when the set
 * cannot serve this reference or outgrows maintenance_work_mem.
 */
static void
build_parent_set(Validator *v)
{
	RiReference *ref = v->ref;
	List	   *rels;
	ListCell   *lc;
	RiUserState saved;
	bool		complete = true;

	v->set = NULL;
	if (!keyset_supported(ref) || (v->citus != NULL && ri_citus_prefilters(v->citus)))
		return;

	v->set = keyset_create(ref, v->cxt, (Size) maintenance_work_mem * 1024);
	rels = ref->only_parent ? list_make1_oid(ref->parent) :
		find_all_inheritors(ref->parent, AccessShareLock, NULL);

	ri_become(v->parent_owner, RI_OWNER_CONTEXT, &saved);
	if (ri_rows_at(ref->parent, NULL) == RI_ROWS_CITUS)
	{
		complete = ri_citus_parent_keys(ref, v->set);
		rels = NIL;
	}
	foreach(lc, rels)
	{
		Relation	rel;
		TableScanDesc scan;
		TupleTableSlot *slot;
		AttrNumber	attnums[INDEX_MAX_KEYS];
		Datum		values[INDEX_MAX_KEYS];

		if (get_rel_relkind(lfirst_oid(lc)) != RELKIND_RELATION)
			continue;
		rel = table_open(lfirst_oid(lc), AccessShareLock);
		for (int i = 0; i < ref->nkeys; i++)
			attnums[i] = get_attnum(RelationGetRelid(rel), ref->parent_columns[i]);

		scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
		slot = table_slot_create(rel, NULL);
		while (complete && table_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			bool		hasnull = false;

			for (int i = 0; i < ref->nkeys; i++)
			{
				bool		isnull;

				values[i] = slot_getattr(slot, attnums[i], &isnull);
				hasnull |= isnull;
			}
			if (!hasnull)
				complete = keyset_add(v->set, values);
			CHECK_FOR_INTERRUPTS();
		}
		ExecDropSingleTupleTableSlot(slot);
		table_endscan(scan);
		table_close(rel, NoLock);
		if (!complete)
			break;
	}
	if (complete)
		complete = keyset_complete(v->set);
	ri_restore(&saved);

	if (!complete)
	{
		ereport(DEBUG1,
				(errmsg("keys of table \"%s\" exceed maintenance_work_mem, probing its index instead",
						get_rel_name(ref->parent))));
		v->set = NULL;
	}
}

/* The owner of a relation. */
Oid
ri_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* The number of blocks of a table, or 0 if it is gone. */
static BlockNumber
rel_blocks(Oid relid)
{
	Relation	rel = try_table_open(relid, AccessShareLock);
	BlockNumber nblocks;

	if (rel == NULL)
		return 0;
	nblocks = RelationGetNumberOfBlocks(rel);
	table_close(rel, NoLock);
	return nblocks;
}

/* ----------------------------------------------------------------
 * Rows written during a pass
 *
 * A pass reads the child in block ranges, each batch with a fresh
 * snapshot.  An UPDATE may put a row's new version in any block (heap_update
 * goes where there is room), so a row updated while the pass runs can be
 * met twice (its old version read in an early batch, its new one in a later
 * block) or not at all (its new version in a block read already).  So a
 * pass counts only the versions written before it began: those whose
 * inserting transaction its first snapshot saw as committed.  Every row
 * that nobody writes while the pass runs has exactly one such version,
 * visible to every batch, and no row has two that any batch sees (a later
 * snapshot sees the versions an earlier one saw replaced as replaced).
 * The start is kept with the pass's progress, so a resumed pass keeps it.
 *
 * A row written during the pass may thus be missed, never counted twice.
 * The next pass finds it: a full one counts it if nobody writes it while
 * that pass runs; for a tracked reference, the next incremental pass
 * re-checks its key, which this pass hands over to the change log when it
 * meets the row (read_batch()), and which the child's UPDATE trigger
 * records while a full pass is under way (track.c) when the row went where
 * the pass had been.
 * ----------------------------------------------------------------
 */

/*
 * The full transaction id of an xid met now: the one within 2^31 of "next",
 * as every xid not frozen is (0 for one that is not normal).
 */
static uint64
full_xid(TransactionId xid, uint64 next)
{
	int64		full;

	if (!TransactionIdIsNormal(xid))
		return 0;
	full = (int64) next + (int32) (xid - (TransactionId) next);
	return full < FirstNormalTransactionId ? 0 : (uint64) full;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* A pass older than this many transactions starts over (full_xid()). */
#define MAX_PASS_XIDS ((uint64) 1 << 31)

/*
 * Take the start of a new pass: the WAL position, then the latest snapshot
 * (inside a transaction block, the one every batch reads with, so that the
 * pass skips nothing: the position matters only for versions written after
 * the snapshot, see written_during()).  When the snapshot's list of
 * subtransactions overflowed, those of the transactions it saw running are
 * found in pg_subtrans now, while this transaction's xmin keeps them there.
 */
static StartPoint *
take_start(Validator *v)
{
	StartPoint *start = MemoryContextAllocZero(v->cxt, sizeof(StartPoint));
	Snapshot	snap;
	uint64		next;
	int			max;
	int			n = 0;

	start->lsn = GetXLogInsertRecPtr();
	snap = v->snapshot ? v->snapshot : GetLatestSnapshot();
	next = U64FromFullTransactionId(ReadNextFullTransactionId());
	start->xmin = full_xid(snap->xmin, next);
	start->xmax = full_xid(snap->xmax, next);
	max = snap->xcnt + Max(snap->subxcnt, 0) + 16;
	start->xip = MemoryContextAlloc(v->cxt, max * sizeof(uint64));
	for (int i = 0; i < snap->xcnt; i++)
		start->xip[n++] = full_xid(snap->xip[i], next);
	qsort(start->xip, n, sizeof(uint64), u64_cmp);
	if (!snap->suboverflowed)
	{
		for (int i = 0; i < snap->subxcnt; i++)
			start->xip[n++] = full_xid(snap->subxip[i], next);
	}
	else
	{
		int			ntop = n;

		for (uint64 xid = start->xmin; xid < start->xmax; xid++)
		{
			uint64		top;

			if ((xid & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			if (!TransactionIdIsNormal((TransactionId) xid))
				continue;
			top = full_xid(SubTransGetTopmostTransaction((TransactionId) xid), next);
			if (top == xid ||
				bsearch(&top, start->xip, ntop, sizeof(uint64), u64_cmp) == NULL)
				continue;
			if (n == max)
			{
				max *= 2;
				start->xip = repalloc(start->xip, max * sizeof(uint64));
			}
			start->xip[n++] = xid;
		}
	}

	/*
	 * Transactions that got their ids after this snapshot's data was taken
	 * (or that a snapshot reused since no transaction ended, GetSnapshotData()
	 * does that) were not committed for it: running, as far as the pass is
	 * concerned, up to the next id now.  (Not with the pass's own snapshot,
	 * which every batch reads with.)
	 */
	if (v->snapshot != NULL)
		next = start->xmax;
	for (uint64 xid = start->xmax; xid < next; xid++)
	{
		if (n == max)
		{
			max *= 2;
			start->xip = repalloc(start->xip, max * sizeof(uint64));
		}
		start->xip[n++] = xid;
	}
	start->xmax = Max(start->xmax, next);
	qsort(start->xip, n, sizeof(uint64), u64_cmp);
	start->nxip = 0;
	for (int i = 0; i < n; i++)
	{
		if (start->nxip == 0 || start->xip[start->nxip - 1] != start->xip[i])
			start->xip[start->nxip++] = start->xip[i];
	}
	return start;
}

/* The start as pg_snapshot's text: xmin:xmax:xip,... */
static char *
start_text(StartPoint *start)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, UINT64_FORMAT ":" UINT64_FORMAT ":", start->xmin, start->xmax);
	for (int i = 0; i < start->nxip; i++)
		appendStringInfo(&buf, "%s" UINT64_FORMAT, i ? "," : "", start->xip[i]);
	return buf.data;
}

/* ... and back. */
static StartPoint *
start_from_text(Validator *v, const char *text, XLogRecPtr lsn)
{
	StartPoint *start = MemoryContextAllocZero(v->cxt, sizeof(StartPoint));
	const char *p = text;
	char	   *end;
	int			max = 16;

	start->xmin = (uint64) strtoull(p, &end, 10);
	p = end + 1;
	start->xmax = (uint64) strtoull(p, &end, 10);
	p = end + 1;
	start->xip = MemoryContextAlloc(v->cxt, max * sizeof(uint64));
	while (*p != '\0')
	{
		if (start->nxip == max)
		{
			max *= 2;
			start->xip = repalloc(start->xip, max * sizeof(uint64));
		}
		start->xip[start->nxip++] = (uint64) strtoull(p, &end, 10);
		p = *end == ',' ? end + 1 : end;
	}
	start->lsn = lsn;
	return start;
}

/*
 * The cluster and database a pass is about: its xids and block numbers mean
 * nothing elsewhere (a dump restored, say).
 */
static char *
start_origin(void)
{
	return psprintf(UINT64_FORMAT "/%u", GetSystemIdentifier(), MyDatabaseId);
}

/*
 * Was this row version (in a heap table's slot) written during the pass:
 * does the pass's start not see its inserting transaction as committed?
 *
 * Frozen versions keep their xid (from 9.4 on), but 32 bits do not say from
 * which epoch: in a cluster that has used more than 2^32 xids, a version
 * frozen long before the pass can carry the number of one of the pass's
 * transactions.  One that the batch's next xid has not reached yet is such
 * an old one (no version can be frozen before its transaction is older than
 * every snapshot).  Otherwise a page that no WAL record has changed since
 * the pass began (freezing is logged) can only hold versions frozen before
 * it; elsewhere the pass cannot tell, and counts the version as written
 * during it (it is then missed by this pass, and found by the next).
 */
static inline bool
written_during(Validator *v, Relation rel, TupleTableSlot *slot)
{
	StartPoint *start = v->start;
	HeapTupleHeader tup = ((HeapTupleTableSlot *) slot)->tuple->t_data;
	TransactionId raw = HeapTupleHeaderGetRawXmin(tup);
	uint64		xid = full_xid(raw, v->next_xid);

	if (xid < start->xmin || TransactionIdIsCurrentTransactionId(raw))
		return false;
	if (xid < start->xmax &&
		bsearch(&xid, start->xip, start->nxip, sizeof(uint64), u64_cmp) == NULL)
		return false;
	if (HeapTupleHeaderXminFrozen(tup))
	{
		if (xid >= v->next_xid)
			return false;
		if (xid >= ((uint64) 1 << 32) + FirstNormalTransactionId &&
			RelationNeedsWAL(rel) &&
			BufferGetLSNAtomic(((BufferHeapTupleTableSlot *) slot)->buffer) < start->lsn)
			return false;
	}
	return true;
}

/*
 * Is a transaction that was running when the pass began still running as
 * this batch sees it?  A row it wrote before the pass began, in a block the
 * pass reads before it commits, is invisible then, and its old version
 * invisible after: what the pass hands to the next one must include such
 * rows (read_batch()).
 */
static bool
start_xacts_running(Validator *v)
{
	Snapshot	snap = GetActiveSnapshot();
	uint64		xmin = full_xid(snap->xmin, v->next_xid);

	for (int i = 0; i < v->start->nxip; i++)
	{
		if (v->start->xip[i] >= xmin &&
			XidInMVCCSnapshot((TransactionId) v->start->xip[i], snap))
			return true;
	}
	return false;
}

/* ----------------------------------------------------------------
 * One batch
 * ----------------------------------------------------------------
 */

/*
 * Probes of the parent key set in flight.  A hash table of many keys
 * outgrows the CPU's caches, so each probe waits for memory: the keys of a
 * page's rows are hashed and their slots prefetched PROBES_AHEAD rows ahead
 * of the probes, so that those waits overlap (keyset_prefetch()).  The
 * values of by-reference types point into the page, which stays pinned
 * (probes->buffer) until its rows' probes are done: they end before the
 * next page's rows are looked at.  The probes are the ones a row at a time
 * would make, in the same order, so the batch's keys are the same.
 */
#define PROBES_AHEAD 16

typedef struct Probes
{
	int			first;			/* oldest in the ring */
	int			count;
	Buffer		buffer;			/* pinned while count > 0, or invalid */
	uint32		hash[PROBES_AHEAD];
	Datum		values[PROBES_AHEAD][INDEX_MAX_KEYS];
} Probes;

/* Make the oldest probe: its key goes to the batch's suspects if missing. */
static void
probe_oldest(Validator *v, Probes *probes, ChildKeyGroup *group)
{
	static const bool nonulls[INDEX_MAX_KEYS] = {0};
	int			i = probes->first;

	if (!keyset_contains_hashed(v->set, probes->values[i], probes->hash[i]))
		childkeys_add(group, probes->values[i], (bool *) nonulls, 1, true);
	probes->first = (i + 1) % PROBES_AHEAD;
	probes->count--;
}

/* Make every probe in flight, and unpin their page. */
static void
probes_finish(Validator *v, Probes *probes, ChildKeyGroup *group)
{
	while (probes->count > 0)
		probe_oldest(v, probes, group);
	if (BufferIsValid(probes->buffer))
		ReleaseBuffer(probes->buffer);
	probes->buffer = InvalidBuffer;
}

/* Queue the probe of a row's key (no NULLs), read from a heap slot. */
static void
probe_add(Validator *v, Probes *probes, ChildKeyGroup *group,
		  TupleTableSlot *slot, Datum *values)
{
	int			i;

	if (probes->count == PROBES_AHEAD)
		probe_oldest(v, probes, group);
	if (!BufferIsValid(probes->buffer))
	{
		probes->buffer = ((BufferHeapTupleTableSlot *) slot)->buffer;
		IncrBufferRefCount(probes->buffer);
	}
	i = (probes->first + probes->count) % PROBES_AHEAD;
	memcpy(probes->values[i], values, v->ref->nkeys * sizeof(Datum));
	probes->hash[i] = keyset_child_hash(v->set, values);
	keyset_prefetch(v->set, probes->hash[i]);
	probes->count++;
}

/*
 * A pass reads a large child through one small ring of shared buffers that
 * lasts as long as the pass (BAS_BULKREAD, as a sequential scan does),
 * never through the whole pool.  Each batch's scan is a new one, whose own
 * ring would take its first buffers from anywhere in the pool: over a pass,
 * every buffer of shared_buffers, evicting other sessions' pages, and in a
 * new backend (each worker is one) touching every page of the pool for the
 * first time costs more than reading the table.  So the pass reads each
 * block into its ring a few blocks ahead of the scan, which then finds it
 * in shared buffers.  Only for a heap larger than a quarter of
 * shared_buffers, as a sequential scan decides; blocks map to pages only
 * in a heap.
 */
#define RING_AHEAD 8

static bool
reads_through_ring(Validator *v, Relation rel, BlockNumber nblocks)
{
	if (rel->rd_tableam != GetHeapamTableAmRoutine() ||
		RelationUsesLocalBuffers(rel) ||
		nblocks <= (BlockNumber) NBuffers / 4)
		return false;
	if (v->ring == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(v->cxt);

		v->ring = GetAccessStrategy(BAS_BULKREAD);
		MemoryContextSwitchTo(old);
	}
	return true;
}

/* Read the blocks from *warmed up to (not including) "end" into the ring. */
static void
read_into_ring(Validator *v, Relation rel, BlockNumber *warmed,
			   BlockNumber end)
{
	for (; *warmed < end; (*warmed)++)
		ReleaseBuffer(ReadBufferExtended(rel, MAIN_FORKNUM, *warmed,
										 RBM_NORMAL, v->ring));
}

/*
 * Read the blocks of one child table from "start", until at least
 * batch_size rows have been read and a block ends, or the table ends.
 * Returns the distinct keys that are orphans; sets *next to the block to
 * continue from (InvalidBlockNumber when the table is done) and counts the
 * rows read.
 *
 * validate() counts only rows written before its pass began, and puts the
 * keys of the others it meets in v->skipped (of a tracked reference): see
 * "Rows written during a pass".  While a transaction that was running when
 * the pass began runs on, it reads with SnapshotDirty, which also returns
 * versions not yet committed, so that those are handed over too.  A table
 * rewritten since the pass stopped inside it, or a pass too old, sets
 * v->start_over instead.
 */
static ChildKeyGroup *
read_batch(Validator *v, Oid leaf, BlockNumber start, BlockNumber *next)
{
	RiReference *ref = v->ref;
	ChildKeyGroup *group = childkeys_create(ref->nkeys, ref->child_types,
											v->batch_cxt);
	Relation	rel;
	BlockNumber nblocks;
	AttrNumber	attnums[INDEX_MAX_KEYS];
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	bool		varlena[INDEX_MAX_KEYS];
	TableScanDesc scan;
	TupleTableSlot *slot;
	BlockNumber curblock = InvalidBlockNumber;
	RiUserState saved;
	Snapshot	snapshot = v->snapshot ? v->snapshot : GetActiveSnapshot();
	SnapshotData dirty;
	bool		filter;
	bool		pipelined;
	bool		ring;
	BlockNumber warmed = start;
	Probes		probes;

	*next = InvalidBlockNumber;
	v->batch_rows = 0;
	v->skipped_unread = false;
	v->skipped = v->tracked ?
		childkeys_create(ref->nkeys, ref->child_types, v->batch_cxt) : NULL;

	if (v->citus != NULL)
	{
		v->start_over = ri_citus_read_batch(v->citus, v->batch_size, start,
											v->sink == record_orphans,
											group, &v->batch_rows, next);
		return group;
	}

	rel = try_table_open(leaf, AccessShareLock);
	if (rel == NULL)
		return group;			/* dropped since: nothing to read */
	if (v->start != NULL)
	{
		/*
		 * A rewrite (VACUUM FULL, CLUSTER) moves rows, keeping their xmin,
		 * between blocks: the rest of a table can be read after one only
		 * if none of it was read before.  A piece that begins at block 0
		 * is no such start: other pieces of its table may have been read.
		 */
		v->next_xid = U64FromFullTransactionId(ReadNextFullTransactionId());
		if (v->next_xid - v->start->xmin >= MAX_PASS_XIDS)
			v->start_over = "it began too many transactions ago";
		else if ((start > 0 || v->piece >= 0) &&
				 rel->rd_rel->relfilenode != v->filenode)
			v->start_over = psprintf("table \"%s\" was rewritten",
									 RelationGetRelationName(rel));
		if (v->start_over != NULL)
		{
			table_close(rel, NoLock);
			return group;
		}
		v->filenode = rel->rd_rel->relfilenode;
	}

	/* the versions of another table access method say nothing of when */
	filter = v->start != NULL && rel->rd_tableam == GetHeapamTableAmRoutine();
	if (filter && v->skipped != NULL && v->snapshot == NULL && start_xacts_running(v))
	{
		memset(&dirty, 0, sizeof(dirty));
		InitDirtySnapshot(dirty);
		snapshot = &dirty;
	}
	nblocks = RelationGetNumberOfBlocks(rel);
	ring = reads_through_ring(v, rel, nblocks); /* by the whole table's size */
	if (v->end_block != InvalidBlockNumber)
		nblocks = Min(nblocks, v->end_block);
	if (start >= nblocks)
	{
		table_close(rel, NoLock);
		return group;
	}
	for (int i = 0; i < ref->nkeys; i++)
	{
		attnums[i] = get_attnum(leaf, ref->child_columns[i]);
		if (attnums[i] <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of reference \"%s\" no longer exists in table \"%s\"",
							ref->child_columns[i], ref->name,
							RelationGetRelationName(rel))));
		varlena[i] = TupleDescAttr(RelationGetDescr(rel), attnums[i] - 1)->attlen == -1;
	}

	if (ring)
		read_into_ring(v, rel, &warmed, Min(nblocks, start + RING_AHEAD));
	ri_become(v->scan_user, RI_OWNER_CONTEXT, &saved);
	scan = compat_beginscan_blocks(rel, snapshot, start, nblocks);
	slot = table_slot_create(rel, NULL);
	pipelined = v->set != NULL && keyset_hashed(v->set) &&
		slot->tts_ops == &TTSOpsBufferHeapTuple;
	probes.first = 0;
	probes.count = 0;
	probes.buffer = InvalidBuffer;

	while (compat_scan_getnextslot_blocks(scan, slot))
	{
		BlockNumber block = ItemPointerGetBlockNumber(&slot->tts_tid);
		int			nnulls = 0;
		bool		written;
		ChildKey   *key;

		if (block != curblock)
		{
			if (pipelined)
				probes_finish(v, &probes, group);
			if (v->batch_rows >= (uint64) v->batch_size)
			{
				*next = block;
				break;
			}
			curblock = block;
			if (ring)
				read_into_ring(v, rel, &warmed,
							   Min(nblocks, block + 1 + RING_AHEAD));
			CHECK_FOR_INTERRUPTS();
		}
		v->batch_rows++;
		written = filter && written_during(v, rel, slot);
		if (written && v->skipped == NULL)
			continue;

		for (int i = 0; i < ref->nkeys; i++)
		{
			values[i] = slot_getattr(slot, attnums[i], &isnull[i]);
			nnulls += isnull[i];
		}

		/*
		 * SQL's rules: MATCH SIMPLE checks no row with a NULL key column;
		 * MATCH FULL checks none that is all NULL, and a partly NULL one is
		 * itself a violation.
		 */
		if (nnulls == ref->nkeys || (nnulls > 0 && !ref->match_full))
			continue;

		/*
		 * A row written during the pass: the next pass re-checks its key.
		 * The out-of-line value of a version not committed yet may go with
		 * its transaction's rollback before it is read: then the next pass
		 * is a full one (record_orphans()).
		 */
		if (written)
		{
			HeapTupleHeader tup = ((HeapTupleTableSlot *) slot)->tuple->t_data;
			bool		readable = true;

			for (int i = 0; i < ref->nkeys; i++)
				readable &= isnull[i] || !varlena[i] ||
					!VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(values[i]));
			if (readable || HeapTupleHeaderXminCommitted(tup) ||
				(!HeapTupleHeaderXminInvalid(tup) &&
				 TransactionIdDidCommit(HeapTupleHeaderGetRawXmin(tup))))
				childkeys_add(v->skipped, values, isnull, 1, true);
			else
				v->skipped_unread = true;
			continue;
		}

		if (nnulls > 0)
		{
			key = childkeys_add(group, values, isnull, 1, true);
			key->orphan = true;
			continue;
		}
		if (pipelined)
		{
			probe_add(v, &probes, group, slot, values);
			continue;
		}
		if (v->set != NULL && keyset_contains(v->set, values))
			continue;
		childkeys_add(group, values, isnull, 1, true);
	}
	if (pipelined)
		probes_finish(v, &probes, group);
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	ri_restore(&saved);
	table_close(rel, NoLock);
	return group;
}

/*
 * Confirm the batch's suspects against the live parent (probe.c): the keys
 * without a parent are the orphans.
 */
static void
confirm_suspects(Validator *v, ChildKeyGroup *group)
{
	ChildKey  **suspects;
	Datum	   *values[INDEX_MAX_KEYS];
	bool	   *orphan;
	int			n = 0;

	suspects = palloc(childkeys_count(group) * sizeof(ChildKey *) + 1);
	for (ChildKey *key = childkeys_first(group); key != NULL; key = key->next)
	{
		if (!key->orphan)
			suspects[n++] = key;
	}
	if (n == 0)
		return;

	for (int i = 0; i < v->ref->nkeys; i++)
	{
		values[i] = palloc(n * sizeof(Datum));
		for (int k = 0; k < n; k++)
			values[i][k] = suspects[k]->values[i];
	}
	orphan = palloc(n * sizeof(bool));
	ri_probe(v->ref, v->confirm, v->scan_user, v->parent_owner, values, n, orphan);
	for (int k = 0; k < n; k++)
		suspects[k]->orphan = orphan[k];
}

/* ----------------------------------------------------------------
 * validate()
 * ----------------------------------------------------------------
 */

/*
 * The advisory lock that one validation (or repair) of a reference holds:
 * its id, and a last field that pg_advisory_lock() never uses (1 or 2), so
 * no other lock can be it.  ri_policy._is_running() looks for it.
 */
void
ri_reference_locktag(LOCKTAG *tag, int64 id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) ((uint64) id >> 32),
						 (uint32) id, 0x5249);	/* "RI" */
}

/*
 * The lock that each worker of a parallel pass holds (parallel.c), in share
 * mode, for as long as it runs.  ri_begin_work() waits for it, so that a
 * worker whose leader died (it stops before its next batch) never writes
 * while the next validation of the reference runs.
 */
void
ri_reference_workers_locktag(LOCKTAG *tag, int64 id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) ((uint64) id >> 32),
						 (uint32) id, 0x524A);
}

/*
 * The lock that the processes of a parallel pass take, each for the rest of
 * a batch's transaction, before recording the batch: the orphans of a batch
 * are merged into ri_policy._pending by reading then writing it
 * (results.c), so two processes recording one key at once would count it
 * twice or collide.  Each batch's commit follows at once.
 */
static void
lock_recording(int64 id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) id >> 32),
						 (uint32) id, 0x524B);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * The references' session locks this backend holds (ri_begin_work), each
 * with the subtransaction that took it and its work's memory context: an
 * error that leaves the work before ri_end_work() (a cancel while waiting
 * for the workers' lock, or during a NOTICE, say) releases them when its
 * (sub)transaction aborts, so that a session lock never outlives the
 * statement that took it.  Otherwise every other session would skip the
 * reference until this one ends.
 */
typedef struct RiHeldLock
{
	LOCKTAG		tag;
	SubTransactionId subid;
	MemoryContext cxt;
} RiHeldLock;

static List *held_locks = NIL;	/* of RiHeldLock, in TopMemoryContext */
static bool held_callbacks = false;

static void
release_held(SubTransactionId from)
{
	ListCell   *lc;

	foreach(lc, held_locks)
	{
		RiHeldLock *held = lfirst(lc);

		if (held->subid < from)
			continue;
		LockRelease(&held->tag, ExclusiveLock, true);
		MemoryContextDelete(held->cxt); /* the entry with it */
		held_locks = foreach_delete_current(held_locks, lc);
	}
}

static void
held_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		release_held(InvalidSubTransactionId);
}

static void
held_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		release_held(mySubid);
}

/*
 * Begin work that changes a reference's results: in a memory context of its
 * own (under TopMemoryContext, to outlive the commits between batches),
 * give the reference an id if it has none (a foreign key's first pass),
 * load it again by that id, check that the caller owns the child, and take
 * the reference's session lock.  Returns NULL, with a NOTICE and nothing
 * left behind, if another session holds the lock.
 */
RiReference *
ri_begin_work(RiReference *found, RiWork *work)
{
	RiReference *ref;

	ri_require_child_owner(found);
	ri_ensure_identity(found);
	work->oldcxt = CurrentMemoryContext;
	work->cxt = AllocSetContextCreate(TopMemoryContext, "ri_policy work",
									  ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work->cxt);
	ref = ri_load_reference_id(found->id);
	ri_require_child_owner(ref);
	ri_reference_locktag(&work->tag, ref->id);
	if (LockAcquire(&work->tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		ereport(NOTICE,
				(errmsg("reference \"%s\" is being validated or repaired by another session, skipping",
						ref->name)));
		MemoryContextSwitchTo(work->oldcxt);
		MemoryContextDelete(work->cxt);
		return NULL;
	}
	else
	{
		LOCKTAG		workers;
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		if (!held_callbacks)
		{
			RegisterXactCallback(held_xact_callback, NULL);
			RegisterSubXactCallback(held_subxact_callback, NULL);
			held_callbacks = true;
		}
		work->held = MemoryContextAlloc(work->cxt, sizeof(RiHeldLock));
		work->held->tag = work->tag;
		work->held->subid = GetCurrentSubTransactionId();
		work->held->cxt = work->cxt;
		held_locks = lappend(held_locks, work->held);
		MemoryContextSwitchTo(oldcxt);

		/* the workers of a pass whose leader died stop within a batch */
		ri_reference_workers_locktag(&workers, ref->id);
		(void) LockAcquire(&workers, ExclusiveLock, true, false);
		LockRelease(&workers, ExclusiveLock, true);
	}
	return ref;
}

/*
 * ... and end it.  What the work wrote in the current transaction (all of
 * it, inside a transaction block) stays locked until that transaction ends,
 * so the reference's lock does too: taken again at transaction level before
 * the session lock goes, so that another validation skips the reference
 * instead of waiting on its rows.
 */
void
ri_end_work(RiWork *work)
{
	held_locks = list_delete_ptr(held_locks, work->held);
	(void) LockAcquire(&work->tag, ExclusiveLock, false, true);
	LockRelease(&work->tag, ExclusiveLock, true);
	MemoryContextSwitchTo(work->oldcxt);
	MemoryContextDelete(work->cxt);
}

/*
 * Can the reference's tables be read now without waiting?  validate() of
 * every reference asks before each one, as VACUUM (SKIP_LOCKED) does, so
 * that a role holding a lock on its own table cannot hold up everyone's
 * scheduled run.  The locks taken stay until the transaction ends.
 */
static bool
tables_available(RiReference *ref)
{
	Oid			tables[2] = {ref->child, ref->parent};

	for (int i = 0; i < lengthof(tables); i++)
	{
		List	   *rels = find_all_inheritors(tables[i], NoLock, NULL);
		ListCell   *lc;

		foreach(lc, rels)
		{
			if (!ConditionalLockRelationOid(lfirst_oid(lc), AccessShareLock))
			{
				ereport(NOTICE,
						(errmsg("skipping reference \"%s\": table \"%s\" is locked by another session",
								ref->name, get_rel_name(lfirst_oid(lc)))));
				return false;
			}
		}
	}
	return true;
}

/* Run fixed SQL on ri_policy's tables as the extension owner. */
static void
exec_owner(Validator *v, SPIPlanPtr *plan, const char *sql, int nargs,
		   Oid *argtypes, Datum *values)
{
	(void) ri_exec_as_owner(plan, sql, nargs, argtypes, values, NULL, false);
}

/*
 * Hand the keys of the rows a batch skipped, as written during the pass, to
 * the next (incremental) pass: one entry in the change log, the values'
 * text formatted as the child's owner, as the tracking trigger formats them.
 * If a key could not be read, drop the sentinel instead: the next pass is
 * then a full one.
 */
static void
hand_over(Validator *v)
{
	RiReference *ref = v->ref;
	uint64		nkeys = childkeys_count(v->skipped);
	Datum	   *values;
	bool	   *nulls;
	FmgrInfo	out[INDEX_MAX_KEYS];
	Datum		args[2];
	Oid			argtypes[2] = {INT8OID, TEXTARRAYOID};
	int			dims[1];
	int			lbs[1] = {1};
	int			n = 0;
	int			fixed = -1;
	RiUserState saved;

	args[0] = Int64GetDatum(ref->id);
	if (v->skipped_unread)
		exec_owner(v, NULL, "DELETE FROM ri_policy._sentinel WHERE reference = $1",
				   1, argtypes, args);
	if (nkeys == 0)
		return;

	values = palloc(nkeys * ref->nkeys * sizeof(Datum));
	nulls = palloc(nkeys * ref->nkeys * sizeof(bool));
	ri_become(v->scan_user, RI_OWNER_CONTEXT, &saved);
	for (int i = 0; i < ref->nkeys; i++)
	{
		Oid			typoutput;
		bool		typisvarlena;

		getTypeOutputInfo(ref->child_types[i], &typoutput, &typisvarlena);
		fmgr_info(typoutput, &out[i]);
		if (fixed < 0 && ri_output_depends_on_settings(ref->child_types[i]))
			fixed = ri_fixed_output_begin();
	}
	for (ChildKey *key = childkeys_first(v->skipped); key != NULL; key = key->next)
	{
		for (int i = 0; i < ref->nkeys; i++, n++)
		{
			nulls[n] = key->isnull[i];
			values[n] = nulls[n] ? (Datum) 0 :
				CStringGetTextDatum(OutputFunctionCall(&out[i], key->values[i]));
		}
	}
	if (fixed >= 0)
		ri_fixed_output_end(fixed);
	ri_restore(&saved);

	dims[0] = n;
	args[1] = PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, TEXTOID,
												 -1, false, TYPALIGN_INT));
	exec_owner(v, NULL, "INSERT INTO ri_policy._changed (reference, keys, from_parent)"
			   " VALUES ($1, $2, false)", 2, argtypes, args);
}

/*
 * Sink of validate(): add the batch's orphans to ri_policy._pending.  The
 * batch's keys are grouped by binary image, the finest grouping, so that
 * each is judged as the rows holding it are (a child type's equality can be
 * coarser than the comparison with the parent: citext 'abc' and 'ABC' are
 * one citext, but not one text); its orphans are then merged as GROUP BY
 * would merge them, by the child type's equality, and with the keys
 * recorded so far (results.c), their keys formatted as the child's owner;
 * and hand over the keys of the rows it skipped.
 */
static void
record_orphans(Validator *v, ChildKeyGroup *batch)
{
	ChildKeyGroup *merged = childkeys_create_eq(v->ref, v->equality, false,
												v->batch_cxt);
	ChildKey  **keys;
	Datum	   *json;
	int			n = 0;
	RiUserState saved;
	int			nestlevel;

	v->batch_new_keys = 0;
	ri_become(v->scan_user, RI_OWNER_CONTEXT, &saved);
	for (ChildKey *key = childkeys_first(batch); key != NULL; key = key->next)
	{
		if (key->orphan)
			childkeys_add(merged, key->values, key->isnull, key->rows, true);
	}
	keys = palloc(childkeys_count(merged) * sizeof(ChildKey *) + 1);
	json = palloc(childkeys_count(merged) * sizeof(Datum) + 1);
	if (childkeys_count(merged) > 0)
	{
		nestlevel = ri_fixed_output_begin();
		for (ChildKey *key = childkeys_first(merged); key != NULL; key = key->next)
		{
			keys[n] = key;
			json[n++] = key_to_jsonb(v->ref, key->values, key->isnull);
		}
		ri_fixed_output_end(nestlevel);
	}
	ri_restore(&saved);
	if (v->skipped != NULL)
		hand_over(v);
	v->batch_new_keys = ri_pending_add(v->ref, v->equality, v->scan_user, keys,
									   json, n, v->record_plans, v->recorded);
}

/* The saved state of a reference's latest run */
typedef struct RunState
{
	bool		resume;
	Oid			resume_rel;
	BlockNumber resume_block;
	bool		pieced;			/* the pass is read in pieces (parallel.c) */
	RiPiece    *pieces;			/* its unfinished pieces */
	int			npieces;
} RunState;

/*
 * The pieces of the pass, if it is read in pieces: those not done yet, in
 * the validator's context.
 */
static void
load_pieces(Validator *v, RunState *state)
{
	Datum		arg = Int64GetDatum(v->ref->id);
	Oid			argtype = INT8OID;
	int			n = 0;

	exec_owner(v, NULL, "SELECT piece, rel, resume_block, end_block, filenode, done"
			   "  FROM ri_policy._progress_share WHERE reference = $1 ORDER BY piece",
			   1, &argtype, &arg);
	state->pieced = SPI_processed > 0;
	state->pieces = MemoryContextAlloc(v->cxt, (SPI_processed + 1) * sizeof(RiPiece));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		RiPiece    *piece = &state->pieces[n];
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull)))
			continue;
		piece->piece = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		piece->rel = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		piece->resume_block = (BlockNumber) DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		piece->end_block = (BlockNumber) DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		if (isnull)
			piece->end_block = InvalidBlockNumber;
		piece->filenode = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
		n++;
	}
	state->npieces = n;
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Were the pieces of the pass, if it is read in pieces, cut from exactly
 * the child's tables as they are now?  Every table has at least one.
 */
static bool
pieces_fit_leaves(Validator *v)
{
	Datum		arg = Int64GetDatum(v->ref->id);
	Oid			argtype = INT8OID;
	bool		fit;

	exec_owner(v, NULL, "SELECT DISTINCT rel FROM ri_policy._progress_share WHERE reference = $1",
			   1, &argtype, &arg);
	fit = SPI_processed == 0 || SPI_processed == (uint64) list_length(v->leaves);
	for (uint64 i = 0; fit && i < SPI_processed; i++)
	{
		bool		isnull;

		fit = list_member_oid(v->leaves,
							  DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc,
															 1, &isnull)));
	}
	SPI_freetuptable(SPI_tuptable);
	return fit;
}

/*
 * Cut each child table's blocks, as they are now (the tables are locked),
 * into one contiguous piece per process; the last piece of a table reads to
 * its end, whatever it has grown to, as a single-process pass does.
 */
static void
insert_pieces(Validator *v, BlockNumber *nblocks, Oid *filenodes)
{
	int			nprocs = v->workers + 1;
	int			n = 0;
	int			i = 0;
	ListCell   *lc;
	Datum		args[6];
	Oid			argtypes[6] = {INT8OID, INT4OID, OIDOID, INT8OID, INT8OID, OIDOID};
	char		nulls[7] = "      ";

	args[0] = Int64GetDatum(v->ref->id);
	foreach(lc, v->leaves)
	{
		for (int k = 0; k < nprocs; k++)
		{
			uint64		first = (uint64) nblocks[i] * k / nprocs;
			uint64		end = (uint64) nblocks[i] * (k + 1) / nprocs;
			bool		last = (k == nprocs - 1);

			if (!last && first == end)
				continue;
			args[1] = Int32GetDatum(n++);
			args[2] = ObjectIdGetDatum(lfirst_oid(lc));
			args[3] = Int64GetDatum((int64) first);
			args[4] = Int64GetDatum((int64) end);
			nulls[4] = last ? 'n' : ' ';
			args[5] = ObjectIdGetDatum(filenodes[i]);
			(void) ri_exec_as_owner(NULL, "INSERT INTO ri_policy._progress_share"
									" (reference, piece, rel, resume_block, end_block, filenode)"
									" VALUES ($1, $2, $3, $4, $5, $6)",
									6, argtypes, args, nulls, false);
		}
		i++;
	}
}

/*
 * Start a new pass, or pick up an interrupted one.  A pass resumes only
 * from where it began (the start of 0.5's passes, in this cluster and
 * database, not too long ago), over the same child tables.  A new pass
 * forgets what the change log holds (it reads everything written before it
 * began), and tells the child's tracking triggers that a pass is under way
 * (track.c).
 */
static void
begin_run(Validator *v, bool restart, RunState *state)
{
	Datum		arg = Int64GetDatum(v->ref->id);
	Oid			argtype = INT8OID;
	ListCell   *lc;
	int64		blocks_total = 0;
	Datum		args[8];
	Oid			argtypes[8] = {INT8OID, INT8OID, OIDOID, INT4OID,
							   TEXTOID, PG_LSNOID, TEXTOID, TEXTOID};
	const char *why_not = NULL;
	Datum		sargs[2];
	Oid			sargtypes[2] = {INT8OID, BOOLOID};
	BlockNumber *leaf_blocks;
	Oid		   *leaf_filenodes;

	state->resume = false;
	state->pieced = false;
	state->npieces = 0;
	v->start = NULL;
	v->tracked = false;
	ri_recorded_free(v->recorded);
	v->recorded = NULL;
	exec_owner(v, NULL, "SELECT r.tracked_since IS NOT NULL FROM ri_policy._reference r"
			   " WHERE r.id = $1", 1, &argtype, &arg);
	if (SPI_processed == 1)
	{
		bool		isnull;

		v->tracked = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	exec_owner(v, NULL, "SELECT status, resume_rel, resume_block, leaves,"
			   "       start_snapshot::pg_catalog.text, start_lsn, start_origin, resume_filenode,"
			   "       key_columns"
			   "  FROM ri_policy._progress WHERE reference = $1 FOR UPDATE",
			   1, &argtype, &arg);
	if (!restart && SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *status = SPI_getvalue(tup, desc, 1);
		char	   *snapshot = SPI_getvalue(tup, desc, 5);
		char	   *origin = SPI_getvalue(tup, desc, 7);
		char	   *key_columns = SPI_getvalue(tup, desc, 9);
		bool		isnull;
		int			leaves = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));

		/*
		 * "running" here means a run that died: we hold the lock.  A pass
		 * whose set of child tables changed since (a partition attached or
		 * detached) starts over, since its position would not say which
		 * tables remain.
		 */
		if ((strcmp(status, "running") == 0 || strcmp(status, "interrupted") == 0) &&
			leaves == list_length(v->leaves))
		{
			if (snapshot == NULL)
				why_not = "it did not record where it began";
			else if (origin == NULL || strcmp(origin, start_origin()) != 0)
				why_not = "it began in another database";
			else if (key_columns == NULL ||
					 strcmp(key_columns, ri_columns_signature(v->columns)) != 0)
				why_not = "the type, collation or enum labels of a key column changed since it began";
			else
			{
				v->start = start_from_text(v, snapshot,
										   DatumGetLSN(SPI_getbinval(tup, desc, 6, &isnull)));
				if (U64FromFullTransactionId(ReadNextFullTransactionId()) - v->start->xmin >=
					MAX_PASS_XIDS)
				{
					why_not = "it began too many transactions ago";
					v->start = NULL;
				}
			}
		}
		if (v->start != NULL)
		{
			state->resume = true;
			state->resume_rel = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
			state->resume_block = (BlockNumber)
				DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
			v->filenode = DatumGetObjectId(SPI_getbinval(tup, desc, 8, &isnull));
		}
	}
	SPI_freetuptable(SPI_tuptable);

	/*
	 * A pass read in pieces resumes only on the tables it was cut from: a
	 * partition or inheritance child swapped for another (their number
	 * unchanged) would have its pieces read, and the new one none.
	 */
	if (state->resume && !pieces_fit_leaves(v))
	{
		why_not = "the tables of its child changed";
		state->resume = false;
		v->start = NULL;
	}
	if (why_not != NULL)
		ereport(NOTICE,
				(errmsg("the interrupted validation of reference \"%s\" starts over: %s",
						v->ref->name, why_not)));

	leaf_blocks = palloc0((list_length(v->leaves) + 1) * sizeof(BlockNumber));
	leaf_filenodes = palloc0((list_length(v->leaves) + 1) * sizeof(Oid));
	foreach(lc, v->leaves)
	{
		Relation	rel;

		/* a Citus table's shell has no blocks of its own to count */
		if (v->citus != NULL)
			break;
		rel = try_table_open(lfirst_oid(lc), AccessShareLock);
		if (rel == NULL)
			continue;
		leaf_blocks[foreach_current_index(lc)] = RelationGetNumberOfBlocks(rel);
		leaf_filenodes[foreach_current_index(lc)] = rel->rd_rel->relfilenode;
		blocks_total += leaf_blocks[foreach_current_index(lc)];
		table_close(rel, NoLock);
	}
	args[0] = arg;
	args[1] = Int64GetDatum(blocks_total);

	if (state->resume)
	{
		exec_owner(v, NULL, "UPDATE ri_policy._progress"
				   "   SET status = 'running', blocks_total = $2, error = NULL"
				   " WHERE reference = $1",
				   2, argtypes, args);
		load_pieces(v, state);
		/* the keys this process records (results.c, RiRecorded) */
		if (v->sink == record_orphans)
			v->recorded = ri_recorded_create(v->ref, v->equality, false, v->cxt);
		return;
	}

	state->resume_rel = v->leaves ? linitial_oid(v->leaves) : InvalidOid;
	state->resume_block = 0;
	args[2] = ObjectIdGetDatum(state->resume_rel);
	args[3] = Int32GetDatum(list_length(v->leaves));

	/*
	 * The change log is complete from now on only if the tracking triggers
	 * see every change now (track.c): a pass begun while one is disabled,
	 * say, vouches for nothing after it, nor does an earlier pass.  The
	 * pending results go: the reference's, and any left by a pass whose
	 * reference was dropped as a batch of it committed
	 * (require_progress_row()).
	 */
	sargs[0] = arg;
	sargs[1] = BoolGetDatum(!OidIsValid(v->ref->conoid) &&
							ri_track_gap(v->ref, NULL) == NULL);
	exec_owner(v, NULL, "WITH c AS (DELETE FROM ri_policy._changed WHERE reference = $1),"
			   " s AS (INSERT INTO ri_policy._sentinel"
			   "        SELECT $1 FROM ri_policy._reference"
			   "         WHERE id = $1 AND tracked_since IS NOT NULL AND $2"
			   "        ON CONFLICT DO NOTHING),"
			   " x AS (DELETE FROM ri_policy._sentinel s"
			   "        WHERE NOT EXISTS (SELECT 1 FROM ri_policy._reference r"
			   "                           WHERE r.id = s.reference)"
			   "           OR (s.reference = $1 AND NOT $2)),"
			   " b AS (DELETE FROM ri_policy._pending_batch b WHERE reference = $1"
			   "          OR NOT EXISTS (SELECT 1 FROM ri_policy._progress p"
			   "                          WHERE p.reference = b.reference))"
			   " DELETE FROM ri_policy._pending d WHERE reference = $1"
			   "    OR NOT EXISTS (SELECT 1 FROM ri_policy._progress p"
			   "                    WHERE p.reference = d.reference)",
			   2, sargtypes, sargs);

	/*
	 * The start is taken after the change log was emptied, with a snapshot
	 * at least as new: the entries that went were written before it, by
	 * rows this pass reads.
	 */
	v->start = take_start(v);
	args[4] = CStringGetTextDatum(start_text(v->start));
	args[5] = LSNGetDatum(v->start->lsn);
	args[6] = CStringGetTextDatum(start_origin());
	args[7] = CStringGetTextDatum(ri_columns_signature(v->columns));
	exec_owner(v, NULL, "INSERT INTO ri_policy._progress AS p (reference, status,"
			   "   started_at, blocks_total, resume_rel, leaves, start_snapshot, start_lsn,"
			   "   start_origin, key_columns)"
			   " VALUES ($1, 'running', pg_catalog.clock_timestamp(), $2, $3, $4,"
			   "         $5::pg_catalog.pg_snapshot, $6, $7, $8)"
			   " ON CONFLICT (reference) DO UPDATE SET status = 'running',"
			   "   started_at = pg_catalog.clock_timestamp(), finished_at = NULL, batches = 0,"
			   "   rows_checked = 0, blocks_total = $2, blocks_done = 0,"
			   "   orphan_keys = 0, resume_rel = $3, resume_block = 0, leaves = $4,"
			   "   error = NULL, start_snapshot = excluded.start_snapshot,"
			   "   start_lsn = $6, start_origin = $7, resume_filenode = 0, resume_key = NULL,"
			   "   key_columns = $8",
			   8, argtypes, args);

	/*
	 * Read in pieces by several processes (parallel.c) when workers are
	 * wanted and the child is large enough to repay them.
	 */
	exec_owner(v, NULL, "DELETE FROM ri_policy._progress_share WHERE reference = $1",
			   1, argtypes, args);
	if (v->workers > 0 && v->citus == NULL &&
		blocks_total >= (int64) ri_policy_min_parallel_blocks)
	{
		insert_pieces(v, leaf_blocks, leaf_filenodes);
		load_pieces(v, state);
	}

	/*
	 * The keys this process records (results.c, RiRecorded), counted where
	 * it reads the whole pass
	 */
	if (v->sink == record_orphans)
		v->recorded = ri_recorded_create(v->ref, v->equality, !state->pieced, v->cxt);
	if (v->tracked)
		CacheInvalidateRelcacheByRelid(v->ref->child);
}

/*
 * After an update of the reference's progress row: it is gone when the
 * reference (or its table, or its foreign key) was dropped since the pass
 * began, or its table replaced by another (as Citus's conversions replace
 * it: citus.c starts the reference's pass over), and then nothing more of
 * the pass may be recorded.  (The drop removed what the pass had recorded;
 * a batch that committed just before it may have left rows of the pass
 * behind, which begin_run() removes.)
 */
static void
require_progress_row(Validator *v)
{
	Datum		arg = Int64GetDatum(v->ref->id);
	Oid			argtype = INT8OID;

	if (SPI_processed == 1)
		return;
	exec_owner(v, NULL, "SELECT 1 FROM ri_policy._reference WHERE id = $1"
			   " UNION ALL SELECT 1 FROM ri_policy._foreign_key WHERE id = $1",
			   1, &argtype, &arg);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("reference \"%s\" was dropped while it was being validated",
						v->ref->name)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the tables of reference \"%s\" changed while it was being validated",
					v->ref->name),
			 errdetail("A table the pass reads was replaced by another (as Citus replaces a table it converts)."),
			 errhint("Call ri_policy.validate() again: the next pass starts over.")));
}

/*
 * Record a batch's progress: the position to resume from, and counters.
 * orphan_keys counts the pending keys: a new pass begins with none, and
 * each batch adds those it made new, in its own transaction (counting them
 * instead would cost a batch as much as all the keys found so far); where
 * batches append their keys, those new to the process (results.c,
 * RiRecorded), so that a key may count twice until the pass ends.
 */
static void
record_progress(Validator *v, Oid rel, BlockNumber next, int64 blocks_done)
{
	Datum		args[7];
	Oid			argtypes[7] = {INT8OID, INT8OID, INT8OID, OIDOID, INT8OID, OIDOID,
							   INT8OID};

	args[0] = Int64GetDatum(v->ref->id);
	args[1] = Int64GetDatum((int64) v->batch_rows);
	args[2] = Int64GetDatum(blocks_done);
	args[3] = ObjectIdGetDatum(rel);
	args[4] = Int64GetDatum((int64) next);
	args[5] = ObjectIdGetDatum(v->filenode);
	args[6] = Int64GetDatum((int64) v->batch_new_keys);
	exec_owner(v, &v->progress_plan, "UPDATE ri_policy._progress"
			   "   SET batches = batches + 1, rows_checked = rows_checked + $2,"
			   "       blocks_done = $3, resume_rel = $4, resume_block = $5,"
			   "       resume_filenode = $6, orphan_keys = orphan_keys + $7"
			   " WHERE reference = $1",
			   7, argtypes, args);
	require_progress_row(v);
}

/*
 * The same for a batch of a piece: the piece's position, and the pass's
 * counters, which every process adds to.
 */
static void
record_piece(Validator *v, BlockNumber next, int64 blocks)
{
	Datum		args[5];
	Oid			argtypes[5] = {INT8OID, INT4OID, INT8OID, BOOLOID, OIDOID};
	Datum		pargs[4];
	Oid			pargtypes[4] = {INT8OID, INT8OID, INT8OID, INT8OID};

	args[0] = Int64GetDatum(v->ref->id);
	args[1] = Int32GetDatum(v->piece);
	args[2] = Int64GetDatum(next == InvalidBlockNumber ? 0 : (int64) next);
	args[3] = BoolGetDatum(next == InvalidBlockNumber);
	args[4] = ObjectIdGetDatum(v->filenode);
	exec_owner(v, &v->piece_plans[0], "UPDATE ri_policy._progress_share"
			   "   SET resume_block = $3, done = $4, filenode = $5"
			   " WHERE reference = $1 AND piece = $2",
			   5, argtypes, args);
	pargs[0] = args[0];
	pargs[1] = Int64GetDatum((int64) v->batch_rows);
	pargs[2] = Int64GetDatum(blocks);
	pargs[3] = Int64GetDatum((int64) v->batch_new_keys);
	exec_owner(v, &v->piece_plans[1], "UPDATE ri_policy._progress"
			   "   SET batches = batches + 1, rows_checked = rows_checked + $2,"
			   "       blocks_done = LEAST(blocks_done + $3, blocks_total),"
			   "       orphan_keys = orphan_keys + $4"
			   " WHERE reference = $1",
			   4, pargtypes, pargs);
	require_progress_row(v);
}

/*
 * The pass is complete: its orphans replace the reference's violations.
 */
static void
finish_run(Validator *v)
{
	static const char *const no_nestloop[][2] = {{"enable_nestloop", "off"}};
	Datum		arg = Int64GetDatum(v->ref->id);
	Oid			argtype = INT8OID;
	int			nestlevel;

	/* a pass read in pieces is complete when every piece is */
	exec_owner(v, NULL, "DELETE FROM ri_policy._progress_share"
			   " WHERE reference = $1 RETURNING done", 1, &argtype, &arg);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										1, &isnull)))
			elog(ERROR, "a piece of the validation of reference \"%s\" was not read",
				 v->ref->name);
	}
	SPI_freetuptable(SPI_tuptable);

	/*
	 * A pending key is a recorded one when their jsonb forms are equal: a
	 * key already recorded went to _pending in its recorded form, or in
	 * one equal to it as jsonb where that is the child type's equality
	 * (results.c); the violation keeps its form.  A key may have a row in
	 * _pending and an entry in each batch of _pending_batch that found it
	 * (results.c, RiRecorded): its rows add up.  Only the violations that
	 * changed are written: every one left was seen by this pass, which
	 * _progress.seen_at says once (the violations view shows the later of
	 * it and a violation's own last_seen), so that the end of a pass costs
	 * what changed rather than a rewrite of every key.  The
	 * pending and recorded keys are joined by hash, never in nested loops:
	 * the tables' statistics are usually those of before the pass (the
	 * pass's own keys came since), and a nested loop over thousands of keys
	 * on each side took seconds to minutes.  (So _pending_batch's arrays
	 * are unnested in the select list: a lateral function scan is a nested
	 * loop, whose disabled cost set off JIT compilation, longer than the
	 * rest of the statement.)
	 */
	nestlevel = ri_plan_settings_begin(no_nestloop, lengthof(no_nestloop));
	exec_owner(v, NULL,
			   "WITH p AS (SELECT key, key_hash, pg_catalog.sum(child_rows)::bigint AS child_rows"
			   "             FROM (SELECT key, key_hash, child_rows FROM ri_policy._pending"
			   "                    WHERE reference = $1"
			   "                   UNION ALL"
			   "                   SELECT pg_catalog.unnest(keys), pg_catalog.unnest(key_hashes),"
			   "                          pg_catalog.unnest(child_rows)"
			   "                     FROM ri_policy._pending_batch WHERE reference = $1) a"
			   "            GROUP BY key, key_hash),"
			   " gone AS (DELETE FROM ri_policy._violation v"
			   "           WHERE v.reference = $1"
			   "             AND NOT EXISTS (SELECT 1 FROM p"
			   "                              WHERE p.key_hash = v.key_hash AND p.key = v.key)),"
			   " kept AS (UPDATE ri_policy._violation v"
			   "             SET child_rows = p.child_rows, last_seen = pg_catalog.now()"
			   "            FROM p"
			   "           WHERE v.reference = $1 AND v.key_hash = p.key_hash AND v.key = p.key"
			   "             AND v.child_rows <> p.child_rows),"
			   " new AS (INSERT INTO ri_policy._violation"
			   "           (reference, key, key_hash, child_rows, first_seen, last_seen)"
			   "         SELECT $1, p.key, p.key_hash, p.child_rows, pg_catalog.now(), pg_catalog.now()"
			   "           FROM p"
			   "          WHERE NOT EXISTS (SELECT 1 FROM ri_policy._violation v"
			   "                             WHERE v.reference = $1 AND v.key_hash = p.key_hash"
			   "                               AND v.key = p.key)),"
			   " b AS (DELETE FROM ri_policy._pending_batch WHERE reference = $1)"
			   " DELETE FROM ri_policy._pending WHERE reference = $1",
			   1, &argtype, &arg);
	ri_plan_settings_end(nestlevel);
	exec_owner(v, NULL,
			   "UPDATE ri_policy._progress"
			   "   SET status = 'done', finished_at = pg_catalog.clock_timestamp(),"
			   "       last_done_at = pg_catalog.clock_timestamp(), last_full_at = started_at,"
			   "       seen_at = pg_catalog.now(), blocks_done = blocks_total,"
			   "       orphan_keys = (SELECT pg_catalog.count(*) FROM ri_policy._violation"
			   "                       WHERE reference = $1)"
			   " WHERE reference = $1",
			   1, &argtype, &arg);
	require_progress_row(v);
	if (v->tracked)
		CacheInvalidateRelcacheByRelid(v->ref->child);
}

/*
 * Record why a run stopped, in a fresh (sub)transaction state.
 */
static void
record_stop(Validator *v, ErrorData *edata)
{
	Datum		args[3];
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};

	args[0] = Int64GetDatum(v->ref->id);
	args[1] = CStringGetTextDatum(edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
								  edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ?
								  "interrupted" : "failed");
	args[2] = CStringGetTextDatum(edata->message ? edata->message : "");
	exec_owner(v, NULL, "UPDATE ri_policy._progress SET status = $2, error = $3"
			   " WHERE reference = $1 AND status = 'running'",
			   3, argtypes, args);
}

/* End the current transaction and start the next, outside a block. */
static void
commit_point(Validator *v)
{
	if (!v->atomic)
		compat_spi_commit();
}

/*
 * Commit a batch of a pass without waiting for its WAL to reach disk
 * (synchronous_commit = off for this commit only).  The batch's orphans and
 * its position commit together, and a crash loses only a suffix of
 * transactions, so a crash may lose the last few batches, never one without
 * the other: the next call resumes from the last batch that survived and
 * reads the rest again, with the same exact result.  (An incremental pass's
 * batch takes its keys from the change log in the same transaction; the log
 * is unlogged, and emptied with its sentinel by a crash, so the pass after
 * a crash is a full one.)  Waiting for a flush
 * per batch (a few milliseconds each) was most of a pass's time.  Whoever
 * reads the batch's results commits after it in the WAL, so whatever they
 * make of it is flushed with their commit; the pass's last commit, which
 * reports it done, waits as every other does.
 */
static void
commit_batch(Validator *v)
{
	if (v->atomic)
		return;
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	compat_spi_commit();
}

typedef enum StepKind
{
	STEP_BEGIN,
	STEP_SET,
	STEP_BATCH,
	STEP_WAIT,					/* the leader waits for its workers */
	STEP_FINISH
} StepKind;

/*
 * The leader waits for its workers' last pieces this long a transaction:
 * waiting for the slowest worker in one transaction made it the longest of
 * the pass (about half of a 5M-row pass's time in make bench).
 */
#define WAIT_STEP_MS	20L

typedef struct Step
{
	StepKind	kind;
	bool		restart;
	RunState   *state;
	Oid			rel;
	BlockNumber start;
	BlockNumber next;			/* out, STEP_BATCH */
	int64		blocks_before;	/* blocks of the leaves before rel */
	bool		waited;			/* out, STEP_WAIT: every worker has stopped */
} Step;

/*
 * Set when run_step() re-throws an error after rolling back its
 * subtransaction (and recording the stop): the transaction is then in a
 * clean state, in which validate() of every reference may go on with the
 * next one.
 */
static bool step_failed_cleanly = false;

/*
 * Run one unit of work (one transaction, outside a block) in a
 * subtransaction with its own snapshot.  On an error, record the run as
 * failed (or interrupted, for a cancel), commit that, and re-throw.
 */
static void
run_step(Validator *v, Step *step)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	List	   *leaves = NIL;

	step_failed_cleanly = false;

	BeginInternalSubTransaction(NULL);
	/* waiting for the workers holds back no snapshot */
	if (step->kind != STEP_WAIT)
		PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		MemoryContextReset(v->batch_cxt);
		MemoryContextSwitchTo(v->batch_cxt);
		switch (step->kind)
		{
			case STEP_BEGIN:
				begin_run(v, step->restart, step->state);
				break;
			case STEP_SET:
				/* the probe, prepared here so that a failure is a step's */
				if (v->confirm == NULL)
					v->confirm = ri_probe_prepare(v->ref);
				build_parent_set(v);
				break;
			case STEP_BATCH:
				{
					ChildKeyGroup *batch;

					/* a worker that failed fails the leader's call */
					if (v->par != NULL)
						ri_parallel_check(v->par);
					batch = read_batch(v, step->rel, step->start, &step->next);
					if (v->start_over != NULL)
						break;
					confirm_suspects(v, batch);
					if (v->piece >= 0 && v->recorded == NULL)
						lock_recording(v->ref->id);
					v->sink(v, batch);
					if (v->piece >= 0)
					{
						BlockNumber end = step->next;

						if (end == InvalidBlockNumber)
							end = v->end_block != InvalidBlockNumber ?
								v->end_block : rel_blocks(step->rel);
						record_piece(v, step->next,
									 end > step->start ? (int64) (end - step->start) : 0);
					}
					else if (v->sink == record_orphans)
					{
						int64		done = step->blocks_before +
							(step->next == InvalidBlockNumber ?
							 rel_blocks(step->rel) : step->next);

						record_progress(v, step->rel, step->next, done);
					}
				}
				break;
			case STEP_WAIT:
				step->waited = ri_parallel_wait(v->par, WAIT_STEP_MS);
				break;
			case STEP_FINISH:
				/* the child's rows may have moved since the pass began */
				ri_refuse_moved_rows(v->ref, v->citus != NULL);

				/*
				 * Lock every child table before writing the results: a
				 * column rename, holding its table and rewriting those
				 * results, must not wait on them while this waits on it.
				 */
				leaves = child_leaves(v->ref);
				finish_run(v);
				break;
		}

		/*
		 * What this step read was read under locks it still holds: check
		 * that the names it went by still lead to the columns the pass
		 * began with, and at the end that it read every child table.
		 */
		if (v->columns != NULL && step->kind != STEP_WAIT)
			ri_columns_check(v->columns, leaves);
		if (step->kind != STEP_WAIT)
			PopActiveSnapshot();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(v->cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		/*
		 * Record why the run stopped, unless it never began: then the
		 * progress row is still the previous run's, perhaps a finished one
		 * that must not become resumable.
		 */
		if (v->sink == record_orphans && v->run_begun)
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			record_stop(v, edata);
			PopActiveSnapshot();
			commit_point(v);
		}
		step_failed_cleanly = true;
		ri_rethrow(edata);
	}
	PG_END_TRY();
}

/*
 * Read every child table from the resume position to the end, a batch per
 * step.  Returns false if the pass must begin again (v->start_over says
 * why).
 */
static bool
run_batches(Validator *v, RunState *state)
{
	ListCell   *lc;
	bool		started = !OidIsValid(state->resume_rel);
	int64		blocks_before = 0;

	foreach(lc, v->leaves)
	{
		Oid			leaf = lfirst_oid(lc);
		Step		step = {0};

		/* skip the tables a resumed pass has already read */
		if (!started)
		{
			if (leaf < state->resume_rel)
			{
				blocks_before += rel_blocks(leaf);
				continue;
			}
			step.start = (leaf == state->resume_rel) ? state->resume_block : 0;
			started = true;
		}
		step.kind = STEP_BATCH;
		step.rel = leaf;
		step.blocks_before = blocks_before;
		do
		{
			run_step(v, &step);
			commit_batch(v);
			if (v->start_over != NULL)
				return false;
			step.start = step.next;
		} while (step.next != InvalidBlockNumber);
		blocks_before += rel_blocks(leaf);
	}
	return true;
}

/*
 * Read pieces of the pass until none is left (parallel.c), each from its
 * resume position to its end, a batch per step, as run_batches() reads a
 * table.  Returns false if the pass must begin again.
 */
static bool
run_pieces(Validator *v, RiParallelShared *sh)
{
	RiPiece		piece;
	bool		ok = true;

	while (ok && ri_parallel_claim(sh, &piece))
	{
		Step		step = {0};

		step.kind = STEP_BATCH;
		step.rel = piece.rel;
		step.start = piece.resume_block;
		v->piece = piece.piece;
		v->end_block = piece.end_block;
		v->filenode = piece.filenode;
		do
		{
			if (ri_parallel_stopping(sh))
				break;
			run_step(v, &step);
			commit_batch(v);
			if (v->start_over != NULL)
			{
				ri_parallel_start_over(sh, v->start_over);
				ok = false;
				break;
			}
			step.start = step.next;
		} while (step.next != InvalidBlockNumber);
	}
	v->piece = -1;
	v->end_block = InvalidBlockNumber;
	return ok;
}

/*
 * The leader's part of a pass read in pieces: launch the workers, read
 * pieces too, and wait until every worker has stopped.  Returns false if
 * the pass must begin again.  Whatever happens, no worker outlives this.
 */
static bool
run_parallel(Validator *v, RunState *state)
{
	RiParallel *volatile par = NULL;
	volatile bool ok = true;

	if (state->npieces == 0)
		return true;
	PG_TRY();
	{
		Step		step = {0};
		char	   *why;

		par = ri_parallel_launch(v->ref->id, v->batch_size, state->pieces,
								 state->npieces,
								 Min(v->workers, state->npieces - 1));
		v->par = par;
		ereport(DEBUG1,
				(errmsg("validation of reference \"%s\": %d pieces, %d workers",
						v->ref->name, state->npieces, ri_parallel_launched(par))));
		ok = run_pieces(v, ri_parallel_shared(par));
		if (!ok)
			ri_parallel_stop(par);
		step.kind = STEP_WAIT;
		do
		{
			run_step(v, &step);
			commit_point(v);
		} while (!step.waited);
		why = ri_parallel_started_over(par);
		if (why != NULL)
		{
			ok = false;
			if (v->start_over == NULL)
				v->start_over = MemoryContextStrdup(v->cxt, why);
		}
	}
	PG_FINALLY();
	{
		v->par = NULL;
		ri_parallel_end(par);
	}
	PG_END_TRY();
	return ok;
}

/*
 * Set up a validator for a reference: who does what, which tables to read.
 */
static Validator *
validator_create(RiReference *ref, int batch_size, bool atomic,
				 OrphanSink sink, MemoryContext cxt)
{
	Validator  *v = MemoryContextAllocZero(cxt, sizeof(Validator));

	v->ref = ref;
	v->batch_size = batch_size;
	v->atomic = atomic;
	v->cxt = cxt;
	v->batch_cxt = AllocSetContextCreate(cxt, "ri_policy batch",
										 ALLOCSET_DEFAULT_SIZES);
	v->sink = sink;
	v->piece = -1;
	v->end_block = InvalidBlockNumber;

	/*
	 * May this reference be compared, and by whom?  Owners, casts and types
	 * may have changed since it was declared.
	 */
	ri_check_comparison(ref);
	(void) ri_refuse_rows_elsewhere(ref, RI_USE_SCAN,
									sink == record_orphans ? "validate" : "list the orphans of",
									ERROR);

	/*
	 * The child's values are read, converted and formatted as its owner,
	 * whoever asks (as ANALYZE would): its owner's code never runs as
	 * anyone else.  A caller of orphans() who is not the owner has SELECT
	 * on the child and no row-level security there, so sees the same rows.
	 */
	v->scan_user = ri_rel_owner(ref->child);
	v->parent_owner = ri_rel_owner(ref->parent);
	v->equality = keyeq_create(ref, cxt);
	v->ext_owner = ri_extension_owner();
	v->leaves = child_leaves(ref);
	if (ri_reads_through_citus(ref))
		v->citus = ri_citus_reader_create(ref, v->scan_user, cxt);
	return v;
}

/*
 * Validate one reference: a whole pass, or the rest of an interrupted one.
 */
static void
validate_one(RiReference *found, int batch_size, bool restart, bool atomic)
{
	RiWork		work;
	RiReference *ref;
	Validator  *volatile v = NULL;
	RunState	state = {0};

	ref = ri_begin_work(found, &work);
	if (ref == NULL)
		return;

	PG_TRY();
	{
		Step		step = {0};

		v = validator_create(ref, batch_size, atomic, record_orphans, work.cxt);
		v->columns = ri_columns_remember(ref, v->leaves);

		/*
		 * In a transaction block, which holds its snapshot anyway, every
		 * batch reads with one: nothing moves under the pass.
		 */
		if (atomic)
			v->snapshot = RegisterSnapshot(GetTransactionSnapshot());

		/*
		 * Workers only between commits, and only where each batch's writes
		 * see the batches committed before them (lock_recording()).
		 */
		if (!atomic && v->citus == NULL && DefaultXactIsoLevel == XACT_READ_COMMITTED &&
			!IsolationUsesXactSnapshot())
			v->workers = ri_parallel_workers_wanted();

		step.kind = STEP_BEGIN;
		step.restart = restart;
		step.state = &state;
		run_step(v, &step);
		v->run_begun = true;
		commit_point(v);

		step.kind = STEP_SET;
		run_step(v, &step);

		while (!(state.pieced ? run_parallel(v, &state) : run_batches(v, &state)))
		{
			ereport(NOTICE,
					(errmsg("validation of reference \"%s\" starts over: %s",
							ref->name, v->start_over)));
			v->start_over = NULL;
			step.kind = STEP_BEGIN;
			step.restart = true;
			run_step(v, &step);
			commit_point(v);
		}

		step.kind = STEP_FINISH;
		run_step(v, &step);
		commit_point(v);
	}
	PG_FINALLY();
	{
		if (v != NULL)
		{
			SPIPlanPtr	plans[4] = {v->confirm, v->progress_plan,
			v->piece_plans[0], v->piece_plans[1]};

			for (int i = 0; i < lengthof(plans); i++)
			{
				if (plans[i] != NULL)
					SPI_freeplan(plans[i]);
			}
			if (v->snapshot != NULL)
				UnregisterSnapshot(v->snapshot);
			ri_citus_reader_end(v->citus);
			for (int i = 0; i < RI_PENDING_PLANS; i++)
			{
				if (v->record_plans[i] != NULL)
					SPI_freeplan(v->record_plans[i]);
			}
		}
		ri_end_work(&work);
	}
	PG_END_TRY();
}

/*
 * A worker's part of a pass read in pieces (parallel.c): as the caller,
 * load the reference, check ownership as the leader did, take the pass's
 * start as a resumed pass does, build the parent's set, and read pieces
 * until none is left or the pass stops.  The leader alone begins, records
 * the stop of, and ends the pass.
 */
void
ri_validate_share(RiParallelShared *sh, int64 ref_id, int batch_size)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "ri_policy worker",
											  ALLOCSET_DEFAULT_SIZES);
	RiReference *ref;
	Validator  *v;
	Step		step = {0};
	Datum		arg = Int64GetDatum(ref_id);
	Oid			argtype = INT8OID;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "ri_policy.validate()");
	ri_require_current_objects();
	MemoryContextSwitchTo(cxt);
	ref = ri_load_reference_id(ref_id);
	ri_require_child_owner(ref);
	v = validator_create(ref, batch_size, false, record_orphans, cxt);
	v->columns = ri_columns_remember(ref, v->leaves);
	v->shared = sh;
	v->recorded = ri_recorded_create(ref, v->equality, false, cxt);

	/* a foreign key's id is in _foreign_key: never tracked */
	exec_owner(v, NULL, "SELECT p.start_snapshot::pg_catalog.text, p.start_lsn,"
			   "       r.tracked_since IS NOT NULL"
			   "  FROM ri_policy._progress p LEFT JOIN ri_policy._reference r ON r.id = p.reference"
			   " WHERE p.reference = $1 AND p.status = 'running'",
			   1, &argtype, &arg);
	if (SPI_processed != 1 || SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the validation of reference \"%s\" is not running", ref->name)));
	else
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		v->start = start_from_text(v, SPI_getvalue(tup, desc, 1),
								   DatumGetLSN(SPI_getbinval(tup, desc, 2, &isnull)));
		v->tracked = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	PopActiveSnapshot();
	compat_spi_commit();

	/* a worker that starts late builds no set of keys for nothing */
	if (ri_parallel_pieces_left(sh))
	{
		step.kind = STEP_SET;
		run_step(v, &step);
		compat_spi_commit();
		(void) run_pieces(v, sh);
	}

	SPI_finish();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* ----------------------------------------------------------------
 * Incremental passes
 * ----------------------------------------------------------------
 */

/* Why a tracked reference's pass is full rather than incremental */
typedef struct WhyFull
{
	char	   *reason;			/* NULL: it is not (or not tracked) */
	const char *hint;			/* what to do about it, if anything */
	bool		expected;		/* the first pass after track(), or resuming */
} WhyFull;

/* A reason recorded earlier, given again for a pass that comes after it */
#define INCOMPLETE_SINCE "its change log has been incomplete since: "

/*
 * May this reference be validated incrementally?  It must be tracked, with
 * a complete full pass that started after tracking did and nothing since
 * that tracking could not see (its sentinel: see track.c and follow.c),
 * triggers that see every change now, and keys an incremental pass can
 * compare.  If not, and it is tracked, *why (if given) says why.
 */
static bool
incremental_possible(RiReference *ref, WhyFull *why)
{
	Datum		arg = Int64GetDatum(ref->id);
	Oid			argtype = INT8OID;
	char	   *reason = NULL;
	const char *advice = NULL;
	bool		tracked = false;
	bool		full_since = false;
	bool		done = false;
	bool		complete = false;
	char	   *recorded = NULL;

	if (OidIsValid(ref->conoid))
		return false;
	if (ri_exec_as_owner(NULL, "SELECT r.tracked_since IS NOT NULL,"
						 "       p.last_full_at >= r.tracked_since,"
						 "       p.status = 'done',"
						 "       EXISTS (SELECT 1 FROM ri_policy._sentinel s"
						 "                WHERE s.reference = r.id),"
						 "       p.why_full"
						 "  FROM ri_policy._reference r"
						 "  LEFT JOIN ri_policy._progress p ON p.reference = r.id"
						 " WHERE r.id = $1", 1, &argtype, &arg, NULL,
						 true) == SPI_OK_SELECT && SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		tracked = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
		full_since = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull)) && !isnull;
		done = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) && !isnull;
		complete = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		recorded = SPI_getvalue(tup, desc, 5);
	}
	SPI_freetuptable(SPI_tuptable);
	if (!tracked)
		return false;

	/* the most lasting reason first */
	reason = ri_track_gap(ref, &advice);
	if (reason == NULL && !ri_incremental_safe(ref, ri_rel_owner(ref->child)))
		reason = psprintf("row-level security on table \"%s\" hides rows from the owner of table \"%s\"",
						  get_rel_name(ref->parent), get_rel_name(ref->child));
	if (reason == NULL && !ri_keys_compare_by_image(ref))
		reason = pstrdup("its keys can be equal without being the same value (by their types, collations or operators), which an incremental pass cannot match");
	if (why)
		why->expected = (reason == NULL && (!full_since || !done));
	if (reason == NULL && !full_since)
		reason = pstrdup("it has had no complete full pass since it was tracked");
	if (reason == NULL && !done)
		reason = pstrdup("its last pass did not complete");
	if (reason == NULL && !complete)
	{
		/* what made it so, if recorded (follow.c, or an earlier pass) */
		if (recorded == NULL)
			reason = pstrdup("its change log may be incomplete (the server crashed, or a pass stopped before it re-checked what it took)");
		else if (strncmp(recorded, INCOMPLETE_SINCE, strlen(INCOMPLETE_SINCE)) == 0)
			reason = recorded;
		else
			reason = psprintf(INCOMPLETE_SINCE "%s", recorded);
	}
	if (why)
	{
		why->reason = reason;
		why->hint = advice;
	}
	return reason == NULL;
}

/*
 * The outcome of re-checking a batch of keys: the orphans, with their rows,
 * and the keys to clear; each as jsonb with its key_hash (results.c).
 */
typedef struct Recheck
{
	int			norphans;
	Datum	   *orphans;
	Datum	   *orphan_hashes;
	Datum	   *orphan_rows;
	int			nclean;
	Datum	   *clean;
	Datum	   *clean_hashes;
} Recheck;

/* The plans of an incremental pass: see recheck_keys() */
typedef struct RecheckPlans
{
	SPIPlanPtr	read;
	SPIPlanPtr	count;			/* keys without NULLs */
	SPIPlanPtr	count_nulls;	/* MATCH FULL keys that are partly NULL */
} RecheckPlans;

/*
 * The statement that reads a batch of changed keys back ($1 ... $n, the
 * text of their values, an array per column; $n+1, whether each was
 * recorded from the parent): each distinct key once, in the child's types,
 * and whether any of its entries came from the parent.
 *
 *	SELECT u.v1::t1, ..., bool_or(u.p)
 *	  FROM ROWS FROM (unnest($1), ..., unnest($n+1)) AS u(v1, ..., p)
 *	 GROUP BY 1, ...
 */
static char *
recheck_read_sql(RiReference *ref)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(&buf, "u.v%d::%s, ", i + 1,
						 format_type_be_qualified(ref->child_types[i]));
	appendStringInfoString(&buf, "pg_catalog.bool_or(u.p) FROM ROWS FROM (");
	for (int i = 0; i <= ref->nkeys; i++)
		appendStringInfo(&buf, "%spg_catalog.unnest($%d)", i ? ", " : "", i + 1);
	appendStringInfoString(&buf, ") AS u(");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(&buf, "v%d, ", i + 1);
	appendStringInfoString(&buf, "p) GROUP BY ");
	for (int i = 0; i < ref->nkeys; i++)
		appendStringInfo(&buf, "%s%d", i ? ", " : "", i + 1);
	return buf.data;
}

/*
 * The statement that counts the child rows of orphaned keys ($1 ... $n,
 * arrays of the child's types) with the child type's equality, as a pass
 * groups them: one join, which the planner makes a nested loop over an
 * index of the child where there is one, and a hash join over one scan of
 * the child where there is none (a scan of the child for each key, as a
 * subquery per key would make it, took longer than a full pass):
 *
 *	SELECT count(c.c1)
 *	  FROM ROWS FROM (unnest($1), ...) WITH ORDINALITY AS o(k1, ..., i)
 *	  LEFT JOIN [ONLY] child c ON c.c1 = o.k1 AND ...
 *	 GROUP BY o.i ORDER BY o.i
 *
 * None of those keys is NULL, so c.c1 is NULL only where no row matched.
 * With "nulls_match", for keys with a NULL (MATCH FULL violations that
 * are partly NULL, where a NULL matches a NULL, which neither an index nor
 * a hash can serve; there are few), a subquery for each key counts them,
 *
 *	SELECT (SELECT count(*) FROM [ONLY] child c WHERE c.c1 = o.k1 AND ...)
 *	  FROM ROWS FROM (unnest($1), ...) WITH ORDINALITY AS o(k1, ..., i)
 *	 ORDER BY o.i
 */
static char *
recheck_count_sql(RiReference *ref, bool nulls_match)
{
	StringInfoData buf;
	const char *child = psprintf("%s%s c", ref->only_child ? "ONLY " : "",
								 ri_qualified_name(ref->child));

	initStringInfo(&buf);
	if (nulls_match)
	{
		appendStringInfo(&buf, "SELECT (SELECT pg_catalog.count(*) FROM %s WHERE ", child);
		ri_append_child_match(&buf, ref, "o.k%d", ref->match_full);
		appendStringInfoChar(&buf, ')');
	}
	else
		appendStringInfo(&buf, "SELECT pg_catalog.count(c.%s)",
						 quote_identifier(ref->child_columns[0]));
	appendStringInfoString(&buf, " FROM ");
	ri_append_key_rows(&buf, ref->nkeys, "o");
	if (!nulls_match)
	{
		appendStringInfo(&buf, " LEFT JOIN %s ON ", child);
		ri_append_child_match(&buf, ref, "o.k%d", false);
		appendStringInfoString(&buf, " GROUP BY o.i");
	}
	appendStringInfoString(&buf, " ORDER BY o.i");
	return buf.data;
}

/* Prepare and keep a statement of the re-check, as the current user. */
static SPIPlanPtr
recheck_prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * Re-check one batch of keys, in a subtransaction: "colargs" holds the
 * text of their values, an array per column, then whether each was
 * recorded from the parent.  Each distinct key is read back into the
 * child's types (under the settings keys are written with), then judged
 * exactly as a full pass judges it: by SQL's MATCH rules, then through the
 * parent probe (probe.c: converted as the child's owner, the parent probed
 * as its owner).  An orphan's child rows are counted as the child's owner.
 *
 * A key whose parent exists needs nothing, unless it was recorded from the
 * parent: it can have a recorded violation only if its parent appeared
 * since that violation was recorded, which the parent's trigger recorded.
 * So the keys of child rows that have their parent, most of them, cost one
 * probe of the parent each.  Orphans with rows go to out->orphans; orphans
 * without rows, and keys recorded from the parent that have a parent (or
 * are not checked), go to out->clean.
 *
 * Returns false, with a NOTICE, if it failed (a key that no child column
 * can hold, say; a cancel is re-thrown): a full pass will do instead.
 */
static bool
recheck_keys(Validator *v, RecheckPlans *plans, Datum *colargs, Recheck *out)
{
	RiReference *ref = v->ref;
	int			nkeys = ref->nkeys;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		RiUserState saved;
		int			nestlevel;
		int			fixed;
		int			rc;
		int			n;
		Datum	   *values[INDEX_MAX_KEYS];
		bool	   *isnull[INDEX_MAX_KEYS];
		bool	   *from_parent;
		bool	   *checked;
		bool	   *orphan;
		int64	   *rows;
		int16		typlen[INDEX_MAX_KEYS];
		bool		typbyval[INDEX_MAX_KEYS];
		char		typalign[INDEX_MAX_KEYS];

		for (int i = 0; i < nkeys; i++)
			get_typlenbyvalalign(ref->child_types[i], &typlen[i], &typbyval[i], &typalign[i]);

		/* read the keys back, as the child's owner */
		ri_become(v->scan_user, RI_OWNER_CONTEXT, &saved);
		nestlevel = ri_own_settings_begin();
		fixed = ri_fixed_output_begin();
		if (plans->read == NULL)
		{
			Oid			types[INDEX_MAX_KEYS + 1];

			for (int c = 0; c < nkeys; c++)
				types[c] = TEXTARRAYOID;
			types[nkeys] = BOOLARRAYOID;
			plans->read = recheck_prepare(recheck_read_sql(ref), nkeys + 1, types);
		}
		rc = SPI_execute_plan(plans->read, colargs, NULL, false, 0);
		MemoryContextSwitchTo(oldcxt);
		ri_fixed_output_end(fixed);
		ri_own_settings_end(nestlevel);
		ri_restore(&saved);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));

		n = (int) SPI_processed;
		for (int i = 0; i < nkeys; i++)
		{
			values[i] = palloc((n + 1) * sizeof(Datum));
			isnull[i] = palloc((n + 1) * sizeof(bool));
		}
		from_parent = palloc((n + 1) * sizeof(bool));
		checked = palloc((n + 1) * sizeof(bool));
		orphan = palloc0((n + 1) * sizeof(bool));
		rows = palloc0((n + 1) * sizeof(int64));
		for (int k = 0; k < n; k++)
		{
			HeapTuple	tup = SPI_tuptable->vals[k];
			int			nnulls = 0;
			bool		pnull;

			for (int i = 0; i < nkeys; i++)
			{
				Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, i + 1, &isnull[i][k]);

				values[i][k] = isnull[i][k] ? (Datum) 0 : datumCopy(d, typbyval[i], typlen[i]);
				nnulls += isnull[i][k];
			}
			from_parent[k] = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc,
														nkeys + 1, &pnull));

			/*
			 * SQL's rules, as in a full pass: MATCH SIMPLE checks no key
			 * with a NULL; MATCH FULL none that is all NULL, and a partly
			 * NULL one is itself a violation.
			 */
			checked[k] = ref->match_full ? nnulls < nkeys : nnulls == 0;
			orphan[k] = checked[k] && nnulls > 0;
		}
		SPI_freetuptable(SPI_tuptable);

		/* the keys without NULLs: probe the parent */
		{
			Datum	   *probe[INDEX_MAX_KEYS];
			bool	   *found = palloc((n + 1) * sizeof(bool));
			int		   *pos = palloc((n + 1) * sizeof(int));
			int			m = 0;

			for (int i = 0; i < nkeys; i++)
				probe[i] = palloc((n + 1) * sizeof(Datum));
			for (int k = 0; k < n; k++)
			{
				if (!checked[k] || orphan[k])
					continue;
				for (int i = 0; i < nkeys; i++)
					probe[i][m] = values[i][k];
				pos[m++] = k;
			}
			ri_probe(ref, v->confirm, v->scan_user, v->parent_owner, probe, m, found);
			for (int j = 0; j < m; j++)
				orphan[pos[j]] = found[j];
		}

		/* count the orphans' rows, as the child's owner */
		for (int partly_null = 0; partly_null <= 1; partly_null++)
		{
			SPIPlanPtr *plan = partly_null ? &plans->count_nulls : &plans->count;
			Datum		args[INDEX_MAX_KEYS];
			int		   *pos = palloc((n + 1) * sizeof(int));
			int			m = 0;

			for (int k = 0; k < n; k++)
			{
				bool		has_null = false;

				for (int i = 0; i < nkeys; i++)
					has_null |= isnull[i][k];
				if (orphan[k] && has_null == partly_null)
					pos[m++] = k;
			}
			if (m == 0)
				continue;
			for (int i = 0; i < nkeys; i++)
			{
				Datum	   *elems = palloc(m * sizeof(Datum));
				bool	   *nulls = palloc(m * sizeof(bool));
				int			dims[1] = {m};
				int			lbs[1] = {1};

				for (int j = 0; j < m; j++)
				{
					elems[j] = values[i][pos[j]];
					nulls[j] = isnull[i][pos[j]];
				}
				args[i] = PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
															 ref->child_types[i],
															 typlen[i], typbyval[i],
															 typalign[i]));
			}
			ri_become(v->scan_user, RI_OWNER_CONTEXT, &saved);
			nestlevel = ri_own_settings_begin();
			if (*plan == NULL)
			{
				Oid			types[INDEX_MAX_KEYS];

				for (int i = 0; i < nkeys; i++)
				{
					types[i] = get_array_type(ref->child_types[i]);
					if (!OidIsValid(types[i]))
						elog(ERROR, "type %s has no array type",
							 format_type_be(ref->child_types[i]));
				}
				*plan = recheck_prepare(recheck_count_sql(ref, partly_null), nkeys, types);
			}
			rc = SPI_execute_plan(*plan, args, NULL, false, 0);
			MemoryContextSwitchTo(oldcxt);
			ri_own_settings_end(nestlevel);
			ri_restore(&saved);
			if (rc != SPI_OK_SELECT || SPI_processed != (uint64) m)
				elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
			for (int j = 0; j < m; j++)
			{
				bool		cnull;

				rows[pos[j]] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j],
														   SPI_tuptable->tupdesc, 1,
														   &cnull));
			}
			SPI_freetuptable(SPI_tuptable);
		}

		/* the outcome, formatted and hashed as the child's owner */
		out->norphans = out->nclean = 0;
		out->orphans = palloc((n + 1) * sizeof(Datum));
		out->orphan_hashes = palloc((n + 1) * sizeof(Datum));
		out->orphan_rows = palloc((n + 1) * sizeof(Datum));
		out->clean = palloc((n + 1) * sizeof(Datum));
		out->clean_hashes = palloc((n + 1) * sizeof(Datum));
		ri_become(v->scan_user, RI_OWNER_CONTEXT, &saved);
		fixed = ri_fixed_output_begin();
		for (int k = 0; k < n; k++)
		{
			Datum		key[INDEX_MAX_KEYS];
			bool		keynull[INDEX_MAX_KEYS];
			Datum		json;
			Datum		hash;

			if (!(orphan[k] || from_parent[k]))
				continue;
			for (int i = 0; i < nkeys; i++)
			{
				key[i] = values[i][k];
				keynull[i] = isnull[i][k];
			}
			json = key_to_jsonb(ref, key, keynull);
			hash = Int32GetDatum((int32) keyeq_hash(v->equality, key, keynull));
			if (orphan[k] && rows[k] > 0)
			{
				out->orphans[out->norphans] = json;
				out->orphan_hashes[out->norphans] = hash;
				out->orphan_rows[out->norphans++] = Int64GetDatum(rows[k]);
			}
			else
			{
				out->clean[out->nclean] = json;
				out->clean_hashes[out->nclean++] = hash;
			}
		}
		ri_fixed_output_end(fixed);
		ri_restore(&saved);

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		/* a cancel stops everything, once the subtransaction is gone */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ri_rethrow(edata);
		ereport(NOTICE,
				(errmsg("incremental validation of \"%s\" failed, doing a full pass: %s",
						ref->name, edata->message)));
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Record the outcome of a re-check: clear the keys that are no longer
 * orphans, and record the orphans with their rows.  The keys of a
 * reference validated incrementally are equal exactly when their jsonb
 * forms are (ri_keys_compare_by_image), so that is how recorded ones are
 * found, by their key_hash.
 */
static void
record_recheck(Validator *v, Recheck *outcome)
{
	Datum		args[6];
	Oid			types[6] = {INT8OID, JSONBARRAYOID, INT4ARRAYOID, INT8ARRAYOID,
		JSONBARRAYOID, INT4ARRAYOID};
	int			nestlevel;

	args[0] = Int64GetDatum(v->ref->id);
	args[1] = PointerGetDatum(construct_array(outcome->orphans, outcome->norphans,
											  JSONBOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(outcome->orphan_hashes, outcome->norphans,
											  INT4OID, 4, true, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(outcome->orphan_rows, outcome->norphans,
											  INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[4] = PointerGetDatum(construct_array(outcome->clean, outcome->nclean,
											  JSONBOID, -1, false, TYPALIGN_INT));
	args[5] = PointerGetDatum(construct_array(outcome->clean_hashes, outcome->nclean,
											  INT4OID, 4, true, TYPALIGN_INT));
	/*
	 * Each lookup is an index probe (LATERAL), each change a TID probe: a
	 * nested loop over the batch's keys.  Left to the planner, the update
	 * and the delete joined their keys by hashing all of the reference's
	 * violations, read whole at every batch, which grow with the orphans;
	 * and with statistics from before the violations grew, it read them
	 * all in a nested loop around the keys (OFFSET 0 keeps each lookup a
	 * probe, as LIMIT 1 does the other).
	 */
	nestlevel = ri_index_probe_begin();
	exec_owner(v, NULL,
			   "WITH c AS (SELECT f.t"
			   "             FROM ROWS FROM (pg_catalog.unnest($5), pg_catalog.unnest($6)) AS u(k, h)"
			   "             JOIN LATERAL (SELECT v.ctid AS t FROM ri_policy._violation v"
			   "                            WHERE v.reference = $1 AND v.key_hash = u.h"
			   "                              AND v.key = u.k OFFSET 0) f ON true),"
			   " gone AS (DELETE FROM ri_policy._violation v USING c WHERE v.ctid = c.t),"
			   " o AS (SELECT o.*, f.t"
			   "         FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
			   "                         pg_catalog.unnest($4)) AS o(k, h, n)"
			   "         LEFT JOIN LATERAL (SELECT v.ctid AS t FROM ri_policy._violation v"
			   "                             WHERE v.reference = $1 AND v.key_hash = o.h"
			   "                               AND v.key = o.k LIMIT 1) f ON true),"
			   " kept AS (UPDATE ri_policy._violation v"
			   "             SET child_rows = o.n, last_seen = pg_catalog.now()"
			   "            FROM o WHERE v.ctid = o.t)"
			   " INSERT INTO ri_policy._violation"
			   "   (reference, key, key_hash, child_rows, first_seen, last_seen)"
			   " SELECT $1, o.k, o.h, o.n, pg_catalog.now(), pg_catalog.now() FROM o"
			   "  WHERE o.t IS NULL",
			   6, types, args);
	ri_plan_settings_end(nestlevel);
}

/* A batch of an incremental pass takes at most about this much of keys. */
#define MAX_BATCH_KEY_BYTES ((Size) 64 * 1024 * 1024)

/*
 * Take (delete) the change log's entries for a reference from block *next
 * on, whole blocks until batch_size entries were read (the reference's or
 * others') or MAX_BATCH_KEY_BYTES of keys taken, and set *next to the block
 * to go on from (InvalidBlockNumber: the end).  A pass reads the
 * reference's partition of the log once, in physical order, whatever it
 * holds for other references; entries that land behind it meanwhile are
 * left for the next pass.
 *
 * Their keys go to colargs as a text array per column, then a boolean array
 * of whether each was recorded from the parent.  Returns the number of
 * statements taken; sets *truncated if one was a TRUNCATE, *deleted if one
 * was a DELETE from the child (an entry without keys).
 */
static uint64
take_changes(Validator *v, int batch_size, BlockNumber *next,
			 Datum *colargs, bool *truncated, bool *deleted)
{
	int			nkeys = v->ref->nkeys;
	Relation	rel;
	char	   *partition;
	BlockNumber nblocks;
	TableScanDesc scan;
	TupleTableSlot *slot;
	BlockNumber curblock = InvalidBlockNumber;
	Datum	   *tids;
	int			ntids = 0;
	int			maxtids = 1024;
	int64		examined = 0;
	Size		key_bytes = 0;
	Oid			tidarray = TIDARRAYOID;
	Datum		arg;
	uint64		nrows;
	int			total = 0;
	Datum	  **elems;
	bool	  **enulls;
	int		   *nelems;
	bool	   *sides;
	Datum	   *values;
	bool	   *nulls;

	/* the entries' addresses, read directly */
	rel = table_open(ri_changed_partition(v->ref->id), AccessShareLock);
	partition = quote_qualified_identifier("ri_policy", RelationGetRelationName(rel));
	nblocks = RelationGetNumberOfBlocks(rel);
	tids = palloc(maxtids * sizeof(Datum));
	if (*next < nblocks)
	{
		scan = compat_beginscan_blocks(rel, GetActiveSnapshot(), *next, nblocks);
		slot = table_slot_create(rel, NULL);
		*next = InvalidBlockNumber;
		while (compat_scan_getnextslot_blocks(scan, slot))
		{
			BlockNumber block = ItemPointerGetBlockNumber(&slot->tts_tid);
			bool		isnull;
			Datum		keys;

			if (block != curblock)
			{
				if (examined >= batch_size || key_bytes >= MAX_BATCH_KEY_BYTES)
				{
					*next = block;
					break;
				}
				curblock = block;
				CHECK_FOR_INTERRUPTS();
			}
			examined++;
			if (DatumGetInt64(slot_getattr(slot, 1, &isnull)) != v->ref->id)
				continue;
			keys = slot_getattr(slot, 2, &isnull);
			if (!isnull)
				key_bytes += toast_raw_datum_size(keys);
			if (ntids == maxtids)
			{
				maxtids *= 2;
				tids = repalloc(tids, maxtids * sizeof(Datum));
			}
			tids[ntids] = PointerGetDatum(palloc(sizeof(ItemPointerData)));
			ItemPointerCopy(&slot->tts_tid, (ItemPointer) DatumGetPointer(tids[ntids]));
			ntids++;
		}
		ExecDropSingleTupleTableSlot(slot);
		table_endscan(scan);
	}
	else
		*next = InvalidBlockNumber;
	table_close(rel, AccessShareLock);

	/* delete them, unless gone meanwhile, and take their keys */
	arg = PointerGetDatum(construct_array(tids, ntids, TIDOID, sizeof(ItemPointerData),
										  false, TYPALIGN_SHORT));
	exec_owner(v, NULL,
			   psprintf("DELETE FROM %s WHERE ctid = ANY ($1) RETURNING keys, from_parent",
						partition),
			   1, &tidarray, &arg);
	nrows = SPI_processed;
	*truncated = false;
	elems = palloc((nrows + 1) * sizeof(Datum *));
	enulls = palloc((nrows + 1) * sizeof(bool *));
	nelems = palloc0((nrows + 1) * sizeof(int));
	sides = palloc((nrows + 1) * sizeof(bool));
	for (uint64 r = 0; r < nrows; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		keys = SPI_getbinval(tup, desc, 1, &isnull);

		if (isnull)
		{
			*truncated = true;
			continue;
		}
		sides[r] = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		deconstruct_array(DatumGetArrayTypeP(keys), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems[r], &enulls[r], &nelems[r]);
		if (nelems[r] % nkeys != 0)
			elog(ERROR, "recorded change of reference \"%s\" has %d values for %d key columns",
				 v->ref->name, nelems[r], nkeys);
		if (nelems[r] == 0)
			*deleted = true;
		total += nelems[r] / nkeys;
	}

	/* one array per column, and the flags */
	values = palloc((total + 1) * sizeof(Datum));
	nulls = palloc((total + 1) * sizeof(bool));
	for (int c = 0; c <= nkeys; c++)
	{
		int			n = 0;
		int			dims[1] = {total};
		int			lbs[1] = {1};

		for (uint64 r = 0; r < nrows; r++)
			for (int e = c < nkeys ? c : 0; e < nelems[r]; e += nkeys, n++)
			{
				values[n] = c < nkeys ? elems[r][e] : BoolGetDatum(sides[r]);
				nulls[n] = c < nkeys ? enulls[r][e] : false;
			}
		colargs[c] = PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
														c < nkeys ? TEXTOID : BOOLOID,
														c < nkeys ? -1 : 1,
														c < nkeys ? false : true,
														c < nkeys ? TYPALIGN_INT : TYPALIGN_CHAR));
	}
	SPI_freetuptable(SPI_tuptable);
	return nrows;
}

/* Where violation_keys() is: after this key (none yet: from the first) */
typedef struct ViolationCursor
{
	bool		started;
	int32		hash;
	Datum		key;
} ViolationCursor;

/*
 * The next batch_size keys of the reference's recorded violations after
 * the cursor, in colargs as take_changes() gives keys (each as if recorded
 * from the parent, so that it is reported whatever it is now); the cursor
 * moves to the batch's last key, whose copy is kept in "lastcxt".  Returns
 * how many.  After rows were deleted from the child, these are the keys
 * whose counts may have changed.  Their jsonb values read back as their
 * text (the types of keys validated incrementally,
 * ri_keys_compare_by_image(), allow that).  They are taken in the order of
 * (key_hash, key), which the index on (reference, key_hash) serves.  A
 * batch's outcome only touches its own keys, so paging by key is stable.
 */
static uint64
violation_keys(Validator *v, int batch_size, ViolationCursor *cursor,
			   MemoryContext lastcxt, Datum *colargs)
{
	RiReference *ref = v->ref;
	StringInfoData sql;
	Datum		args[4];
	Oid			argtypes[4] = {INT8OID, INT4OID, JSONBOID, INT4OID};
	char		nulls[4] = {' ', cursor->started ? ' ' : 'n', cursor->started ? ' ' : 'n', ' '};
	uint64		nrows;
	Datum	   *values;
	bool	   *isnull;
	int			nestlevel;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT v.key_hash, v.key");
	for (int c = 0; c < ref->nkeys; c++)
		appendStringInfo(&sql, ", v.key ->> %s", quote_literal_cstr(ref->child_columns[c]));
	appendStringInfoString(&sql, " FROM ri_policy._violation v WHERE v.reference = $1"
						   " AND v.key_hash >= COALESCE($2, -2147483648)"
						   " AND ($2 IS NULL OR v.key_hash > $2 OR v.key > $3)"
						   " ORDER BY v.key_hash, v.key LIMIT $4");
	args[0] = Int64GetDatum(ref->id);
	args[1] = Int32GetDatum(cursor->hash);
	args[2] = cursor->key;
	args[3] = Int32GetDatum(batch_size);
	nestlevel = ri_index_walk_begin();	/* in the index's order */
	(void) ri_exec_as_owner(NULL, sql.data, 4, argtypes, args, nulls, true);
	ri_plan_settings_end(nestlevel);
	nrows = SPI_processed;
	values = palloc((nrows + 1) * sizeof(Datum));
	isnull = palloc((nrows + 1) * sizeof(bool));
	if (nrows > 0)
	{
		bool		keynull;
		MemoryContext oldcxt = MemoryContextSwitchTo(lastcxt);

		if (cursor->started)
			pfree(DatumGetPointer(cursor->key));
		cursor->hash = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[nrows - 1],
												   SPI_tuptable->tupdesc, 1, &keynull));
		cursor->key = PointerGetDatum(DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[nrows - 1],
																	   SPI_tuptable->tupdesc, 2,
																	   &keynull)));
		cursor->started = true;
		MemoryContextSwitchTo(oldcxt);
	}
	for (int c = 0; c <= ref->nkeys; c++)
	{
		int			dims[1] = {(int) nrows};
		int			lbs[1] = {1};

		for (uint64 r = 0; r < nrows; r++)
		{
			isnull[r] = false;
			values[r] = c < ref->nkeys ?
				SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 3, &isnull[r]) :
				BoolGetDatum(true);
		}
		colargs[c] = PointerGetDatum(construct_md_array(values, isnull, 1, dims, lbs,
														c < ref->nkeys ? TEXTOID : BOOLOID,
														c < ref->nkeys ? -1 : 1,
														c < ref->nkeys ? false : true,
														c < ref->nkeys ? TYPALIGN_INT : TYPALIGN_CHAR));
	}
	SPI_freetuptable(SPI_tuptable);
	return nrows;
}

/*
 * Re-check the keys recorded since the last pass, batch_size keys per
 * batch (a transaction each, outside a transaction block).  Returns false,
 * having done nothing, if a TRUNCATE was recorded: a full pass is due.
 */
static bool
validate_incremental(RiReference *found, int batch_size, bool atomic)
{
	MemoryContext batch_cxt;
	RiWork		work;
	RiReference *ref;
	Validator  *volatile v = NULL;
	volatile RecheckPlans plans = {NULL, NULL, NULL};
	volatile bool full_needed = false;
	int64		keys_checked = 0;
	int64		batches = 0;
	BlockNumber next = 0;
	bool		deleted = false;
	bool		sentinel_taken = false;
	ViolationCursor cursor = {false, 0, (Datum) 0};

	ref = ri_begin_work(found, &work);
	if (ref == NULL)
		return true;

	/* a full pass may have begun (and stopped) since the caller looked */
	if (!incremental_possible(ref, NULL))
	{
		ri_end_work(&work);
		return false;
	}

	PG_TRY();
	{
		Datum		args[1];
		Datum		started;

		v = validator_create(ref, batch_size, atomic, record_orphans, work.cxt);
		v->confirm = ri_probe_prepare(ref);
		batch_cxt = v->batch_cxt;
		args[0] = Int64GetDatum(ref->id);
		started = DirectFunctionCall1(clock_timestamp, (Datum) 0);

		for (;;)
		{
			uint64		nstatements;
			bool		truncated;
			Datum		colargs[INDEX_MAX_KEYS + 1];
			Recheck		outcome;

			MemoryContextReset(batch_cxt);
			MemoryContextSwitchTo(batch_cxt);
			PushActiveSnapshot(GetTransactionSnapshot());

			/*
			 * Take the next batch of recorded statements' keys; at the end,
			 * if rows were deleted from the child, the recorded violations'.
			 */
			if (next != InvalidBlockNumber)
			{
				nstatements = take_changes(v, batch_size, &next, colargs,
										   &truncated, &deleted);
				if (truncated)
				{
					ri_track_note_full(ref, "a TRUNCATE, or a change that tracking could not see, was recorded",
									   NULL, true);
					full_needed = true;
					PopActiveSnapshot();
					break;
				}

				/*
				 * Until its violations are re-checked, the DELETE marker taken
				 * (and committed) here is all that says they must be: without
				 * the sentinel, a pass stopped meanwhile is followed by a full
				 * one.  The pass's last transaction puts it back.
				 */
				if (deleted && !sentinel_taken)
				{
					Oid			argtype = INT8OID;

					exec_owner(v, NULL, "DELETE FROM ri_policy._sentinel WHERE reference = $1",
							   1, &argtype, args);
					sentinel_taken = true;
				}
				if (nstatements == 0)
				{
					PopActiveSnapshot();
					continue;
				}
			}
			else if (deleted)
			{
				uint64		nkeys;

				/* the last key lives across batches: outside batch_cxt */
				nkeys = violation_keys(v, batch_size, &cursor,
									   work.cxt, colargs);
				if (nkeys < (uint64) batch_size)
					deleted = false;
				if (nkeys == 0)
				{
					PopActiveSnapshot();
					continue;
				}
			}
			else
			{
				PopActiveSnapshot();
				break;
			}

			/*
			 * Re-check them; if that fails (a parent key that no child column
			 * can hold, say), a full pass will do instead.
			 */
			if (!recheck_keys(v, (RecheckPlans *) &plans, colargs, &outcome))
			{
				ri_track_note_full(ref, "re-checking the recorded keys failed", NULL, false);
				full_needed = true;
				PopActiveSnapshot();
				break;
			}
			{
				ArrayType  *first = DatumGetArrayTypeP(colargs[0]);

				keys_checked += ArrayGetNItems(ARR_NDIM(first), ARR_DIMS(first));
			}

			/* and record the outcome */
			record_recheck(v, &outcome);
			batches++;
			PopActiveSnapshot();
			commit_batch(v);
			CHECK_FOR_INTERRUPTS();
		}

		if (!full_needed)
		{
			Datum		pargs[5];
			Oid			ptypes[5] = {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID};

			MemoryContextSwitchTo(batch_cxt);
			PushActiveSnapshot(GetTransactionSnapshot());
			pargs[0] = args[0];
			pargs[1] = Int64GetDatum(batches);
			pargs[2] = Int64GetDatum(keys_checked);
			pargs[3] = started;
			pargs[4] = BoolGetDatum(sentinel_taken);
			exec_owner(v, NULL,
					   "WITH s AS (INSERT INTO ri_policy._sentinel SELECT $1 WHERE $5"
					   "            ON CONFLICT DO NOTHING)"
					   " UPDATE ri_policy._progress"
					   "   SET status = 'done', started_at = $4, finished_at = pg_catalog.clock_timestamp(),"
					   "       last_done_at = pg_catalog.clock_timestamp(), batches = $2, rows_checked = $3,"
					   "       blocks_total = 0, blocks_done = 0, error = NULL, why_full = NULL,"
					   "       orphan_keys = (SELECT pg_catalog.count(*) FROM ri_policy._violation"
					   "                       WHERE reference = $1)"
					   " WHERE reference = $1", 5, ptypes, pargs);
			require_progress_row(v);
			PopActiveSnapshot();
			commit_point(v);
		}
	}
	PG_FINALLY();
	{
		if (plans.read != NULL)
			SPI_freeplan(plans.read);
		if (plans.count != NULL)
			SPI_freeplan(plans.count);
		if (plans.count_nulls != NULL)
			SPI_freeplan(plans.count_nulls);
		if (v != NULL && v->confirm != NULL)
			SPI_freeplan(v->confirm);
		ri_end_work(&work);
	}
	PG_END_TRY();
	return !full_needed;
}

/*
 * CALL ri_policy.validate(reference, batch_size, restart, full)
 *
 * A tracked reference whose last full pass started after tracking did gets
 * an incremental pass, unless "full" or "restart" asks for a full one.
 */
Datum
ri_policy_validate(PG_FUNCTION_ARGS)
{
	bool		atomic;
	int			batch_size = ri_policy_batch_size;
	bool		restart;
	bool		full;
	List	   *refs;
	ListCell   *lc;

	atomic = !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
			   !((CallContext *) fcinfo->context)->atomic);

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(2) ? "restart" : "full")));
	if (!PG_ARGISNULL(1))
	{
		batch_size = PG_GETARG_INT32(1);
		if (batch_size <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("batch_size must be greater than zero")));
	}
	restart = PG_GETARG_BOOL(2);
	full = PG_GETARG_BOOL(3);
	ri_require_current_objects();

	SPI_connect_ext(atomic ? 0 : SPI_OPT_NONATOMIC);

	refs = PG_ARGISNULL(0) ? ri_owned_references() :
		list_make1(ri_resolve_reference(text_to_cstring(PG_GETARG_TEXT_PP(0))));

	foreach(lc, refs)
	{
		RiReference *ref = lfirst(lc);
		WhyFull		why = {0};
		MemoryContext oldcxt = CurrentMemoryContext;

		if (PG_ARGISNULL(0) &&
			(!tables_available(ref) || !ri_comparison_usable(ref) ||
			 !ri_refuse_rows_elsewhere(ref, RI_USE_SCAN, "validate", WARNING)))
			continue;

		/*
		 * A tracked reference's pass is incremental when it can be;
		 * otherwise validation_progress.why_full says why not, and a NOTICE
		 * unless it was asked for or is the usual first or resumed pass
		 * (validate_incremental() says so itself when it gives up).
		 */
		if (full || restart)
			ri_track_note_full(ref, full ? "asked for (full => true)" :
							   "asked for (restart => true)", NULL, false);
		else if (incremental_possible(ref, &why))
		{
			if (validate_incremental(ref, batch_size, atomic))
				continue;
		}
		else if (why.reason != NULL)
			ri_track_note_full(ref, why.reason, why.hint, !why.expected);

		if (!PG_ARGISNULL(0))
		{
			validate_one(ref, batch_size, restart, atomic);
			continue;
		}

		/*
		 * Every reference: one whose pass fails (recorded as failed) must
		 * not stop the others; say so and go on.  Cancels stop everything.
		 */
		PG_TRY();
		{
			validate_one(ref, batch_size, restart, atomic);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			if (!step_failed_cleanly)
				PG_RE_THROW();
			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
				PG_RE_THROW();
			FlushErrorState();
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("validation of reference \"%s\" failed: %s",
							ref->name, edata->message),
					 edata->detail ? errdetail("%s", edata->detail) : 0,
					 errhint("The other references are validated; see ri_policy.validation_progress.")));
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}

	SPI_finish();
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * orphans()
 * ----------------------------------------------------------------
 */

/*
 * Sink of orphans(): merge the batch's orphans into the results, by the
 * child type's equality, keeping at most max_keys keys.
 */
static void
collect_orphans(Validator *v, ChildKeyGroup *batch)
{
	RiUserState saved;

	ri_become(v->scan_user, RI_OWNER_CONTEXT, &saved);
	for (ChildKey *key = childkeys_first(batch); key != NULL; key = key->next)
	{
		bool		room;

		if (!key->orphan)
			continue;
		room = (v->max_keys < 0 ||
				childkeys_count(v->results) < (uint64) v->max_keys);
		childkeys_add(v->results, key->values, key->isnull, key->rows, room);
	}
	ri_restore(&saved);
}

/*
 * ri_policy.orphans(reference, max_keys) returns table (key, child_rows):
 * the orphans now, in the caller's transaction, writing nothing.
 */
Datum
ri_policy_orphans(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext per_query;
	MemoryContext cxt;
	MemoryContext oldcxt;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	RiReference *ref;
	Validator  *v;
	char	   *name;
	int64		max_keys = -1;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reference must not be null")));
	if (!PG_ARGISNULL(1))
	{
		max_keys = PG_GETARG_INT64(1);
		if (max_keys < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_keys must not be negative")));
	}
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	per_query = rsinfo->econtext->ecxt_per_query_memory;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "ri_policy orphans",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);

	SPI_connect();
	ref = ri_resolve_reference(name);
	if (pg_class_aclcheck(ref->child, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV,
					   get_relkind_objtype(get_rel_relkind(ref->child)),
					   get_rel_name(ref->child));
	/*
	 * The child is read directly: refuse rather than bypass its policies,
	 * except for its owner, whom a forced policy does not bind here (as for
	 * the foreign-key triggers), since they could lift it anyway.
	 */
	if (check_enable_rls(ref->child, InvalidOid, false) == RLS_ENABLED &&
		!compat_class_ownercheck(ref->child, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("ri_policy.orphans() is not available for table \"%s\" under row-level security",
						get_rel_name(ref->child)),
				 errhint("Ask the table's owner, or read ri_policy.violations.")));

	v = validator_create(ref, ri_policy_batch_size, true, collect_orphans, cxt);
	v->max_keys = max_keys;
	v->results = childkeys_create_eq(ref, v->equality, true, cxt);
	/* one snapshot for the child, whatever the isolation level */
	v->snapshot = RegisterSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		Step		step = {0};
		RunState	state = {0};

		step.kind = STEP_SET;
		run_step(v, &step);
		(void) run_batches(v, &state);
	}
	PG_FINALLY();
	{
		if (v->confirm != NULL)
			SPI_freeplan(v->confirm);
		ri_citus_reader_end(v->citus);
		UnregisterSnapshot(v->snapshot);
	}
	PG_END_TRY();

	/*
	 * Hand the results over as a tuplestore, before SPI_finish(): the
	 * reference (its column names) lives in SPI's memory.
	 */
	MemoryContextSwitchTo(per_query);
	tupdesc = CreateTemplateTupleDesc(2);
	TupleDescInitEntry(tupdesc, 1, "key", JSONBOID, -1, 0);
	TupleDescInitEntry(tupdesc, 2, "child_rows", INT8OID, -1, 0);
	tupdesc = BlessTupleDesc(tupdesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	{
		RiUserState saved;
		int			nestlevel;

		/* each key formatted as the child's owner */
		ri_become(v->scan_user, RI_OWNER_CONTEXT, &saved);
		nestlevel = ri_fixed_output_begin();
		for (ChildKey *key = childkeys_first(v->results); key != NULL; key = key->next)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};

			values[0] = key_to_jsonb(ref, key->values, key->isnull);
			values[1] = Int64GetDatum(key->rows);
			tuplestore_putvalues(store, tupdesc, values, nulls);
		}
		ri_fixed_output_end(nestlevel);
		ri_restore(&saved);
	}
	SPI_finish();
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
