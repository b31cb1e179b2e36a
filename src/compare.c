/*-------------------------------------------------------------------------
 *
 * compare.c
 *		What comparing a reference's keys may run, and as whom.
 *
 * Validation compares child values with parent keys through the pinned
 * equality operators, and two kinds of code take part in it:
 *
 * - The child's side: reading child values, hashing them for the in-memory
 *   key set, formatting them as jsonb (type output, or a cast to json), and
 *   converting them to the type the equality operator takes (a cast such as
 *   numeric to float8, or one its owner created).  All of it runs as the
 *   child's owner, in a restricted security context, as ANALYZE runs a
 *   table's code; the parent probe is handed values converted already, so
 *   no cast the child's owner controls runs there.
 *
 * - The comparison itself: the operator's function and the other members of
 *   the operator families it belongs to, for the key's types (the hash and
 *   b-tree support functions that the key set, index scans, sorts and hash
 *   joins call), and for a range key its subtype's functions, which the
 *   range's own built-in comparison and hashing call.  These run on both
 *   sides: as the parent's owner when the parent is probed (on every path,
 *   probe.c), and as the child's owner in the key set that a full pass
 *   probes.  So each must be owned by a superuser, or by the one role that
 *   owns both tables; otherwise the reference is refused with 42501, since
 *   running it would lend one owner's rights to code that someone else
 *   controls.
 *
 * - Grouping child keys (keyset.c) and matching child rows to a key run the
 *   child type's own equality and hash functions, as the child's owner
 *   only, as any query of the child by its owner would.
 *
 * Keys of array and composite types (and domains over them) are refused
 * with 0A000: the parent probe passes keys as arrays, and an array of
 * arrays does not exist, while unnest() would expand a composite into its
 * fields.
 *
 * All of this is checked when a reference is declared and again at the
 * start of every pass (validate, orphans, repair, incremental), since
 * owners, casts and types can change after the declaration.
 *
 * src/compare.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "compare.h"
#include "compat.h"

/* Who owns the tables of the reference being checked */
typedef struct Owners
{
	Oid			child;
	Oid			parent;
} Owners;

/*
 * Refuse a key column whose type validation cannot handle: arrays and
 * composites, directly or under a domain.
 */
static void
check_key_type(RiReference *ref, Oid relid, const char *column, Oid type)
{
	Oid			base = getBaseType(type);
	char		typtype = get_typtype(base);

	if (typtype == TYPTYPE_COMPOSITE || typtype == TYPTYPE_PSEUDO ||
		type_is_array(base))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("reference key column \"%s\" of table \"%s\" has unsupported type %s",
						column, get_rel_name(relid), format_type_be(type)),
				 errdetail("Keys of array and composite types, or of domains over them, cannot be validated."),
				 OidIsValid(ref->conoid) ?
				 errhint("Validate foreign key \"%s\" with ALTER TABLE ... VALIDATE CONSTRAINT.",
						 ref->name) : 0));
}

/*
 * A function that compares keys runs with the rights of both tables'
 * owners: it must belong to a superuser or to the role that owns both.
 */
static void
require_trusted(RiReference *ref, Owners *owners, Oid funcid)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);

	if (superuser_arg(owner) ||
		(owner == owners->child && owner == owners->parent))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to compare the keys of reference \"%s\"",
					ref->name),
			 errdetail("The comparison runs function %s, owned by role \"%s\", which is neither a superuser nor the owner of both tables.",
					   format_procedure(funcid),
					   GetUserNameFromId(owner, false))));
}

/*
 * The members of an operator family that can take part in comparing keys of
 * these two types (either on either side): its operators' functions and its
 * support functions.
 */
static void
require_trusted_family(RiReference *ref, Owners *owners, Oid opfamily,
					   Oid left, Oid right)
{
	CatCList   *list;

#define KEY_TYPE(t) ((t) == left || (t) == right)

	list = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamily));
	for (int i = 0; i < list->n_members; i++)
	{
		Form_pg_amop amop = (Form_pg_amop) GETSTRUCT(&list->members[i]->tuple);

		if (KEY_TYPE(amop->amoplefttype) && KEY_TYPE(amop->amoprighttype))
			require_trusted(ref, owners, get_opcode(amop->amopopr));
	}
	ReleaseSysCacheList(list);

	list = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamily));
	for (int i = 0; i < list->n_members; i++)
	{
		Form_pg_amproc amproc = (Form_pg_amproc) GETSTRUCT(&list->members[i]->tuple);

		if (KEY_TYPE(amproc->amproclefttype) && KEY_TYPE(amproc->amprocrighttype))
			require_trusted(ref, owners, amproc->amproc);
	}
	ReleaseSysCacheList(list);
#undef KEY_TYPE
}

/*
 * Functions that comparing values of a type calls besides its operators': a
 * range (or multirange) compares and hashes its bounds with its subtype's
 * b-tree and hash functions, and may canonicalize them.  (Its subtype_diff
 * function serves GiST index builds only.)
 */
