/* ri_policy--0.4--0.5.sql: a reference has an identity of its own */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION ri_policy UPDATE TO '0.5'" to load this file. \quit

-- Until 0.4, a reference's results, progress, change log, tracking triggers
-- and lock were found by its name (or a hash of it), and names were unique
-- per database.  From 0.5 on, every reference has an id, and all of these
-- belong to the id: renaming a reference keeps them, and a new reference
-- with an old name inherits nothing.  Names are unique per child table, as
-- constraint names are.  A foreign key gets an id when it is first
-- validated: ri_policy._foreign_key links the id to the constraint by its
-- table and name (no OIDs, which a dump and restore or an ALTER COLUMN TYPE
-- rebuild change); the registry follows constraint renames and drops.

-- The tracking triggers, named by a hash of the reference's name, go first:
-- found by their function (nobody else may use it), not by name.  Dropping
-- them locks the tracked tables before the change log, in the order their
-- writers do.  They are created again, named by id, at the end.
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT tg.tgname, tg.tgrelid::pg_catalog.regclass AS rel
			   FROM pg_catalog.pg_trigger tg
			  WHERE tg.tgfoid = 'ri_policy._track_trigger()'::pg_catalog.regprocedure
			  ORDER BY tg.tgrelid, tg.tgname
	LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
	END LOOP;
END
$$;

-- The views and functions that use the old keys
DROP VIEW ri_policy.references;
DROP VIEW ri_policy.validation_progress;
DROP VIEW ri_policy.violations;
DROP FUNCTION ri_policy._child_of(text);
DROP FUNCTION ri_policy._is_running(text);

-- The old tables step aside (out of the extension, which also removes them
-- from its configuration tables), and are dropped once copied.
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['_reference', '_violation', '_pending', '_progress',
							 '_sentinel', '_changed']
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE ri_policy.%I RENAME TO %I', t, t || '_04');
		EXECUTE pg_catalog.format('ALTER EXTENSION ri_policy DROP TABLE ri_policy.%I', t || '_04');
	END LOOP;
	FOR i IN 0..7 LOOP
		EXECUTE pg_catalog.format('ALTER EXTENSION ri_policy DROP TABLE ri_policy._changed_%s', i);
		EXECUTE pg_catalog.format('ALTER TABLE ri_policy._changed_%s RENAME TO _changed_04_%s', i, i);
	END LOOP;
	FOREACH t IN ARRAY ARRAY['_reference', '_violation', '_pending', '_progress', '_sentinel']
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE ri_policy.%I RENAME CONSTRAINT %I TO %I',
								  t || '_04', t || '_pkey', t || '_04_pkey');
	END LOOP;
END
$$;

-- Ids of declared references and of validated foreign keys
CREATE SEQUENCE ri_policy._reference_id_seq;
COMMENT ON SEQUENCE ri_policy._reference_id_seq IS
'ri_policy: ids of references, declared or foreign keys';

CREATE TABLE ri_policy._reference (
	id				bigint PRIMARY KEY DEFAULT pg_catalog.nextval('ri_policy._reference_id_seq'),
	name			text NOT NULL,
	child			regclass NOT NULL,
	child_columns	name[] NOT NULL,
	parent			regclass NOT NULL,
	parent_columns	name[] NOT NULL,
	eq_operators	regoperator[] NOT NULL,
	match			text NOT NULL CHECK (match IN ('simple', 'full')),
	on_delete		text NOT NULL
		CHECK (on_delete IN ('no action', 'cascade', 'set null', 'set default')),
	declared_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	tracked_since	timestamptz,
	CONSTRAINT _reference_child_name_key UNIQUE (child, name),
	CHECK (pg_catalog.cardinality(child_columns) = pg_catalog.cardinality(parent_columns)
		   AND pg_catalog.cardinality(child_columns) = pg_catalog.cardinality(eq_operators))
);
COMMENT ON TABLE ri_policy._reference IS
'ri_policy: declared references (use ri_policy.references)';

