/*-------------------------------------------------------------------------
 *
 * reference.h
 *		A relationship between child columns and a parent key, declared in
 *		ri_policy's registry or defined by a foreign key constraint, as the
 *		validator needs it.
 *
 * src/reference.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_REFERENCE_H
#define RI_POLICY_REFERENCE_H

#include "access/attnum.h"
#include "executor/spi.h"
#include "storage/lock.h"
#include "nodes/pg_list.h"
#include "pg_config_manual.h"

typedef struct RiReference
{
	int64		id;				/* identity; 0: a foreign key without one yet */
	char	   *name;
	Oid			conoid;			/* the foreign key, or InvalidOid if declared */
	Oid			child;
	Oid			parent;
	int			nkeys;
	char	   *child_columns[INDEX_MAX_KEYS];
	char	   *parent_columns[INDEX_MAX_KEYS];
	Oid			child_types[INDEX_MAX_KEYS];
	Oid			parent_types[INDEX_MAX_KEYS];
	Oid			parent_collations[INDEX_MAX_KEYS];
	Oid			eq_operators[INDEX_MAX_KEYS];	/* parent = child, pinned */
	bool		match_full;
	char	   *on_delete;		/* 'no action', 'cascade', 'set null', ... */
	bool		only_parent;	/* probe the parent with ONLY */
	bool		only_child;		/* check the child's own rows only */
	/* the rest of a foreign key's definition, for promote() (declared only) */
	char	   *on_update;		/* as on_delete */
	bool		is_deferrable;
	bool		initially_deferred;
	int			n_delete_set;	/* ON DELETE SET ... (columns); 0: all */
	int			delete_set[INDEX_MAX_KEYS]; /* their indexes in child_columns */
	bool		not_valid;		/* promote() leaves the key NOT VALID */
} RiReference;

/* registry.c */
extern RiReference *ri_resolve_reference(const char *address);
extern RiReference *ri_load_reference_id(int64 id);
extern void ri_ensure_identity(RiReference *ref);
extern void ri_forget_foreign_key(Oid child, const char *name);
struct FormData_pg_constraint;
extern void ri_refuse_temporal_key(const struct FormData_pg_constraint *con);
extern char *ri_reference_address(RiReference *ref);
extern bool ri_reference_name_taken(Oid child, const char *name);
extern void ri_require_current_objects(void);
extern Oid	ri_extension_owner(void);
extern int	ri_exec_as_owner(SPIPlanPtr *plan, const char *sql, int nargs,
							 Oid *argtypes, Datum *values, const char *nulls,
							 bool read_only);
extern int	ri_exec_as_owner_opts(SPIPlanPtr *plan, int cursor_options,
								  const char *sql, int nargs, Oid *argtypes,
								  Datum *values, const char *nulls,
								  bool read_only);
extern void ri_follow_rename(Node *parsetree);
extern void ri_reference_operators(RiReference *ref, Oid *operators);
extern bool ri_registry_exists(void);
extern bool ri_objects_current(void);
extern Datum ri_operator_names(const Oid *operators, int n);

/* sqlgen.c */
struct StringInfoData;
extern char *ri_qualified_name(Oid relid);
extern void ri_append_no_parent(struct StringInfoData *buf, RiReference *ref,
								const char *keyfmt);
extern void ri_append_no_parent_typed(struct StringInfoData *buf,
									  RiReference *ref, const char *keyfmt,
									  const Oid *keytypes);
extern void ri_append_child_match(struct StringInfoData *buf, RiReference *ref,
								  const char *keyfmt, bool nulls_match);
extern void ri_append_key_rows(struct StringInfoData *buf, int nkeys,
							   const char *alias);

extern int	ri_fixed_output_begin(void);
extern void ri_fixed_output_end(int nestlevel);
extern int	ri_plan_settings_begin(const char *const settings[][2], int n);
extern void ri_plan_settings_end(int nestlevel);
extern int	ri_index_walk_begin(void);
extern int	ri_index_probe_begin(void);
extern bool ri_output_depends_on_settings(Oid type);
extern bool ri_keys_compare_by_image(RiReference *ref);
extern const char *ri_incremental_inexact(RiReference *ref);
extern bool ri_incremental_safe(RiReference *ref, Oid child_owner);

/* registry.c: the declared references whose child the caller owns */
extern List *ri_owned_references(void);
extern void ri_require_child_owner(RiReference *ref);

/* track.c */
extern void ri_untrack(RiReference *ref);
extern void ri_retrack_table(RiReference *ref, Oid rel);
extern char *ri_track_gap(RiReference *ref, const char **hint);
extern void ri_track_forget(Oid *rels, int nrels, int64 *ids, int nids,
							const char *why);
extern void ri_track_note_full(RiReference *ref, const char *why,
							   const char *hint, bool notice);
extern bool ri_track_table_tracked(Oid relid, const char *tgname);
extern bool ri_track_own_ddl(void);
extern void ri_track_enable_always(Oid relid, const char *tgname);
extern Oid	ri_changed_partition(int64 id);

/* validate.c */
extern void ri_reference_locktag(LOCKTAG *tag, int64 id);
/*
 * Work that changes a reference's results (validate, repair): a memory
 * context that outlives the commits between batches, and the reference's
 * session lock.
 */
typedef struct RiWork
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	LOCKTAG		tag;
	struct RiHeldLock *held;	/* the lock's entry in validate.c's list */
} RiWork;

extern RiReference *ri_begin_work(RiReference *ref, RiWork *work);
extern void ri_end_work(RiWork *work);
extern Oid	ri_rel_owner(Oid relid);

/* run SPI work on ri_policy's own tables as the extension's owner */
typedef struct RiUserState
{
	Oid			userid;
	int			sec_context;
} RiUserState;

extern void ri_become(Oid userid, int flags, RiUserState *saved);
extern void ri_restore(RiUserState *saved);

/* run SQL with search_path = pg_catalog, pg_temp */
extern int	ri_own_settings_begin(void);
extern void ri_own_settings_end(int nestlevel);
extern void ri_rethrow(ErrorData *edata);

#endif							/* RI_POLICY_REFERENCE_H */
