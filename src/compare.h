/*-------------------------------------------------------------------------
 *
 * compare.h
 *		Which keys a reference can compare, which functions comparing them
 *		may run, and the conversion of child values for the parent probe.
 *
 * src/compare.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_COMPARE_H
#define RI_POLICY_COMPARE_H

#include "miscadmin.h"
#include "nodes/primnodes.h"

#include "reference.h"

/*
 * How code that a table's owner controls is run: as that owner, who cannot
 * change roles or leave anything behind for later (analyze.c does the same),
 * and whom a forced row-level security policy does not hide rows from (as
 * for the foreign-key triggers' queries): every path (the heap scan of a
 * full pass, incremental re-checks, orphans(), repair()) sees the same rows.
 */
#define RI_OWNER_CONTEXT \
	(SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION | SECURITY_NOFORCE_RLS)

extern void ri_check_comparison(RiReference *ref);
extern bool ri_comparison_usable(RiReference *ref);
extern bool ri_try_or_skip(RiReference *ref, void (*fn) (void *), void *arg);
extern Oid	ri_probe_type(RiReference *ref, int col);
extern Datum *ri_convert(Oid source, Oid target, CoercionContext ccontext,
						 Datum *values, int n, bool *unmatched, bool any_error);
extern Datum *ri_convert_for_probe(RiReference *ref, int col, Datum *values,
								   int n, bool *unmatched);

#endif							/* RI_POLICY_COMPARE_H */
