/*-------------------------------------------------------------------------
 *
 * results.h
 *		Recorded keys: read back into the child's types, and merged into a
 *		pass's results by the child type's equality.
 *
 * src/results.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_RESULTS_H
#define RI_POLICY_RESULTS_H

#include "executor/spi.h"

#include "keyset.h"
#include "reference.h"

/* statements that ri_pending_add() keeps */
#define RI_PENDING_PLANS 3

/* the keys one process has recorded in a pass (results.c) */
typedef struct RiRecorded RiRecorded;

extern void ri_keys_read(RiReference *ref, Oid child_owner, Datum *keys, int n,
						 Datum **values, bool **isnull, bool *unreadable);
extern RiRecorded *ri_recorded_create(RiReference *ref, KeyEquality *equality,
									  bool count_keys, MemoryContext cxt);
extern void ri_recorded_free(RiRecorded *recorded);
extern int	ri_pending_add(RiReference *ref, KeyEquality *equality,
						   Oid child_owner, ChildKey **keys, Datum *json,
						   int n, SPIPlanPtr *plans, RiRecorded *recorded);

#endif							/* RI_POLICY_RESULTS_H */
