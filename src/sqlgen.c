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

#include "access/transam.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"
#include "utils/rls.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
#include "parser/parse_coerce.h"

#include "columns.h"
#include "compare.h"
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
 * is there no parent row for this key, through the pinned operators?  The
 * keys are of the child columns' types.
 */
void
ri_append_no_parent(StringInfo buf, RiReference *ref, const char *keyfmt)
{
	ri_append_no_parent_typed(buf, ref, keyfmt, ref->child_types);
}

/*
 * The same, for keys of the given types: where a key is of the operator's
 * own input type, no cast is added, so the query runs no conversion.
 */
void
ri_append_no_parent_typed(StringInfo buf, RiReference *ref, const char *keyfmt,
						  const Oid *keytypes)
{
	appendStringInfo(buf, "NOT EXISTS (SELECT 1 FROM %s%s x WHERE ",
					 ref->only_parent ? "ONLY " : "", ri_qualified_name(ref->parent));
	for (int i = 0; i < ref->nkeys; i++)
	{
		char	   *left = psprintf("x.%s", quote_identifier(ref->parent_columns[i]));
		char	   *right = psprintf(keyfmt, i + 1);

		if (i > 0)
			appendStringInfoString(buf, " AND ");
		generate_operator_clause(buf, left, ref->parent_types[i],
								 ref->eq_operators[i], right, keytypes[i]);
	}
	appendStringInfoChar(buf, ')');
}

/*
 * "ROWS FROM (unnest($1), ...) WITH ORDINALITY AS <alias>(k1, ..., i)":
 * a batch of keys, an array per column, as rows numbered from 1.
 */
void
ri_append_key_rows(StringInfo buf, int nkeys, const char *alias)
{
	appendStringInfoString(buf, "ROWS FROM (");
	for (int i = 0; i < nkeys; i++)
		appendStringInfo(buf, "%spg_catalog.unnest($%d)", i > 0 ? ", " : "", i + 1);
	appendStringInfo(buf, ") WITH ORDINALITY AS %s(", alias);
	for (int i = 0; i < nkeys; i++)
		appendStringInfo(buf, "k%d, ", i + 1);
	appendStringInfoString(buf, "i)");
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
		char	   *left = psprintf("c.%s", quote_identifier(ref->child_columns[i]));
		char	   *right = psprintf(keyfmt, i + 1);

		if (!OidIsValid(typentry->eq_opr))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("could not identify an equality operator for type %s",
							format_type_be(ref->child_types[i]))));
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

/*
 * Keys are rendered (as text or jsonb) and read back under fixed output
 * settings, so that the same key always reads the same whoever wrote it:
 * DateStyle ISO, IntervalStyle postgres, TimeZone UTC, extra_float_digits 3.
 * Returns the GUC nest level to pass to ri_fixed_output_end().
 */
