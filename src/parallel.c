/*-------------------------------------------------------------------------
 *
 * parallel.c
 *		Launching, sharing and watching the background workers that read
 *		one validation pass together.
 *
 * A full pass outside a transaction block (validate.c) may split the child's
 * blocks into pieces: each child table's block range cut into as many
 * contiguous ranges as there are processes, kept in
 * ri_policy._progress_share with the block each resumes from.  The calling
 * backend (the leader) launches dynamic background workers, which connect
 * to its database as its login role and act as its current user, and hands
 * them the unfinished pieces in a small dynamic shared memory segment.
 * Every process, the leader too, claims the next piece (an atomic counter)
 * and reads it exactly as a single-process pass reads a table: batches of
 * whole pages, each committed with its orphans and the piece's position, as
 * the owners whose identities validate.c takes.  Each builds its own set of
 * the parent's keys.  The leader begins the pass and alone ends it, once
 * every process has stopped and every piece is done.
 *
 * The processes never outlive one another silently: a worker stops before
 * its next batch once the leader is gone or asks it to (the segment's stop
 * flag); a worker's error, or its exit before its work was done, makes the
 * leader's call fail with that error, the pass resumable; a leader that
 * fails or is cancelled terminates its workers and waits for them, and one
 * that exits at once (terminated) terminates them on its way out.  Each
 * worker holds a session lock on the reference (validate.c,
 * ri_reference_workers_locktag()) that the next validation of the reference
 * waits for, so no process of a dead pass writes while another pass runs.
 *
 * Pieces are claimed, not assigned: when the postmaster grants fewer
 * workers than asked (max_worker_processes), or a worker never starts, the
 * others read its share, and a resume by any number of processes, one
 * included, reads each unfinished piece from where it stopped.
 *
 * src/parallel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "parallel.h"
#include "ri_policy.h"

PGDLLEXPORT void ri_policy_parallel_main(Datum arg);

#define RI_ERROR_MAX 512

/* What each worker reports */
typedef struct RiWorkerSlot
{
	bool		started;		/* it attached and may claim pieces */
	bool		finished;		/* it returned normally */
	bool		failed;			/* it raised an error: */
	int			sqlerrcode;
	char		message[RI_ERROR_MAX];
} RiWorkerSlot;

struct RiParallelShared
{
	pid_t		leader_pid;
	Oid			database;
	Oid			login_user;		/* the leader's authenticated user */
	Oid			current_user;	/* ... and whom it acts as */
	int			sec_context;
	int64		ref_id;
	int			batch_size;
	int			maintenance_work_mem;
	bool		read_only;		/* the leader's default_transaction_read_only */
	int			lock_timeout;	/* ... and lock_timeout */
	int			nworkers;
	int			npieces;
	pg_atomic_uint32 stop;		/* the leader asks the workers to stop */
	pg_atomic_uint32 next_piece;	/* the next piece to claim */
	slock_t		mutex;			/* protects what follows */
	bool		started_over;
	char		start_over_why[RI_ERROR_MAX];
	RiWorkerSlot slots[RI_MAX_PARALLEL_WORKERS];
	RiPiece		pieces[FLEXIBLE_ARRAY_MEMBER];
};

/* The leader's side */
struct RiParallel
{
	dsm_segment *seg;
	RiParallelShared *sh;
	int			nlaunched;
	BackgroundWorkerHandle *handles[RI_MAX_PARALLEL_WORKERS];
};

/* The leader's workers, terminated if it exits while they run */
static RiParallel *active = NULL;
static bool exit_callback_set = false;

/*
 * How many workers to ask for: ri_policy.max_parallel_workers, or when it
 * is -1, max_parallel_maintenance_workers (PostgreSQL's own setting for
 * CREATE INDEX and VACUUM).  Never more than max_parallel_workers, the
 * administrator's bound on the server's parallel workers: any role may set
 * ours, and each worker takes a slot of max_worker_processes.
 */
int
ri_parallel_workers_wanted(void)
{
	int			n = ri_policy_max_parallel_workers;

	if (n < 0)
		n = max_parallel_maintenance_workers;
	n = Min(n, max_parallel_workers);
	return Min(n, RI_MAX_PARALLEL_WORKERS);
}

static void
terminate_on_exit(int code, Datum arg)
{
	if (active == NULL)
		return;
	for (int i = 0; i < active->nlaunched; i++)
		TerminateBackgroundWorker(active->handles[i]);
	active = NULL;
}

/*
 * Launch up to nworkers workers for a pass whose unfinished pieces are
 * these.  Launches fewer, none perhaps, when the postmaster has no slot
 * left: the pieces are read all the same.
 */
