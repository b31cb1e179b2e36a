/*-------------------------------------------------------------------------
 *
 * parallel.h
 *		Background workers that share one validation pass (parallel.c).
 *
 * src/parallel.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_PARALLEL_H
#define RI_PARALLEL_H

#include "storage/block.h"

/*
 * A piece of a pass: blocks [resume_block, end_block) of one child table
 * (end_block InvalidBlockNumber: to the table's end), as
 * ri_policy._progress_share keeps it.
 */
typedef struct RiPiece
{
	int32		piece;
	Oid			rel;
	BlockNumber resume_block;
	BlockNumber end_block;
	Oid			filenode;
} RiPiece;

typedef struct RiParallelShared RiParallelShared;
typedef struct RiParallel RiParallel;

extern int	ri_parallel_workers_wanted(void);
extern RiParallel *ri_parallel_launch(int64 ref_id, int batch_size,
									  const RiPiece *pieces, int npieces,
									  int nworkers);
extern RiParallelShared *ri_parallel_shared(RiParallel *par);
extern int	ri_parallel_launched(RiParallel *par);
extern bool ri_parallel_claim(RiParallelShared *sh, RiPiece *piece);
extern bool ri_parallel_stopping(RiParallelShared *sh);
extern bool ri_parallel_pieces_left(RiParallelShared *sh);
extern void ri_parallel_start_over(RiParallelShared *sh, const char *why);
extern char *ri_parallel_started_over(RiParallel *par);
extern void ri_parallel_stop(RiParallel *par);
extern void ri_parallel_check(RiParallel *par);
extern bool ri_parallel_wait(RiParallel *par, long timeout_ms);
extern void ri_parallel_end(RiParallel *par);

/* validate.c: a worker's part of the pass */
extern void ri_validate_share(RiParallelShared *sh, int64 ref_id, int batch_size);

/* validate.c: the locks that keep a pass's processes together */
extern void ri_reference_workers_locktag(LOCKTAG *tag, int64 id);

#endif							/* RI_PARALLEL_H */