-- Foreign keys that have results: the constraint is the one of that name on
-- that table.
CREATE TABLE ri_policy._foreign_key (
	id				bigint PRIMARY KEY DEFAULT pg_catalog.nextval('ri_policy._reference_id_seq'),
	child			regclass NOT NULL,
	name			name NOT NULL,
	CONSTRAINT _foreign_key_child_name_key UNIQUE (child, name)
);
COMMENT ON TABLE ri_policy._foreign_key IS
'ri_policy: ids of foreign key constraints that have validation results';

-- Results are found by a hash of the key (key_hash: the hash of its values
-- under the child type's own equality, computed by the library), not by a
-- b-tree on the key, which refused keys over about 2.7 kB.  Two keys are
-- one when the child type's equality says so, which the library decides
-- (results.c) under the reference's lock: no unique index could, without
-- running the child type's functions as the extension's owner.
CREATE TABLE ri_policy._violation (
	reference		bigint NOT NULL,
	key				jsonb NOT NULL,
	child_rows		bigint NOT NULL,
	first_seen		timestamptz NOT NULL,
	last_seen		timestamptz NOT NULL,
	key_hash		integer NOT NULL
);
CREATE INDEX _violation_reference_key_hash_idx ON ri_policy._violation (reference, key_hash);
COMMENT ON TABLE ri_policy._violation IS
'ri_policy: orphaned keys of the last complete pass (use ri_policy.violations)';

CREATE TABLE ri_policy._pending (
	reference		bigint NOT NULL,
	key				jsonb NOT NULL,
	child_rows		bigint NOT NULL,
	key_hash		integer NOT NULL
);
CREATE INDEX _pending_reference_key_hash_idx ON ri_policy._pending (reference, key_hash);
COMMENT ON TABLE ri_policy._pending IS
'ri_policy: orphaned keys of a validation pass under way';

CREATE TABLE ri_policy._progress (
	reference		bigint PRIMARY KEY,
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
	leaves			integer NOT NULL DEFAULT 0,
	last_done_at	timestamptz,
	error			text,
	last_full_at	timestamptz
);
COMMENT ON TABLE ri_policy._progress IS
'ri_policy: latest validation run per reference (use ri_policy.validation_progress)';

CREATE UNLOGGED TABLE ri_policy._sentinel (
	reference		bigint PRIMARY KEY
);
COMMENT ON TABLE ri_policy._sentinel IS
'ri_policy: tracked references whose change log is complete since their last full pass';

CREATE TABLE ri_policy._changed (
	reference		bigint NOT NULL,
	keys			text[],
	from_parent		boolean NOT NULL DEFAULT true
) PARTITION BY HASH (reference);
COMMENT ON TABLE ri_policy._changed IS
'ri_policy: keys changed since the last validation of tracked references';
DO $$
BEGIN
	FOR i IN 0..7 LOOP
		EXECUTE pg_catalog.format('CREATE UNLOGGED TABLE ri_policy._changed_%s'
								  ' PARTITION OF ri_policy._changed'
								  ' FOR VALUES WITH (MODULUS 8, REMAINDER %s)', i, i);
	END LOOP;
END
$$;
ALTER TABLE ri_policy._changed ALTER COLUMN keys SET STORAGE EXTERNAL;

-- Copy: declared references first (in the order they were declared), then
-- the foreign keys that have results, each found by the name it had; the
-- results of a name that no foreign key has any more (or several have) are
-- dropped, with a WARNING.  So are references whose table was dropped while
-- the extension's objects were older than its library.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT o.name FROM ri_policy._reference_04 o
			  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = o.child::oid)
				 OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = o.parent::oid)
			  ORDER BY 1
	LOOP
		RAISE WARNING 'dropping reference "%", whose table no longer exists', r.name;
	END LOOP;