int
ri_fixed_output_begin(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("datestyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("timezone", "UTC", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("bytea_output", "hex", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
ri_fixed_output_end(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Planner settings for one statement on ri_policy's own tables, whose
 * statistics usually predate what a pass has written to them, so that its
 * plan cannot depend on them: n (name, value) pairs, until
 * ri_plan_settings_end().  Returns the GUC nest level to pass to it.
 */
int
ri_plan_settings_begin(const char *const settings[][2], int n)
{
	int			nestlevel = NewGUCNestLevel();

	for (int i = 0; i < n; i++)
		(void) set_config_option(settings[i][0], settings[i][1], PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
ri_plan_settings_end(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Settings for a walk of a reference's recorded keys in their index's
 * order, batch by batch ("... WHERE reference = $1 AND key_hash >= ...
 * ORDER BY key_hash, key LIMIT n"): an index scan, with an incremental sort
 * of the keys of one hash, stopping after n.  With statistics from before
 * the reference's keys were recorded, the planner sorted all that were
 * left at every batch.  End with ri_plan_settings_end().
 */
int
ri_index_walk_begin(void)
{
	static const char *const walk[][2] = {
		{"enable_seqscan", "off"}, {"enable_bitmapscan", "off"},
		{"enable_sort", "off"}, {"enable_indexscan", "on"},
		{"enable_incremental_sort", "on"}};

	return ri_plan_settings_begin(walk, lengthof(walk));
}

/*
 * Settings for a statement that finds each of a batch's keys among a
 * reference's recorded ones by an index probe, in a nested loop, and each
 * recorded row by its TID: left to the planner, with statistics from before
 * those keys were recorded, such statements hashed or scanned them all at
 * every batch.  End with ri_plan_settings_end().
 */
int
ri_index_probe_begin(void)
{
	static const char *const probe[][2] = {
		{"enable_seqscan", "off"}, {"enable_bitmapscan", "off"},
		{"enable_hashjoin", "off"}, {"enable_mergejoin", "off"},
		{"enable_nestloop", "on"}, {"enable_tidscan", "on"},
		{"enable_indexscan", "on"}};

	return ri_plan_settings_begin(probe, lengthof(probe));
}

/* Does the text form of a value of this type depend on those settings? */
bool
ri_output_depends_on_settings(Oid type)
{
	switch (getBaseType(type))
	{
		case DATEOID:
		case TIMEOID:
		case TIMETZOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case INTERVALOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case BYTEAOID:
			return true;
		default:
			return false;
	}
}

/*
 * Can an incremental pass (or repair) rely on what the child's owner sees
 * of the parent?  Not if row-level security hides parent rows from it, and
 * not if either table has partitions or inheritance children (rows written
 * directly to those escape the tracking triggers), nor if either is one
 * (rows written through its parent escape them too).
 */
bool
ri_incremental_safe(RiReference *ref, Oid child_owner)
{
	if (has_subclass(ref->child) || has_subclass(ref->parent) ||
		has_superclass(ref->child) || has_superclass(ref->parent))
		return false;
	return check_enable_rls(ref->parent, child_owner, true) != RLS_ENABLED;
}

/* Types whose equal values have equal jsonb forms (to_jsonb), see below. */
static bool
type_compares_by_image(Oid type)
{
	switch (type)
	{
		case BOOLOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:		/* 1.0 and 1.00: equal as jsonb numbers too */
		case FLOAT4OID:
		case FLOAT8OID:
		case TEXTOID:
		case VARCHAROID:
		case BYTEAOID:
		case UUIDOID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return true;
		default:
			return false;
	}
}

/*
 * Why an incremental pass could not compare this reference's keys exactly
 * as a full pass does, as a DETAIL sentence; NULL if it can.
 *
 * An incremental pass clears a recorded violation through the jsonb form of
 * the key that its new parent has, skips the keys of child rows whose
 * parent exists, and finds the child rows of a parent key that changed by
 * reading that key back into the child's type (validate.c).  All of this
 * needs each parent key to equal exactly one child value, and equal child
 * values to have equal jsonb forms: built-in types and equality operators,
 * deterministic collations, and a cast from the child's type to the one the
 * operator takes (if any) that keeps values apart.  Not so for citext,
 * intervals or case-insensitive collations, where 'ABC' can be the parent
 * of 'abc'; nor for a numeric child of a float parent, whose values 0.1 and
 * 0.1000000000000000000001 are both children of the parent 0.1; nor for
 * timestamp against timestamptz, whose equality depends on the session's
 * time zone.
 */
const char *
ri_incremental_inexact(RiReference *ref)
{
	for (int i = 0; i < ref->nkeys; i++)
	{
		Oid			collation = ri_child_column_collation(ref, i);
		Oid			child = ref->child_types[i];
		Oid			parent = ref->parent_types[i];
		Oid			probe = ri_probe_type(ref, i);

		if (!type_compares_by_image(child) || !type_compares_by_image(parent) ||
			ref->eq_operators[i] >= FirstGenbkiObjectId)
			return psprintf("Column \"%s\" is of type %s: incremental passes re-check keys of built-in types compared with built-in operators only.",
							ref->child_columns[i], format_type_be(child));
		if ((OidIsValid(collation) && !get_collation_isdeterministic(collation)) ||
			(OidIsValid(ref->parent_collations[i]) &&
			 !get_collation_isdeterministic(ref->parent_collations[i])))
			return psprintf("Column \"%s\" is compared under a nondeterministic collation.",
							ref->child_columns[i]);
		if (child != probe && !IsBinaryCoercible(child, probe) &&
			!((child == INT2OID || child == INT4OID || child == INT8OID) &&
			  probe == NUMERICOID))
			return psprintf("Column \"%s\" of type %s is compared after a cast to type %s, which can take several values to the same one.",
							ref->child_columns[i], format_type_be(child),
							format_type_be(probe));
		if ((child == TIMESTAMPTZOID) != (parent == TIMESTAMPTZOID) &&
			(child == TIMESTAMPTZOID || child == TIMESTAMPOID || child == DATEOID) &&
			(parent == TIMESTAMPTZOID || parent == TIMESTAMPOID || parent == DATEOID))
			return psprintf("Column \"%s\" of type %s is compared with a column of type %s under the session's time zone.",
							ref->child_columns[i], format_type_be(child),
							format_type_be(parent));
	}
	return NULL;
}

/*
 * Do equal keys of this reference have equal jsonb forms, and does each
 * parent key equal one child value?  See ri_incremental_inexact().
 */
bool
ri_keys_compare_by_image(RiReference *ref)
{
	return ri_incremental_inexact(ref) == NULL;
}
