/*-------------------------------------------------------------------------
 *
 * ri_policy.h
 *		Settings and helpers shared by the parts of ri_policy.
 *
 * src/ri_policy.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_H
#define RI_POLICY_H

/* Values of ri_policy.mode */
typedef enum RiPolicyMode
{
	RI_POLICY_ALLOW,
	RI_POLICY_WARN,
	RI_POLICY_BLOCK
} RiPolicyMode;

extern int	ri_policy_mode;
extern int	ri_policy_batch_size;
extern int	ri_policy_max_parallel_workers;
extern int	ri_policy_min_parallel_blocks;

/* Bounds of ri_policy.max_parallel_workers and min_parallel_blocks */
#define RI_MAX_PARALLEL_WORKERS 64
#define RI_MIN_PARALLEL_BLOCKS 4096 /* 32 MB of 8 kB blocks */

extern const char *ri_policy_mode_name(void);
extern char *ri_policy_mode_origin(void);
extern void ri_policy_restore_settings(void);

/* guard.c, for functions that create foreign keys themselves */
extern void ri_guard_check_create(Oid child, const char *conname, Oid parent);
extern void ri_guard_report_created(Oid conoid);
extern void ri_guard_init(void);

/* guard.c: the record of what warn mode let through (ri_policy.warned) */
#define RI_WARNED_STATEMENT_MAX 8192	/* bytes of the statement kept */
extern char *ri_guard_policy_detail(void);
extern char *ri_guard_statement(void);
extern void ri_guard_record_warned(Oid conoid, const char *detail,
								   const char *session_role,
								   const char *effective_role,
								   const char *statement);

#endif							/* RI_POLICY_H */