END
$$;
INSERT INTO ri_policy._reference (name, child, child_columns, parent, parent_columns,
								  eq_operators, match, on_delete, declared_at, tracked_since)
SELECT o.name, o.child, o.child_columns, o.parent, o.parent_columns, o.eq_operators,
	   o.match, o.on_delete, o.declared_at, o.tracked_since
  FROM ri_policy._reference_04 o
 WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = o.child::oid)
   AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = o.parent::oid)
 ORDER BY o.declared_at, o.name;

DO $$
DECLARE
	r record;
BEGIN
	FOR r IN WITH named AS (SELECT reference FROM ri_policy._violation_04
							UNION SELECT reference FROM ri_policy._pending_04
							UNION SELECT reference FROM ri_policy._progress_04)
			 SELECT n.reference,
					ARRAY(SELECT c.conrelid FROM pg_catalog.pg_constraint c
						   WHERE c.contype = 'f' AND c.conparentid = 0
							 AND c.conname::text = n.reference) AS tables
			   FROM named n
			  WHERE NOT EXISTS (SELECT 1 FROM ri_policy._reference_04 o
								 WHERE o.name = n.reference)
			  ORDER BY 1
	LOOP
		IF pg_catalog.cardinality(r.tables) = 1 THEN
			INSERT INTO ri_policy._foreign_key (child, name)
				VALUES (r.tables[1], r.reference);
		ELSE
			RAISE WARNING 'dropping the validation results of "%": %', r.reference,
				CASE WHEN pg_catalog.cardinality(r.tables) = 0
					 THEN 'no foreign key has that name'
					 ELSE 'several foreign keys have that name' END;
		END IF;
	END LOOP;
END
$$;

-- name -> id, while names are still unique (as 0.4 made them)
CREATE VIEW ri_policy._ids_04 AS
	SELECT id, name FROM ri_policy._reference
	UNION ALL
	SELECT id, name::text FROM ri_policy._foreign_key;

-- The keys' hashes: their values read back into the child's types and
-- hashed by the library, as the child's owner (see _key_hash below).
CREATE FUNCTION ri_policy._key_hash(reference bigint, key jsonb)
RETURNS integer
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'ri_policy_key_hash';
REVOKE ALL ON FUNCTION ri_policy._key_hash(bigint, jsonb) FROM PUBLIC;

INSERT INTO ri_policy._violation (reference, key, key_hash, child_rows, first_seen, last_seen)
SELECT id, key, ri_policy._key_hash(id, key), child_rows, first_seen, last_seen
  FROM (SELECT i.id, o.key, o.child_rows, o.first_seen, o.last_seen
		  FROM ri_policy._violation_04 o JOIN ri_policy._ids_04 i ON i.name = o.reference
		 ORDER BY i.id OFFSET 0) s;
INSERT INTO ri_policy._pending (reference, key, key_hash, child_rows)
SELECT id, key, ri_policy._key_hash(id, key), child_rows
  FROM (SELECT i.id, o.key, o.child_rows
		  FROM ri_policy._pending_04 o JOIN ri_policy._ids_04 i ON i.name = o.reference
		 ORDER BY i.id OFFSET 0) s;
INSERT INTO ri_policy._progress (reference, status, started_at, finished_at, batches,
								 rows_checked, blocks_total, blocks_done, orphan_keys,
								 resume_rel, resume_block, leaves, last_done_at, error,
								 last_full_at)
SELECT i.id, o.status, o.started_at, o.finished_at, o.batches, o.rows_checked,
	   o.blocks_total, o.blocks_done, o.orphan_keys, o.resume_rel, o.resume_block,
	   o.leaves, o.last_done_at, o.error, o.last_full_at
  FROM ri_policy._progress_04 o JOIN ri_policy._ids_04 i ON i.name = o.reference;
