/*-------------------------------------------------------------------------
 *
 * fk_kind.c
 *		What a foreign key in pg_constraint is, as ri_policy.references
 *		shows it: enforced, not valid or not enforced.
 *
 * The view used to choose its expression when the extension was created,
 * by the server's major: one created before 18 never reads conenforced.
 * pg_upgrade carries an extension's objects over as they are, so a
 * database upgraded from 15 to 18 kept the 15 view and listed NOT ENFORCED
 * keys as enforced.  Asking the library, which is built for the server it
 * runs in, gives one view for every major (compat_conenforced()).
 *
 * src/fk_kind.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_constraint.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "compat.h"

PG_FUNCTION_INFO_V1(ri_policy_fk_kind);

/*
 * ri_policy._fk_kind(oid): 'not enforced', 'not valid' or 'enforced' for
 * the foreign key with that pg_constraint OID; NULL for any other
 * constraint, or none (a row the caller's snapshot still sees may be gone
 * from the catalog caches).
 */
Datum
ri_policy_fk_kind(PG_FUNCTION_ARGS)
{
	Oid			conoid = PG_GETARG_OID(0);
	HeapTuple	tup;
	Form_pg_constraint con;
	const char *kind;

	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		PG_RETURN_NULL();
	con = (Form_pg_constraint) GETSTRUCT(tup);
	if (con->contype != CONSTRAINT_FOREIGN)
	{
		ReleaseSysCache(tup);
		PG_RETURN_NULL();
	}
	if (!compat_conenforced(con))
		kind = "not enforced";
	else if (!con->convalidated)
		kind = "not valid";
	else
		kind = "enforced";
	ReleaseSysCache(tup);
	PG_RETURN_TEXT_P(cstring_to_text(kind));
}
