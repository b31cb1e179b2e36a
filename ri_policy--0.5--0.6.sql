/* ri_policy--0.5--0.6.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.6'" to load this file. \quit

-- ---------------------------------------------------------------------
-- pg_upgrade: operators by name; one ri_policy.references for every
-- major (issue 10)
-- ---------------------------------------------------------------------

-- The pinned equality operators are kept by name (schema-qualified, as
-- pg_identify_object() names them), not as regoperator: pg_upgrade keeps
-- the OIDs of tables and types but not of operators, and refuses a
-- database with a regoperator column in a table.  The library reads them
-- back with ::regoperator[].
CREATE FUNCTION ri_policy._operator_names(operators regoperator[])
RETURNS text[]
LANGUAGE sql STABLE STRICT
RETURN ARRAY(SELECT (pg_catalog.pg_identify_object('pg_catalog.pg_operator'::pg_catalog.regclass,
													 u.o, 0)).identity
			   FROM pg_catalog.unnest(operators) WITH ORDINALITY u(o, i)
			  ORDER BY u.i);
ALTER TABLE ri_policy._reference
	ALTER COLUMN eq_operators TYPE text[] USING ri_policy._operator_names(eq_operators);
DROP FUNCTION ri_policy._operator_names(regoperator[]);

-- The view chose its kind expression by the server's major when it was
-- created, and pg_upgrade keeps an extension's objects as they are: a
-- database upgraded from 15 to 18 listed NOT ENFORCED keys as enforced.
-- The library, built for the server it runs in, says what a key is; the
-- view no longer depends on the major it was created on.  (Column lists
-- of ON DELETE SET NULL/DEFAULT exist on every supported major, 15+.)
CREATE FUNCTION ri_policy._fk_kind(constraint_oid oid)
RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'ri_policy_fk_kind';
COMMENT ON FUNCTION ri_policy._fk_kind(oid) IS
'ri_policy: enforced, not valid or not enforced, for a foreign key in pg_constraint';

CREATE OR REPLACE VIEW ri_policy.references WITH (security_barrier) AS
WITH rel AS (
	SELECT r.id, r.name, r.child, r.child_columns, r.parent, r.parent_columns,
		   'declared'::text AS kind, r.match, r.on_delete,
		   r.on_update, r.is_deferrable, r.initially_deferred,
		   CASE WHEN r.on_delete_columns IS NOT NULL THEN
				ARRAY(SELECT r.child_columns[k.p] FROM pg_catalog.unnest(r.on_delete_columns)
													   WITH ORDINALITY k(p, i)
					   ORDER BY k.i) END AS on_delete_columns,
		   r.not_valid
	  FROM ri_policy._reference r
	UNION ALL
	SELECT f.id, c.conname::text, c.conrelid::regclass,
		   ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, i)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
				  ORDER BY k.i),
		   c.confrelid::regclass,
		   ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, i)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
				  ORDER BY k.i),
		   ri_policy._fk_kind(c.oid),
		   CASE c.confmatchtype WHEN 'f' THEN 'full' WHEN 'p' THEN 'partial' ELSE 'simple' END,
		   CASE c.confdeltype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
				WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' ELSE 'no action' END,
		   CASE c.confupdtype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
				WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' ELSE 'no action' END,
		   c.condeferrable, c.condeferred,
		   CASE WHEN c.confdelsetcols IS NOT NULL THEN
				ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.confdelsetcols) WITH ORDINALITY k(n, i)
						JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
					   ORDER BY k.i) END,
		   NOT c.convalidated
	  FROM pg_catalog.pg_constraint c
	  LEFT JOIN ri_policy._foreign_key f ON f.child::oid = c.conrelid AND f.name = c.conname
	 WHERE c.contype = 'f' AND c.conparentid = 0
)
SELECT rel.name, rel.child, rel.child_columns, rel.parent, rel.parent_columns,
	   rel.kind, rel.match, rel.on_delete,
	   p.last_done_at AS last_validated,
	   CASE WHEN p.last_done_at IS NOT NULL
				 AND ri_policy._may_read_results(rel.child)
			THEN (SELECT pg_catalog.count(*) FROM ri_policy._violation v
				   WHERE v.reference = rel.id) END AS orphan_keys,
	   CASE WHEN p.last_done_at IS NOT NULL
				 AND ri_policy._may_read_results(rel.child)
			THEN (SELECT COALESCE(pg_catalog.sum(v.child_rows), 0)::bigint
					FROM ri_policy._violation v
				   WHERE v.reference = rel.id) END AS orphan_rows,
	   rel.on_update, rel.is_deferrable, rel.initially_deferred,
	   rel.on_delete_columns, rel.not_valid
  FROM rel
  LEFT JOIN ri_policy._progress p ON p.reference = rel.id;

-- end of: pg_upgrade (issue 10)
