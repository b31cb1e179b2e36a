/*-------------------------------------------------------------------------
 *
 * shard_filter.h
 *		The most keys a set of ri_policy._int8_in_keys() or
 *		ri_policy._uuid_in_keys() may hold (shard_filter.c), which the
 *		coordinator's sets (citus.c) stay within.
 *
 * src/shard_filter.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_SHARD_FILTER_H
#define RI_POLICY_SHARD_FILTER_H

/*
 * The table of a set takes two to four slots a key, of 8 bytes (integers)
 * or 17 (uuids): at most 64 MB and 68 MB.  (Like PostgreSQL's own
 * functions, a call is not bounded by work_mem; this bounds what one call
 * site holds.)
 */
#define RI_SET_MAX_INT8_KEYS	((Size) 1 << 22)
#define RI_SET_MAX_UUID_KEYS	((Size) 1 << 21)

#endif							/* RI_POLICY_SHARD_FILTER_H */