-- tracked state: what the old triggers recorded is complete up to now (the
-- update holds their tables), so incremental passes go on
INSERT INTO ri_policy._sentinel (reference)
SELECT i.id FROM ri_policy._sentinel_04 o JOIN ri_policy._ids_04 i ON i.name = o.reference;
INSERT INTO ri_policy._changed (reference, keys, from_parent)
SELECT i.id, o.keys, o.from_parent
  FROM ri_policy._changed_04 o JOIN ri_policy._ids_04 i ON i.name = o.reference;

DROP VIEW ri_policy._ids_04;
DROP FUNCTION ri_policy._key_hash(bigint, jsonb);
DROP TABLE ri_policy._reference_04, ri_policy._violation_04, ri_policy._pending_04,
	ri_policy._progress_04, ri_policy._sentinel_04, ri_policy._changed_04;

SELECT pg_catalog.pg_extension_config_dump('ri_policy._reference_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._reference', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._foreign_key', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._violation', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._pending', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._progress', '');
SELECT pg_catalog.pg_extension_config_dump('ri_policy._sentinel', '');
DO $$
BEGIN
	FOR i IN 0..7 LOOP
		PERFORM pg_catalog.pg_extension_config_dump(
			pg_catalog.format('ri_policy._changed_%s', i)::pg_catalog.regclass, '');
	END LOOP;
END
$$;

-- Is a validation of this reference running now?  It holds a session
-- advisory lock (ri_reference_locktag() in validate.c: the id in two halves,
-- and 0x5249) while it works; look for it without taking it.
CREATE FUNCTION ri_policy._is_running(reference bigint)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
					WHERE l.locktype = 'advisory' AND l.granted
					  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
										 WHERE d.datname = pg_catalog.current_database())
					  AND l.classid = (reference OPERATOR(pg_catalog.>>) 32)::pg_catalog.oid
					  AND l.objid = (reference OPERATOR(pg_catalog.&) 4294967295)::pg_catalog.oid
					  AND l.objsubid = 21065)
$$;
COMMENT ON FUNCTION ri_policy._is_running(bigint) IS
'ri_policy: is a validation or repair of this reference running now?';

-- (Re)create the tracking triggers of a tracked reference, keeping what it
-- recorded: for this update, and for a superuser repairing them.
CREATE FUNCTION ri_policy._track_triggers(reference bigint)
RETURNS void
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'ri_policy_track_triggers';
REVOKE ALL ON FUNCTION ri_policy._track_triggers(bigint) FROM PUBLIC;
COMMENT ON FUNCTION ri_policy._track_triggers(bigint) IS
'ri_policy: create the tracking triggers of a tracked reference again, keeping its recorded changes';

CREATE FUNCTION ri_policy.rename_reference(reference text, new_name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_rename_reference';
COMMENT ON FUNCTION ri_policy.rename_reference(text, text) IS
'rename a declared reference; its results, progress and tracking stay with it';

COMMENT ON FUNCTION ri_policy.drop_reference(text) IS
'forget a declared reference ([[schema.]table.]name), with its validation results';

-- Views.  They filter by privilege, so they are security barriers: a
-- caller's function in WHERE sees only the rows the filter let through.

-- The name and child table of every id (of a foreign key only while it
-- exists: a row left by a rename or drop made while event triggers were
-- off shows nothing)
CREATE VIEW ri_policy._names AS
	SELECT r.id, r.name, r.child FROM ri_policy._reference r
	UNION ALL
	SELECT f.id, f.name::text, f.child FROM ri_policy._foreign_key f
	 WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
					WHERE c.conrelid = f.child::oid AND c.contypid = 0
					  AND c.conname = f.name AND c.contype = 'f' AND c.conparentid = 0);
REVOKE ALL ON ri_policy._names FROM PUBLIC;
COMMENT ON VIEW ri_policy._names IS
'ri_policy: the name and child table of each reference id';

