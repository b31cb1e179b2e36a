/*-------------------------------------------------------------------------
 *
 * columns.c
 *		Detect DDL on a reference's tables while a pass runs.
 *
 * A pass spans many transactions and holds no lock between them, so the
 * tables can change under it: a column renamed (or two swapped), dropped or
 * given another type or collation, a partition attached or detached.
 * Queries and scans find key columns by name, so after a swap they would
 * read the wrong column.  Instead of trusting names, a pass remembers, when
 * it begins, which attribute number, type and collation each key column has
 * in every table it reads, and each unit of work checks, inside its own
 * transaction and after it has locked the tables, that the names still lead
 * there.  Any change stops the pass with an error; the next call starts
 * over, on the tables as they are then.  Between calls, the same facts are
 * kept with the pass's progress (ri_columns_signature()): a type or
 * collation changed without a rewrite (text to citext, say) changes what a
 * key is, and the keys recorded before it are not those of after, so a
 * pass resumed on other columns starts over too.
 *
 * src/columns.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_attribute.h"
#include "catalog/pg_enum.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "columns.h"

/* One table's key columns: attribute numbers and types, by position. */
typedef struct TableColumns
{
	Oid			relid;
	int			ncols;
	char	  **names;
	AttrNumber	attnums[INDEX_MAX_KEYS];
	Oid			types[INDEX_MAX_KEYS];
	int32		typmods[INDEX_MAX_KEYS];
	Oid			collations[INDEX_MAX_KEYS];
	uint32		labels[INDEX_MAX_KEYS]; /* enum_labels() of the type */
} TableColumns;

struct RiColumns
{
	const char *reference;
	List	   *tables;			/* of TableColumns */
	List	   *leaves;			/* the child tables the pass reads */
};

/*
 * A hash of the labels of an enum type (or of a domain over one), by OID;
 * 0 for other types.  A key of an enum type is recorded by its label, so
 * a label renamed (ALTER TYPE ... RENAME VALUE) under a pass would record
 * one key under two forms.
 */
static uint32
enum_labels(Oid type)
{
	Oid			base;
	CatCList   *list;
	uint32		hash = 1;

	if (!OidIsValid(type))
		return 0;				/* the column is gone */
	base = getBaseType(type);
	if (!type_is_enum(base))
		return 0;
	list = SearchSysCacheList1(ENUMTYPOIDNAME, ObjectIdGetDatum(base));
	for (int i = 0; i < list->n_members; i++)
	{
		Form_pg_enum e = (Form_pg_enum) GETSTRUCT(&list->members[i]->tuple);
		const char *label = NameStr(e->enumlabel);
		uint32		oid = e->oid;

		/* the members come in no set order: add up each one's hash */
		hash += hash_combine(hash_bytes((const unsigned char *) &oid, sizeof(oid)),
							 hash_bytes((const unsigned char *) label, strlen(label)));
	}
	ReleaseSysCacheList(list);
	return hash;
}

/*
 * Where a named column of a table is now; attnum 0 if it is gone.
 */
static void
lookup_column(Oid relid, const char *name, AttrNumber *attnum, Oid *type,
			  int32 *typmod, Oid *collation)
{
	HeapTuple	tup = SearchSysCacheAttName(relid, name);

	*attnum = 0;
	*type = InvalidOid;
	*typmod = -1;
	*collation = InvalidOid;
	if (!HeapTupleIsValid(tup))
		return;
	*attnum = ((Form_pg_attribute) GETSTRUCT(tup))->attnum;
	*type = ((Form_pg_attribute) GETSTRUCT(tup))->atttypid;
	*typmod = ((Form_pg_attribute) GETSTRUCT(tup))->atttypmod;
	*collation = ((Form_pg_attribute) GETSTRUCT(tup))->attcollation;
	ReleaseSysCache(tup);
}

static TableColumns *
remember_table(Oid relid, int ncols, char **names)
{
	TableColumns *t = palloc0(sizeof(TableColumns));

	t->relid = relid;
	t->ncols = ncols;
	t->names = names;
	for (int i = 0; i < ncols; i++)
	{
		lookup_column(relid, names[i], &t->attnums[i], &t->types[i],
					  &t->typmods[i], &t->collations[i]);
		t->labels[i] = enum_labels(t->types[i]);
	}
	return t;
}

/*
 * Remember the key columns of the parent and of each child table the pass
 * reads, in the current memory context.
 */