RiParallel *
ri_parallel_launch(int64 ref_id, int batch_size, const RiPiece *pieces,
				   int npieces, int nworkers)
{
	RiParallel *par = MemoryContextAllocZero(TopMemoryContext, sizeof(RiParallel));
	Size		size = add_size(offsetof(RiParallelShared, pieces),
								mul_size(npieces, sizeof(RiPiece)));
	RiParallelShared *sh;
	MemoryContext oldcxt;

	nworkers = Max(Min(nworkers, RI_MAX_PARALLEL_WORKERS), 0);
	par->seg = dsm_create(size, 0);
	/* the segment outlives the transactions of the pass's batches */
	dsm_pin_mapping(par->seg);
	sh = par->sh = dsm_segment_address(par->seg);
	memset(sh, 0, size);
	sh->leader_pid = MyProcPid;
	sh->database = MyDatabaseId;
	sh->login_user = GetAuthenticatedUserId();
	GetUserIdAndSecContext(&sh->current_user, &sh->sec_context);
	sh->ref_id = ref_id;
	sh->batch_size = batch_size;
	sh->maintenance_work_mem = maintenance_work_mem;
	sh->read_only = DefaultXactReadOnly;
	sh->lock_timeout = LockTimeout;
	sh->npieces = npieces;
	pg_atomic_init_u32(&sh->stop, 0);
	pg_atomic_init_u32(&sh->next_piece, 0);
	SpinLockInit(&sh->mutex);
	memcpy(sh->pieces, pieces, npieces * sizeof(RiPiece));

	if (!exit_callback_set)
	{
		before_shmem_exit(terminate_on_exit, (Datum) 0);
		exit_callback_set = true;
	}
	active = par;

	/* the handles too must outlive the batches' transactions */
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	for (int i = 0; i < nworkers; i++)
	{
		BackgroundWorker worker = {0};

		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = BGW_NEVER_RESTART;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "ri_policy");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "ri_policy_parallel_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "ri_policy validation worker for PID %d",
				 MyProcPid);
		snprintf(worker.bgw_type, BGW_MAXLEN, "ri_policy validation worker");
		worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(par->seg));
		memcpy(worker.bgw_extra, &i, sizeof(int));
		worker.bgw_notify_pid = MyProcPid;
		if (!RegisterDynamicBackgroundWorker(&worker, &par->handles[i]))
			break;
		/* counted before the next launch, so that an error ends it too */
		par->nlaunched = i + 1;
		sh->nworkers = i + 1;
	}
	MemoryContextSwitchTo(oldcxt);
	return par;
}

RiParallelShared *
ri_parallel_shared(RiParallel *par)
{
	return par->sh;
}

int
ri_parallel_launched(RiParallel *par)
{
	return par->nlaunched;
}

/* Should a process of the pass stop before its next batch? */
bool
ri_parallel_stopping(RiParallelShared *sh)
{
	if (pg_atomic_read_u32(&sh->stop) != 0)
		return true;
	return sh->leader_pid != MyProcPid && BackendPidGetProc(sh->leader_pid) == NULL;
}

/* Claim the next unread piece; false when none is left or the pass stops. */
bool
ri_parallel_claim(RiParallelShared *sh, RiPiece *piece)
{
	uint32		n;

	if (ri_parallel_stopping(sh))
		return false;
	n = pg_atomic_fetch_add_u32(&sh->next_piece, 1);
	if (n >= (uint32) sh->npieces)
		return false;
	*piece = sh->pieces[n];
	return true;
}

/* Is a piece left to claim? */
bool
ri_parallel_pieces_left(RiParallelShared *sh)
{
	return pg_atomic_read_u32(&sh->next_piece) < (uint32) sh->npieces &&
		!ri_parallel_stopping(sh);
}

/* A process found that the pass must begin again: everyone stops. */
void
ri_parallel_start_over(RiParallelShared *sh, const char *why)
{
	SpinLockAcquire(&sh->mutex);
	if (!sh->started_over)
	{
		sh->started_over = true;
		strlcpy(sh->start_over_why, why, RI_ERROR_MAX);
	}
	SpinLockRelease(&sh->mutex);
	pg_atomic_write_u32(&sh->stop, 1);
}

/* Why the pass must begin again, if a process found so (palloc'd), or NULL */
char *
ri_parallel_started_over(RiParallel *par)
{
	char	   *why = NULL;

	SpinLockAcquire(&par->sh->mutex);
	if (par->sh->started_over)
		why = pstrdup(par->sh->start_over_why);
	SpinLockRelease(&par->sh->mutex);
	return why;
}

void
ri_parallel_stop(RiParallel *par)
{
	pg_atomic_write_u32(&par->sh->stop, 1);
}

/*
 * The leader: raise the error of a worker that failed, or that stopped
 * before its work was done (terminated, say).  The pass is then resumable.
 */
