/*-------------------------------------------------------------------------
 *
 * columns.h
 *		A reference's columns as they were when a pass began, to detect
 *		concurrent DDL.
 *
 * src/columns.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_COLUMNS_H
#define RI_POLICY_COLUMNS_H

#include "reference.h"

typedef struct RiColumns RiColumns;

extern RiColumns *ri_columns_remember(RiReference *ref, List *leaves);
extern void ri_columns_check(RiColumns *cols, List *leaves_now);
extern char *ri_columns_signature(RiColumns *cols);
extern Oid	ri_child_column_collation(RiReference *ref, int i);

#endif							/* RI_POLICY_COLUMNS_H */