RiColumns *
ri_columns_remember(RiReference *ref, List *leaves)
{
	RiColumns  *cols = palloc0(sizeof(RiColumns));
	ListCell   *lc;

	cols->reference = pstrdup(ref->name);
	cols->leaves = list_copy(leaves);
	cols->tables = lappend(cols->tables,
						   remember_table(ref->parent, ref->nkeys,
										  ref->parent_columns));
	if (!list_member_oid(leaves, ref->child))
		cols->tables = lappend(cols->tables,
							   remember_table(ref->child, ref->nkeys,
											  ref->child_columns));
	foreach(lc, leaves)
		cols->tables = lappend(cols->tables,
							   remember_table(lfirst_oid(lc), ref->nkeys,
											  ref->child_columns));
	return cols;
}

/*
 * The key columns as remembered, as text to keep with the pass's progress:
 * for each table, its OID, then each column's attribute number, type,
 * typmod, collation and enum labels.  Two signatures are equal when the pass
 * would read and group the same keys.
 */
char *
ri_columns_signature(RiColumns *cols)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, cols->tables)
	{
		TableColumns *t = lfirst(lc);

		appendStringInfo(&buf, "%s%u", buf.len > 0 ? ";" : "", t->relid);
		for (int i = 0; i < t->ncols; i++)
			appendStringInfo(&buf, " %d:%u:%d:%u:%u", t->attnums[i], t->types[i],
							 t->typmods[i], t->collations[i], t->labels[i]);
	}
	return buf.data;
}

/*
 * Raise an error if a key column moved, vanished or changed type or
 * collation since the pass began, or (when leaves_now is given) if the set of child tables
 * changed.  Call it after the tables have been locked in this transaction,
 * so that what is checked is what was read.
 */
void
ri_columns_check(RiColumns *cols, List *leaves_now)
{
	ListCell   *lc;

	foreach(lc, cols->tables)
	{
		TableColumns *t = lfirst(lc);

		for (int i = 0; i < t->ncols; i++)
		{
			AttrNumber	attnum;
			Oid			type;
			int32		typmod;
			Oid			collation;

			lookup_column(t->relid, t->names[i], &attnum, &type, &typmod, &collation);
			if (attnum != t->attnums[i] || type != t->types[i] ||
				typmod != t->typmods[i] || collation != t->collations[i] ||
				enum_labels(type) != t->labels[i])
			{
				char	   *relname = get_rel_name(t->relid);

				/*
				 * Gone: dropped, or replaced by a new table of its name, as
				 * Citus's conversions (undistribute_table(), say) do.
				 */
				if (relname == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("the tables of reference \"%s\" changed while it was being validated",
									cols->reference),
							 errdetail("A table the pass reads was dropped or replaced by another (as Citus replaces a table it converts)."),
							 errhint("Call ri_policy.validate() again: the next pass starts over.")));
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the columns of reference \"%s\" changed while it was being validated",
								cols->reference),
						 errdetail("Column \"%s\" of table \"%s\" was renamed, dropped or given another type or collation, or a label of its enum type was renamed.",
								   t->names[i], relname),
						 errhint("Call ri_policy.validate() again: the next pass starts over.")));
			}
		}
	}

	if (leaves_now == NIL)
		return;
	if (list_length(leaves_now) != list_length(cols->leaves) ||
		list_difference_oid(leaves_now, cols->leaves) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the partitions of the child of reference \"%s\" changed while it was being validated",
						cols->reference),
				 errdetail("A partition or inheritance child was attached, detached, created or dropped."),
				 errhint("Call ri_policy.validate() again: the next pass starts over.")));
}

/*
 * The collation of the child's i'th key column, as the catalog has it now.
 * The child may be gone since the reference was read (dropped, or replaced
 * by a table of its name, as Citus's conversions do): then the pass fails
 * as any pass whose tables changed under it, never with a failed cache
 * lookup.
 */
Oid
ri_child_column_collation(RiReference *ref, int i)
{
	AttrNumber	attnum = get_attnum(ref->child, ref->child_columns[i]);
	Oid			type;
	int32		typmod;
	Oid			collation;

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the tables of reference \"%s\" changed while it was being validated",
						ref->name),
				 errdetail("Column \"%s\" of its child table is gone: the table was dropped or replaced by another (as Citus replaces a table it converts).",
						   ref->child_columns[i]),
				 errhint("Call ri_policy.validate() again: the next pass starts over.")));
	get_atttypetypmodcoll(ref->child, attnum, &type, &typmod, &collation);
	return collation;
}
