/*-------------------------------------------------------------------------
 *
 * sqlgen.c
 *		Pieces of the SQL that ri_policy runs against users' tables.
 *
 * Every name is schema-qualified and quoted, and every comparison uses an
 * operator given by OID (generate_operator_clause, as ri_triggers.c does),
 * so none of it depends on search_path.
 *
 * src/sqlgen.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "reference.h"

/* A relation's schema-qualified, quoted name. */
char *
ri_qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * NOT EXISTS (SELECT 1 FROM [ONLY] parent x WHERE x.p1 OPERATOR(op1) <k1>
 * AND ...), where <ki> is keyfmt with i (from 1) substituted, e.g. "k.k%d":
 * is there no parent row for this key, through the pinned operators?
 */
void
ri_append_no_parent(StringInfo buf, RiReference *ref, const char *keyfmt)
{
	appendStringInfo(buf, "NOT EXISTS (SELECT 1 FROM %s%s x WHERE ",
					 ref->only_parent ? "ONLY " : "", ri_qualified_name(ref->parent));
	for (int i = 0; i < ref->nkeys; i++)
	{
		char		left[NAMEDATALEN * 2 + 8];
		char		right[32];

		if (i > 0)
			appendStringInfoString(buf, " AND ");
		snprintf(left, sizeof(left), "x.%s", quote_identifier(ref->parent_columns[i]));
		snprintf(right, sizeof(right), keyfmt, i + 1);
		generate_operator_clause(buf, left, ref->parent_types[i],
								 ref->eq_operators[i], right, ref->child_types[i]);
	}
	appendStringInfoChar(buf, ')');
}

/*
 * c.c1 = <k1> AND ...: does child row "c" hold this key?  Compared with the
 * child type's own equality; with "nulls_match", a NULL matches a NULL (a
 * MATCH FULL violation may be partly NULL).
 */
void
ri_append_child_match(StringInfo buf, RiReference *ref, const char *keyfmt,
					  bool nulls_match)
{
	for (int i = 0; i < ref->nkeys; i++)
	{
		TypeCacheEntry *typentry = lookup_type_cache(ref->child_types[i],
													 TYPECACHE_EQ_OPR);
		char		left[NAMEDATALEN + 8];
		char		right[32];

		if (!OidIsValid(typentry->eq_opr))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("could not identify an equality operator for type %s",
							format_type_be(ref->child_types[i]))));
		snprintf(left, sizeof(left), "c.%s", quote_identifier(ref->child_columns[i]));
		snprintf(right, sizeof(right), keyfmt, i + 1);
		if (i > 0)
			appendStringInfoString(buf, " AND ");
		if (nulls_match)
			appendStringInfoChar(buf, '(');
		generate_operator_clause(buf, left, ref->child_types[i], typentry->eq_opr,
								 right, ref->child_types[i]);
		if (nulls_match)
			appendStringInfo(buf, " OR (%s IS NULL AND %s IS NULL))", left, right);
	}
}