CREATE VIEW ri_policy.violations WITH (security_barrier) AS
SELECT n.name AS reference, v.key, v.child_rows, v.first_seen, v.last_seen, n.child
  FROM ri_policy._violation v
  JOIN ri_policy._names n ON n.id = v.reference
 WHERE pg_catalog.has_table_privilege(n.child, 'SELECT');
COMMENT ON VIEW ri_policy.violations IS
'orphaned keys found by the last complete validation pass of each reference';

CREATE VIEW ri_policy.validation_progress WITH (security_barrier) AS
SELECT n.name AS reference,
	   CASE WHEN p.status = 'running' AND NOT ri_policy._is_running(p.reference)
			THEN 'interrupted' ELSE p.status END AS status,
	   p.started_at, p.finished_at, p.batches, p.rows_checked,
	   CASE WHEN p.status = 'done' THEN 100.0
			WHEN p.blocks_total = 0 THEN 0.0
			ELSE pg_catalog.round(100.0 * p.blocks_done / p.blocks_total, 1) END AS percent,
	   p.orphan_keys, n.child
  FROM ri_policy._progress p
  JOIN ri_policy._names n ON n.id = p.reference
 WHERE pg_catalog.has_table_privilege(n.child, 'SELECT');
COMMENT ON VIEW ri_policy.validation_progress IS
'the latest validation run of each reference, readable while it runs';

DO $do$
DECLARE
	fk_kind text := CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 180000
		THEN $$CASE WHEN NOT c.conenforced THEN 'not enforced'
					WHEN NOT c.convalidated THEN 'not valid' ELSE 'enforced' END$$
		ELSE $$CASE WHEN NOT c.convalidated THEN 'not valid' ELSE 'enforced' END$$ END;
BEGIN
	EXECUTE pg_catalog.format($view$
CREATE VIEW ri_policy.references WITH (security_barrier) AS
WITH rel AS (
	SELECT r.id, r.name, r.child, r.child_columns, r.parent, r.parent_columns,
		   'declared'::text AS kind, r.match, r.on_delete
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
		   %s,
		   CASE c.confmatchtype WHEN 'f' THEN 'full' WHEN 'p' THEN 'partial' ELSE 'simple' END,
		   CASE c.confdeltype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
				WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' ELSE 'no action' END
	  FROM pg_catalog.pg_constraint c
	  LEFT JOIN ri_policy._foreign_key f ON f.child::oid = c.conrelid AND f.name = c.conname
	 WHERE c.contype = 'f' AND c.conparentid = 0
)
SELECT rel.name, rel.child, rel.child_columns, rel.parent, rel.parent_columns,
	   rel.kind, rel.match, rel.on_delete,
	   p.last_done_at AS last_validated,
	   CASE WHEN p.last_done_at IS NOT NULL
				 AND pg_catalog.has_table_privilege(rel.child, 'SELECT')
			THEN (SELECT pg_catalog.count(*) FROM ri_policy._violation v
				   WHERE v.reference = rel.id) END AS orphan_keys,
	   CASE WHEN p.last_done_at IS NOT NULL
				 AND pg_catalog.has_table_privilege(rel.child, 'SELECT')
			THEN (SELECT COALESCE(pg_catalog.sum(v.child_rows), 0)::bigint
					FROM ri_policy._violation v
				   WHERE v.reference = rel.id) END AS orphan_rows
  FROM rel
  LEFT JOIN ri_policy._progress p ON p.reference = rel.id
$view$, fk_kind);
END
$do$;
COMMENT ON VIEW ri_policy.references IS
'every relationship in the database: enforced, NOT VALID and NOT ENFORCED foreign keys, and declared references';

GRANT SELECT ON ri_policy.references, ri_policy.violations,
	ri_policy.validation_progress TO PUBLIC;

-- The tracked references get their triggers again, named by id.
SELECT ri_policy._track_triggers(id) FROM ri_policy._reference
 WHERE tracked_since IS NOT NULL ORDER BY id;
