/* ri_policy--0.1--0.2.sql: declared references and deferred batch validation */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.2'" to load this file. \quit

-- Registry of declared references.  Tables are named by regclass and
-- columns by name, so that both survive pg_dump/pg_restore; a ddl_command_end
-- trigger follows column renames and an sql_drop trigger follows drops.
CREATE TABLE ri_policy._reference (
	name			text PRIMARY KEY,
	child			regclass NOT NULL,
	child_columns	name[] NOT NULL,
	parent			regclass NOT NULL,
	parent_columns	name[] NOT NULL,
	eq_operators	regoperator[] NOT NULL,
	match			text NOT NULL CHECK (match IN ('simple', 'full')),
	on_delete		text NOT NULL
		CHECK (on_delete IN ('no action', 'cascade', 'set null', 'set default')),
	declared_at		timestamptz NOT NULL DEFAULT now(),
	CHECK (cardinality(child_columns) = cardinality(parent_columns)
		   AND cardinality(child_columns) = cardinality(eq_operators))
);
COMMENT ON TABLE ri_policy._reference IS
'ri_policy: declared references (use ri_policy.references)';

-- Orphaned keys found by the last complete validation pass.
CREATE TABLE ri_policy._violation (
	reference		text NOT NULL,
	key				jsonb NOT NULL,
	child_rows		bigint NOT NULL,
	first_seen		timestamptz NOT NULL,
	last_seen		timestamptz NOT NULL,
	PRIMARY KEY (reference, key)
);
COMMENT ON TABLE ri_policy._violation IS
'ri_policy: orphaned keys of the last complete pass (use ri_policy.violations)';

-- Orphaned keys found so far by a pass under way; merged into _violation
-- when the pass completes.
CREATE TABLE ri_policy._pending (
	reference		text NOT NULL,
	key				jsonb NOT NULL,
	child_rows		bigint NOT NULL,
	PRIMARY KEY (reference, key)
);
COMMENT ON TABLE ri_policy._pending IS
'ri_policy: orphaned keys of a validation pass under way';

-- The latest run of each reference, and where to resume it.
CREATE TABLE ri_policy._progress (
	reference		text PRIMARY KEY,
	status			text NOT NULL CHECK (status IN ('running', 'done', 'interrupted', 'failed')),
	started_at		timestamptz NOT NULL,
	finished_at		timestamptz,
	batches			bigint NOT NULL DEFAULT 0,
	rows_checked	bigint NOT NULL DEFAULT 0,
	blocks_total	bigint NOT NULL DEFAULT 0,
	blocks_done		bigint NOT NULL DEFAULT 0,
	orphan_keys		bigint NOT NULL DEFAULT 0,
	resume_rel		integer NOT NULL DEFAULT 0,
	resume_block	bigint NOT NULL DEFAULT 0,
	leaves			integer NOT NULL DEFAULT 0,	-- child tables read by this pass
	last_done_at	timestamptz,
	error			text
);
COMMENT ON TABLE ri_policy._progress IS
'ri_policy: latest validation run per reference (use ri_policy.validation_progress)';