static void
require_trusted_type(RiReference *ref, Owners *owners, Oid type)
{
	Oid			base = getBaseType(type);
	TypeCacheEntry *range;
	TypeCacheEntry *subtype;
	Oid			sub;

	if (OidIsValid(compat_multirange_range(base)))
		base = compat_multirange_range(base);
	if (get_typtype(base) != TYPTYPE_RANGE)
		return;

	range = lookup_type_cache(base, TYPECACHE_RANGE_INFO);
	sub = range->rngelemtype->type_id;
	require_trusted(ref, owners, range->rng_cmp_proc_finfo.fn_oid);
	if (OidIsValid(range->rng_canonical_finfo.fn_oid))
		require_trusted(ref, owners, range->rng_canonical_finfo.fn_oid);
	subtype = lookup_type_cache(sub, TYPECACHE_HASH_PROC | TYPECACHE_HASH_EXTENDED_PROC);
	if (OidIsValid(subtype->hash_proc))
		require_trusted(ref, owners, subtype->hash_proc);
	if (OidIsValid(subtype->hash_extended_proc))
		require_trusted(ref, owners, subtype->hash_extended_proc);
	require_trusted_type(ref, owners, sub);
}

/*
 * The operator's function, and the members of every operator family that
 * holds the operator (b-tree, hash, or any other an index of the parent
 * could use).
 */
static void
require_trusted_operator(RiReference *ref, Owners *owners, Oid opno)
{
	Oid			left;
	Oid			right;
	CatCList   *list;

	op_input_types(opno, &left, &right);
	require_trusted(ref, owners, get_opcode(opno));

	list = SearchSysCacheList1(AMOPOPID, ObjectIdGetDatum(opno));
	for (int i = 0; i < list->n_members; i++)
	{
		Form_pg_amop amop = (Form_pg_amop) GETSTRUCT(&list->members[i]->tuple);

		require_trusted_family(ref, owners, amop->amopfamily, left, right);
	}
	ReleaseSysCacheList(list);
}

/*
 * Check that validation can compare this reference's keys, and may: the key
 * types are supported, the parent column still has a type its operator
 * takes as it is (with no conversion, which would run code in the probe),
 * the child column still converts to the operator's type, and every
 * function of the comparison is trusted by both owners.  Errors out
 * otherwise.  At declaration and at the start of every pass.
 */
void
ri_check_comparison(RiReference *ref)
{
	Owners		owners;

	owners.child = ri_rel_owner(ref->child);
	owners.parent = ri_rel_owner(ref->parent);

	for (int i = 0; i < ref->nkeys; i++)
	{
		Oid			left;
		Oid			right;
		Oid			probe;

		check_key_type(ref, ref->child, ref->child_columns[i], ref->child_types[i]);
		check_key_type(ref, ref->parent, ref->parent_columns[i], ref->parent_types[i]);

		op_input_types(ref->eq_operators[i], &left, &right);
		if (!IsBinaryCoercible(ref->parent_types[i], left) ||
			!(IsBinaryCoercible(ref->child_types[i], right) ||
			  can_coerce_type(1, &ref->child_types[i], &right, COERCION_IMPLICIT)))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("reference \"%s\" cannot be implemented", ref->name),
					 errdetail("Key columns \"%s\" and \"%s\" of types %s and %s cannot be compared with operator %s.",
							   ref->child_columns[i], ref->parent_columns[i],
							   format_type_be(ref->child_types[i]),
							   format_type_be(ref->parent_types[i]),
							   format_operator(ref->eq_operators[i])),
					 OidIsValid(ref->conoid) ? 0 :
					 errhint("Declare the reference again.")));

		probe = ri_probe_type(ref, i);
		if (!OidIsValid(get_array_type(probe)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("reference key column \"%s\" of table \"%s\" has unsupported type %s",
							ref->child_columns[i], get_rel_name(ref->child),
							format_type_be(ref->child_types[i])),
					 errdetail("Type %s has no array type.", format_type_be(probe))));

		require_trusted_operator(ref, &owners, ref->eq_operators[i]);
		require_trusted_type(ref, &owners, ref->child_types[i]);
		require_trusted_type(ref, &owners, ref->parent_types[i]);
	}
}

/*
 * The type of the values of key column "col" that the parent probe takes:
 * the equality operator's right-hand input type, or the child column's own
 * type where that input is polymorphic (anyenum, anyrange, ...), since the
 * child type then is that input as it is.
 */
Oid
ri_probe_type(RiReference *ref, int col)
{
	Oid			left;
	Oid			right;

	op_input_types(ref->eq_operators[col], &left, &right);
	if (get_typtype(right) == TYPTYPE_PSEUDO)
		return ref->child_types[col];
	return right;
}

