/*-------------------------------------------------------------------------
 *
 * citus.h
 *		Tables whose rows are not in their own heap (Citus tables, foreign
 *		tables), and validation through Citus's planner.
 *
 * src/citus.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_CITUS_H
#define RI_POLICY_CITUS_H

#include "storage/block.h"

#include "reference.h"

/* Where a table's rows are, as ri_policy may read them */
typedef enum RiRowsAt
{
	RI_ROWS_HERE,				/* in the table, readable by block ranges */
	RI_ROWS_CITUS,				/* in Citus's shards */
	RI_ROWS_FOREIGN,			/* behind a foreign-data wrapper */
	RI_ROWS_NO_RANGES			/* a table access method without TID ranges */
} RiRowsAt;

extern RiRowsAt ri_rows_at(Oid relid, const char **kind);

/* What is asked of a reference's tables */
typedef enum RiRowsUse
{
	RI_USE_SCAN,				/* the child's rows are read (validation) */
	RI_USE_TRACK				/* both tables' changes are seen by triggers */
} RiRowsUse;

extern bool ri_reads_through_citus(RiReference *ref);
extern bool ri_refuse_rows_elsewhere(RiReference *ref, RiRowsUse use,
									 const char *action, int elevel);
extern void ri_refuse_moved_rows(RiReference *ref, bool through_citus);
extern void ri_citus_follow_conversion(void);
extern bool ri_citus_logical_key(Oid rel, const char *conname, Oid ref,
								 Oid *lrel, char **lname, Oid *lref);

/* validation through Citus */
struct ChildKeyGroup;
struct ParentKeySet;
struct StringInfoData;
typedef struct RiCitusReader RiCitusReader;

extern RiCitusReader *ri_citus_reader_create(RiReference *ref, Oid scan_user,
											 MemoryContext cxt);
extern const char *ri_citus_read_batch(RiCitusReader *r, int batch_size,
								BlockNumber batch, bool record,
								struct ChildKeyGroup *group, uint64 *rows,
								BlockNumber *next);
extern void ri_citus_reader_end(RiCitusReader *r);
extern bool ri_citus_prefilters(RiCitusReader *r);
extern bool ri_citus_parent_keys(RiReference *ref, struct ParentKeySet *set);
extern void ri_citus_probe_sql(struct StringInfoData *buf, RiReference *ref,
							   const Oid *keytypes);

#endif							/* RI_POLICY_CITUS_H */
