/*-------------------------------------------------------------------------
 *
 * probe.h
 *		Which child keys have no parent: the one comparison that every path
 *		(a full pass, an incremental pass, repair) makes.
 *
 * src/probe.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_PROBE_H
#define RI_POLICY_PROBE_H

#include "executor/spi.h"

#include "reference.h"

extern SPIPlanPtr ri_probe_prepare(RiReference *ref);
extern void ri_probe(RiReference *ref, SPIPlanPtr plan, Oid child_owner,
					 Oid parent_owner, Datum **values, int n, bool *orphan);

#endif							/* RI_POLICY_PROBE_H */