/*
 * Convert values[from, to) into out[], skipping those already unmatched, in
 * a subtransaction.  Returns false, having converted nothing, when one of
 * them raised a data exception (a numeric too large for float8, say) or
 * broke an integrity constraint (a domain's CHECK), or with "any_error"
 * any error but a cancel (a type's input may report bad text as a syntax
 * error); re-throws any other error.
 */
static bool
convert_range(ExprState *state, ExprContext *econtext, Datum *values,
			  Datum *out, bool *unmatched, int from, int to, bool any_error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		for (int k = from; k < to; k++)
		{
			bool		isnull;

			if (unmatched[k])
				continue;
			econtext->caseValue_datum = values[k];
			econtext->caseValue_isNull = false;
			out[k] = ExecEvalExpr(state, econtext, &isnull);
			/* no parent key equals NULL */
			if (isnull)
				unmatched[k] = true;
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			category;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
		if (any_error ? edata->sqlerrcode == ERRCODE_QUERY_CANCELED :
			(category != ERRCODE_DATA_EXCEPTION &&
			 category != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION))
			ri_rethrow(edata);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Convert n values (no NULLs) of type "source" to type "target" as SQL
 * would in the given coercion context, as the current user.  Returns the
 * converted values (values itself when no conversion is needed), or NULL
 * if there is no such conversion.  A value that cannot be converted (a
 * data exception, or a domain's constraint) gets its unmatched[] entry
 * set, as does one that becomes NULL; entries already set are skipped.
 * With "any_error", any error but a cancel makes a value unconvertible.
 */
Datum *
ri_convert(Oid source, Oid target, CoercionContext ccontext, Datum *values,
		   int n, bool *unmatched, bool any_error)
{
	CaseTestExpr *input;
	Node	   *expr;
	ExprState  *state;
	ExprContext *econtext;
	Datum	   *out;

	/* the same bytes, read as the target type */
	if (target == source || IsBinaryCoercible(source, target))
		return values;

	input = makeNode(CaseTestExpr);
	input->typeId = source;
	input->typeMod = -1;
	input->collation = get_typcollation(source);
	expr = coerce_to_target_type(NULL, (Node *) input, source, target, -1,
								 ccontext, COERCE_IMPLICIT_CAST, -1);
	if (expr == NULL)
		return NULL;

	out = palloc(Max(n, 1) * sizeof(Datum));
	econtext = CreateStandaloneExprContext();
	state = ExecInitExpr((Expr *) expr, NULL);
	if (!convert_range(state, econtext, values, out, unmatched, 0, n, any_error))
	{
		/* one by one, to find the values that fail */
		for (int k = 0; k < n; k++)
		{
			state = ExecInitExpr((Expr *) expr, NULL);
			if (!convert_range(state, econtext, values, out, unmatched, k, k + 1,
							   any_error))
				unmatched[k] = true;
		}
	}
	FreeExprContext(econtext, true);
	return out;
}

/*
 * Convert n values of the child's key column "col" (no NULLs) to the type
 * of the parent probe, with the implicit cast that the operator's selection
 * relied on, as the current user: the caller runs this as the child's
 * owner, in a restricted security context.  Returns the converted values
 * (values itself when no conversion is needed).  A value that cannot be
 * converted equals no parent key, as a foreign key's own check could not
 * accept it either: its unmatched[] entry is set.
 */
Datum *
ri_convert_for_probe(RiReference *ref, int col, Datum *values, int n,
					 bool *unmatched)
{
	Oid			source = ref->child_types[col];
	Oid			target = ri_probe_type(ref, col);
	Datum	   *out;

	out = ri_convert(source, target, COERCION_IMPLICIT, values, n, unmatched, false);
	if (out == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("reference \"%s\" cannot be implemented", ref->name),
				 errdetail("Key column \"%s\" of type %s cannot be converted to type %s.",
						   ref->child_columns[col], format_type_be(source),
						   format_type_be(target))));
	return out;
}

/*
 * Run fn(arg) for one reference of validate() or repair() of every
 * reference, in a subtransaction: an error (but a cancel) becomes a WARNING
 * that skips the reference, so that one reference that cannot be checked
 * does not stop the others.  Returns whether fn succeeded.
 */
bool
ri_try_or_skip(RiReference *ref, void (*fn) (void *), void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ri_rethrow(edata);
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("skipping reference \"%s\": %s", ref->name, edata->message),
				 edata->detail ? errdetail("%s", edata->detail) : 0,
				 edata->hint ? errhint("%s", edata->hint) : 0));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return ok;
}

static void
check_comparison_cb(void *ref)
{
	ri_check_comparison((RiReference *) ref);
}

/*
 * May the reference's keys be compared now (its comparison may have been
 * refused since it was declared)?  Skips it with a WARNING if not.
 */
bool
ri_comparison_usable(RiReference *ref)
{
	return ri_try_or_skip(ref, check_comparison_cb, ref);
}
