/*-------------------------------------------------------------------------
 *
 * keyset.h
 *		In-memory sets of reference keys: the parent's keys, probed with
 *		child values through the reference's pinned equality operators, and
 *		the distinct child keys of one batch.
 *
 * src/keyset.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_KEYSET_H
#define RI_POLICY_KEYSET_H

#include "fmgr.h"
#include "reference.h"

/* The parent's keys, hashed so that child values can probe them. */
typedef struct ParentKeySet ParentKeySet;

extern bool keyset_supported(RiReference *ref);
extern ParentKeySet *keyset_create(RiReference *ref, MemoryContext parent,
								   Size limit);
extern bool keyset_add(ParentKeySet *set, Datum *values);
extern bool keyset_complete(ParentKeySet *set);
extern bool keyset_contains(ParentKeySet *set, Datum *child_values);
extern bool keyset_hashed(ParentKeySet *set);
extern uint32 keyset_child_hash(ParentKeySet *set, Datum *child_values);
extern void keyset_prefetch(ParentKeySet *set, uint32 hash);
extern bool keyset_contains_hashed(ParentKeySet *set, Datum *child_values,
								   uint32 hash);
extern uint64 keyset_count(ParentKeySet *set);

/* How a reference's child keys compare: as GROUP BY compares them. */
typedef struct KeyEquality KeyEquality;

extern KeyEquality *keyeq_create(RiReference *ref, MemoryContext cxt);
extern uint32 keyeq_hash(KeyEquality *equality, Datum *values, bool *isnull);
extern bool keyeq_equal(KeyEquality *equality, Datum *a, bool *anull,
						Datum *b, bool *bnull);
extern bool keyeq_json_faithful(KeyEquality *equality);
extern bool keyeq_equal_images(KeyEquality *equality);

/* The distinct child keys of one batch, with a row count each. */
typedef struct ChildKey
{
	struct ChildKey *next;		/* in the order added */
	struct ChildKey *chain;		/* same hash bucket */
	uint32		hash;			/* keyeq_hash() in a group by equality */
	int64		rows;
	bool		orphan;			/* known orphan (MATCH FULL, partly NULL) */
	int			tag;			/* the caller's, 0 when added */
	Datum	   *values;
	bool	   *isnull;
} ChildKey;

typedef struct ChildKeyGroup ChildKeyGroup;

extern ChildKeyGroup *childkeys_create(int nkeys, Oid *types,
									   MemoryContext cxt);
extern ChildKeyGroup *childkeys_create_eq(RiReference *ref,
										  KeyEquality *equality, bool flatten,
										  MemoryContext cxt);
extern ChildKey *childkeys_add(ChildKeyGroup *group, Datum *values,
							   bool *isnull, int64 rows, bool create);
extern ChildKey *childkeys_first(ChildKeyGroup *group);
extern uint64 childkeys_count(ChildKeyGroup *group);

/* A key as jsonb: {"child column": to_jsonb(value), ...} */
extern Datum key_to_jsonb(RiReference *ref, Datum *values, bool *isnull);

#endif							/* RI_POLICY_KEYSET_H */