SELECT pg_catalog.pg_extension_config_dump('ri_policy._reference', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._violation', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._pending', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._progress', '');

-- Registry functions

CREATE FUNCTION ri_policy.declare_reference(
	child regclass,
	child_columns name[],
	parent regclass,
	parent_columns name[] DEFAULT NULL,
	name text DEFAULT NULL,
	match text DEFAULT 'simple',
	on_delete text DEFAULT 'no action')
RETURNS text
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_declare_reference';
COMMENT ON FUNCTION ri_policy.declare_reference(regclass, name[], regclass, name[], text, text, text) IS
'record a reference from child columns to a parent key, checked like a foreign key but not enforced; returns its name';

CREATE FUNCTION ri_policy.drop_reference(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_drop_reference';
COMMENT ON FUNCTION ri_policy.drop_reference(text) IS
'forget a declared reference, with its validation results';

-- Validation

CREATE PROCEDURE ri_policy.validate(
	reference text DEFAULT NULL,
	batch_size int DEFAULT NULL,
	restart boolean DEFAULT false,
	"full" boolean DEFAULT false)
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_validate';
COMMENT ON PROCEDURE ri_policy.validate(text, int, boolean, boolean) IS
'find and record every orphan of a reference (NULL: every declared reference), in committed batches; resumable';

CREATE FUNCTION ri_policy.orphans(reference text, max_keys bigint DEFAULT NULL)
RETURNS TABLE (key jsonb, child_rows bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_orphans';
COMMENT ON FUNCTION ri_policy.orphans(text, bigint) IS
'the orphaned keys of a reference now, computed in one read-only transaction';

-- Is a validation of this reference running now?  It holds a session
-- advisory lock (see ri_reference_locktag in validate.c: 0x52504f4c, the
-- name's hash, 0x5250) while it works; look for it without taking it.
CREATE FUNCTION ri_policy._is_running(reference text)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
					WHERE l.locktype = 'advisory' AND l.granted
					  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
										 WHERE d.datname = pg_catalog.current_database())
					  AND l.classid = 1380994892::oid
					  AND l.objid = pg_catalog.hashtext(reference)::oid
					  AND l.objsubid = 21072)
$$;

-- Registry upkeep: follow drops (sql_drop); renames are followed by the
-- guard's ddl_command_end function.
CREATE FUNCTION ri_policy._on_sql_drop()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_on_sql_drop';
REVOKE ALL ON FUNCTION ri_policy._on_sql_drop() FROM PUBLIC;
COMMENT ON FUNCTION ri_policy._on_sql_drop() IS
'ri_policy: drops the declared references of dropped tables and columns';

CREATE EVENT TRIGGER ri_policy_registry_sql_drop ON sql_drop
	EXECUTE FUNCTION ri_policy._on_sql_drop();
ALTER EVENT TRIGGER ri_policy_registry_sql_drop ENABLE ALWAYS;

-- Views

-- The child table of a reference, declared or a foreign key: the views show
-- a reference's results only to roles that may read its child.  (Security
-- definer: the registry is not readable by PUBLIC; ri_policy.references
-- shows the same.)
CREATE FUNCTION ri_policy._child_of(reference text)
RETURNS regclass
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.child FROM ri_policy._reference r WHERE r.name = reference
	UNION ALL
	SELECT c.conrelid::regclass FROM pg_catalog.pg_constraint c
	 WHERE c.contype = 'f' AND c.conparentid = 0 AND c.conname = reference
	LIMIT 1
$$;

CREATE VIEW ri_policy.violations AS
SELECT v.reference, v.key, v.child_rows, v.first_seen, v.last_seen
  FROM ri_policy._violation v
 WHERE pg_catalog.has_table_privilege(
		   ri_policy._child_of(v.reference),
		   'SELECT');
COMMENT ON VIEW ri_policy.violations IS
'orphaned keys found by the last complete validation pass of each reference';

CREATE VIEW ri_policy.validation_progress AS
SELECT p.reference,
	   CASE WHEN p.status = 'running' AND NOT ri_policy._is_running(p.reference)
			THEN 'interrupted' ELSE p.status END AS status,
	   p.started_at, p.finished_at, p.batches, p.rows_checked,
	   CASE WHEN p.status = 'done' THEN 100.0
			WHEN p.blocks_total = 0 THEN 0.0
			ELSE round(100.0 * p.blocks_done / p.blocks_total, 1) END AS percent,
	   p.orphan_keys
  FROM ri_policy._progress p
 WHERE pg_catalog.has_table_privilege(
		   ri_policy._child_of(p.reference),
		   'SELECT');
COMMENT ON VIEW ri_policy.validation_progress IS
'the latest validation run of each reference, readable while it runs';

-- ri_policy.references: every relationship, enforced or declared.  The
-- foreign-key half differs by server version (NOT ENFORCED is 18+).
DO $do$
DECLARE
	fk_kind text := CASE WHEN current_setting('server_version_num')::int >= 180000
		THEN $$CASE WHEN NOT c.conenforced THEN 'not enforced'
					WHEN NOT c.convalidated THEN 'not valid' ELSE 'enforced' END$$
		ELSE $$CASE WHEN NOT c.convalidated THEN 'not valid' ELSE 'enforced' END$$ END;
BEGIN
	EXECUTE format($view$
CREATE VIEW ri_policy.references AS
WITH rel AS (
	SELECT r.name, r.child, r.child_columns, r.parent, r.parent_columns,
		   'declared'::text AS kind, r.match, r.on_delete
	  FROM ri_policy._reference r
	UNION ALL
	SELECT c.conname::text, c.conrelid::regclass,
		   ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, i)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
				  ORDER BY k.i),
		   c.confrelid::regclass,
		   ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, i)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
				  ORDER BY k.i),
		   %s,
		   CASE c.confmatchtype WHEN 'f' THEN 'full' WHEN 'p' THEN 'partial' ELSE 'simple' END,
		   CASE c.confdeltype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
				WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' ELSE 'no action' END
	  FROM pg_catalog.pg_constraint c
	 WHERE c.contype = 'f' AND c.conparentid = 0
)
SELECT rel.name, rel.child, rel.child_columns, rel.parent, rel.parent_columns,
	   rel.kind, rel.match, rel.on_delete,
	   p.last_done_at AS last_validated,
	   CASE WHEN p.last_done_at IS NOT NULL
				 AND pg_catalog.has_table_privilege(rel.child, 'SELECT')
			THEN (SELECT pg_catalog.count(*) FROM ri_policy._violation v
				   WHERE v.reference = rel.name) END AS orphan_keys,
	   CASE WHEN p.last_done_at IS NOT NULL
				 AND pg_catalog.has_table_privilege(rel.child, 'SELECT')
			THEN (SELECT COALESCE(pg_catalog.sum(v.child_rows), 0)::bigint
					FROM ri_policy._violation v
				   WHERE v.reference = rel.name) END AS orphan_rows
  FROM rel
  LEFT JOIN ri_policy._progress p ON p.reference = rel.name
$view$, fk_kind);
END
$do$;
COMMENT ON VIEW ri_policy.references IS
'every relationship in the database: enforced, NOT VALID and NOT ENFORCED foreign keys, and declared references';

GRANT SELECT ON ri_policy.references, ri_policy.violations,
	ri_policy.validation_progress TO PUBLIC;