void
ri_parallel_check(RiParallel *par)
{
	RiParallelShared *sh = par->sh;

	for (int i = 0; i < par->nlaunched; i++)
	{
		RiWorkerSlot slot;
		pid_t		pid;
		BgwHandleStatus status = GetBackgroundWorkerPid(par->handles[i], &pid);

		SpinLockAcquire(&sh->mutex);
		slot = sh->slots[i];
		SpinLockRelease(&sh->mutex);
		if (slot.failed)
		{
			ri_parallel_stop(par);
			ereport(ERROR,
					(errcode(slot.sqlerrcode),
					 errmsg("a validation worker failed: %s", slot.message)));
		}
		if (status == BGWH_STOPPED && slot.started && !slot.finished)
		{
			ri_parallel_stop(par);
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("a validation worker stopped before its share was read")));
		}
	}
}

/*
 * The leader: wait until every worker has stopped, or about "timeout_ms"
 * have passed; raise their errors.  Returns whether they have all stopped.
 * (The caller commits between waits, so that waiting for the slowest
 * worker is no long transaction.)
 */
bool
ri_parallel_wait(RiParallel *par, long timeout_ms)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		bool		running = false;

		ri_parallel_check(par);
		for (int i = 0; i < par->nlaunched; i++)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(par->handles[i], &pid) != BGWH_STOPPED)
				running = true;
		}
		if (!running)
			break;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), (int) timeout_ms))
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(timeout_ms, 10L), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	ri_parallel_check(par);
	return true;
}

/*
 * The leader, whatever happened: stop and terminate the workers, wait until
 * they are gone (a batch they were writing rolls back), and let go of the
 * segment.
 */
void
ri_parallel_end(RiParallel *par)
{
	if (par == NULL)
		return;
	ri_parallel_stop(par);
	for (int i = 0; i < par->nlaunched; i++)
		TerminateBackgroundWorker(par->handles[i]);
	HOLD_INTERRUPTS();
	for (int i = 0; i < par->nlaunched; i++)
		(void) WaitForBackgroundWorkerShutdown(par->handles[i]);
	RESUME_INTERRUPTS();
	active = NULL;
	for (int i = 0; i < par->nlaunched; i++)
		pfree(par->handles[i]);
	dsm_detach(par->seg);
	pfree(par);
}

/*
 * A worker: connect as the leader's login role, act as its current user,
 * take the reference's workers' lock, and read pieces until none is left.
 * An error is reported to the leader through the segment, then ends the
 * worker as any background worker's does.
 */
void
ri_policy_parallel_main(Datum arg)
{
	dsm_segment *seg;
	RiParallelShared *sh;
	int			slot;
	LOCKTAG		tag;
	char		setting[32];

	memcpy(&slot, MyBgworkerEntry->bgw_extra, sizeof(int));
	/* SIGTERM and SIGINT act at the next CHECK_FOR_INTERRUPTS, as in a backend */
	pqsignal(SIGTERM, die);
	pqsignal(SIGINT, StatementCancelHandler);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		return;					/* the leader is gone already */
	sh = dsm_segment_address(seg);
	if (slot < 0 || slot >= RI_MAX_PARALLEL_WORKERS || ri_parallel_stopping(sh))
		return;

	BackgroundWorkerInitializeConnectionByOid(sh->database, sh->login_user, 0);
	SetUserIdAndSecContext(sh->current_user, sh->sec_context);
	/*
	 * Settings that decide whether or how a batch runs are the leader's, not
	 * those stored for the login role or the database: each batch's writes
	 * must see the batches committed before them, and workers must not fail
	 * where the leader alone would not.
	 */
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", sh->read_only ? "on" : "off",
					PGC_SUSET, PGC_S_OVERRIDE);
	snprintf(setting, sizeof(setting), "%d", sh->lock_timeout);
	SetConfigOption("lock_timeout", setting, PGC_SUSET, PGC_S_OVERRIDE);
	snprintf(setting, sizeof(setting), "%d", sh->maintenance_work_mem);
	SetConfigOption("maintenance_work_mem", setting, PGC_SUSET, PGC_S_OVERRIDE);

	ri_reference_workers_locktag(&tag, sh->ref_id);
	(void) LockAcquire(&tag, ShareLock, true, false);
	SpinLockAcquire(&sh->mutex);
	sh->slots[slot].started = true;
	SpinLockRelease(&sh->mutex);

	PG_TRY();
	{
		pgstat_report_appname("ri_policy validation worker");
		ri_validate_share(sh, sh->ref_id, sh->batch_size);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		SpinLockAcquire(&sh->mutex);
		sh->slots[slot].failed = true;
		sh->slots[slot].sqlerrcode = edata->sqlerrcode;
		strlcpy(sh->slots[slot].message, edata->message ? edata->message : "",
				RI_ERROR_MAX);
		SpinLockRelease(&sh->mutex);
		RESUME_INTERRUPTS();
		PG_RE_THROW();
	}
	PG_END_TRY();

	SpinLockAcquire(&sh->mutex);
	sh->slots[slot].finished = true;
	SpinLockRelease(&sh->mutex);
}
