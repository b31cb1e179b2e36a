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
-- writers do.  They are created again, named by id, at the end, enabled
-- ALWAYS.  A reference whose triggers are not all there and enabled now
-- (the first argument of each is its name) may have missed changes: its
-- next pass is full.
DO $$
DECLARE
	t record;
	incomplete text[];
BEGIN
	SELECT pg_catalog.array_agg(s.reference) INTO incomplete
	  FROM ri_policy._sentinel s
	 WHERE (SELECT pg_catalog.count(*) FILTER (WHERE tg.tgenabled IN ('O', 'A'))
			  FROM pg_catalog.pg_trigger tg
			 WHERE tg.tgfoid = 'ri_policy._track_trigger()'::pg_catalog.regprocedure
			   AND pg_catalog.position(tg.tgargs,
									   pg_catalog.convert_to(s.reference,
															 pg_catalog.getdatabaseencoding())
									   OPERATOR(pg_catalog.||) pg_catalog.decode('00', 'hex')) = 1) < 8;
	FOR t IN SELECT tg.tgname, tg.tgrelid::pg_catalog.regclass AS rel
			   FROM pg_catalog.pg_trigger tg
			  WHERE tg.tgfoid = 'ri_policy._track_trigger()'::pg_catalog.regprocedure
			  ORDER BY tg.tgrelid, tg.tgname
	LOOP
		EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
	END LOOP;
	DELETE FROM ri_policy._sentinel WHERE reference OPERATOR(pg_catalog.=) ANY (incomplete);
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
	last_full_at	timestamptz,
	-- where a full pass began (validate.c): its first snapshot, with every
	-- transaction, subtransactions too, that it saw running; the WAL
	-- position just before it; and the cluster and database it is about
	-- (system identifier/database OID).  A pass resumes only from there.
	start_snapshot	pg_snapshot,
	start_lsn		pg_lsn,
	start_origin	text,
	-- the storage of resume_rel when the position was saved in it
	resume_filenode	oid NOT NULL DEFAULT 0,
	-- why the latest pass was full rather than incremental (track.c)
	why_full		text
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

-- (This comes before the keys are hashed below: the library that hashes
-- them loads references with these columns.)
-- A declared reference records everything a foreign key has that promote()
-- must give back: the ON UPDATE action, RESTRICT (0.4 recorded it as
-- NO ACTION), the columns ON DELETE SET NULL / SET DEFAULT sets (their
-- positions in child_columns, so that renaming a column needs no upkeep;
-- NULL: every column), deferrability, and whether the key was NOT VALID
-- (promote() then leaves it so unless asked to validate it).
-- (The old check on on_delete is found by its column: its generated name
-- depends on the names the 0.4 tables had.)
DO $$
DECLARE
	c name;
BEGIN
	FOR c IN SELECT k.conname FROM pg_catalog.pg_constraint k
			  WHERE k.conrelid = 'ri_policy._reference'::pg_catalog.regclass AND k.contype = 'c'
				AND k.conkey = ARRAY[(SELECT a.attnum FROM pg_catalog.pg_attribute a
									   WHERE a.attrelid = k.conrelid AND a.attname = 'on_delete')]
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE ri_policy._reference DROP CONSTRAINT %I', c);
	END LOOP;
END
$$;
ALTER TABLE ri_policy._reference
	ADD CONSTRAINT _reference_on_delete_check
		CHECK (on_delete IN ('no action', 'restrict', 'cascade', 'set null', 'set default')),
	ADD COLUMN on_update text NOT NULL DEFAULT 'no action'
		CONSTRAINT _reference_on_update_check
		CHECK (on_update IN ('no action', 'restrict', 'cascade', 'set null', 'set default')),
	ADD COLUMN is_deferrable boolean NOT NULL DEFAULT false,
	ADD COLUMN initially_deferred boolean NOT NULL DEFAULT false,
	ADD COLUMN on_delete_columns smallint[],
	ADD COLUMN not_valid boolean NOT NULL DEFAULT false,
	ADD CONSTRAINT _reference_initially_deferred_check
		CHECK (is_deferrable OR NOT initially_deferred),
	ADD CONSTRAINT _reference_on_delete_columns_check
		CHECK (on_delete_columns IS NULL
			   OR (on_delete IN ('set null', 'set default')
				   AND pg_catalog.cardinality(on_delete_columns)
					   BETWEEN 1 AND pg_catalog.cardinality(child_columns)
				   AND 1 <= ALL (on_delete_columns)
				   AND pg_catalog.cardinality(child_columns) >= ALL (on_delete_columns)));

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
-- and 0x5249) while it works, and at transaction level until its writes
-- are committed; look for it without taking it, in other sessions (one
-- running in this session is not running while this session asks).
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
					  AND l.objsubid = 21065
					  AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid())
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

-- May the caller read the results of a reference on this child table?
-- Only with SELECT on it, and, when row-level security hides some of its
-- rows from them, only as its owner (orphans() refuses such a caller too):
-- a recorded key may come from a row the policy hides.
CREATE FUNCTION ri_policy._may_read_results(child regclass)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.has_table_privilege(child, 'SELECT')
	   AND (NOT pg_catalog.row_security_active(child)
			OR pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
										WHERE c.oid = child), 'USAGE'))
$$;
COMMENT ON FUNCTION ri_policy._may_read_results(regclass) IS
'ri_policy: whether the caller may read the results of references on a child table';

CREATE VIEW ri_policy.violations WITH (security_barrier) AS
SELECT n.name AS reference, v.key, v.child_rows, v.first_seen, v.last_seen, n.child
  FROM ri_policy._violation v
  JOIN ri_policy._names n ON n.id = v.reference
 WHERE ri_policy._may_read_results(n.child);
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
	   p.orphan_keys, n.child, p.why_full
  FROM ri_policy._progress p
  JOIN ri_policy._names n ON n.id = p.reference
 WHERE ri_policy._may_read_results(n.child);
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
				 AND ri_policy._may_read_results(rel.child)
			THEN (SELECT pg_catalog.count(*) FROM ri_policy._violation v
				   WHERE v.reference = rel.id) END AS orphan_keys,
	   CASE WHEN p.last_done_at IS NOT NULL
				 AND ri_policy._may_read_results(rel.child)
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

-- ---------------------------------------------------------------------
-- Lossless demote and promote; a record of what warn mode let through
-- ---------------------------------------------------------------------

-- New arguments at the end: existing calls keep working.  (A new overload
-- beside the old function would make them ambiguous.)
DROP FUNCTION ri_policy.declare_reference(regclass, name[], regclass, name[], text, text, text);
CREATE FUNCTION ri_policy.declare_reference(
	child regclass,
	child_columns name[],
	parent regclass,
	parent_columns name[] DEFAULT NULL,
	name text DEFAULT NULL,
	match text DEFAULT 'simple',
	on_delete text DEFAULT 'no action',
	on_update text DEFAULT 'no action',
	is_deferrable boolean DEFAULT false,
	initially_deferred boolean DEFAULT false,
	on_delete_columns name[] DEFAULT NULL,
	not_valid boolean DEFAULT false)
RETURNS text
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_declare_reference';
COMMENT ON FUNCTION ri_policy.declare_reference(regclass, name[], regclass, name[], text, text,
												text, text, boolean, boolean, name[], boolean) IS
'record a reference from child columns to a parent key, checked like a foreign key but not enforced; returns its name';

-- validate NULL (now the default): as recorded, that is, unless the
-- reference was declared not_valid (a key demoted while NOT VALID)
CREATE OR REPLACE FUNCTION ri_policy.promote(reference text, validate boolean DEFAULT NULL)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_promote';
COMMENT ON FUNCTION ri_policy.promote(text, boolean) IS
'turn a declared reference into a foreign key: added NOT VALID and committed, then validated (NULL: unless declared not_valid) without blocking writers';

-- ri_policy.references shows all of it, for foreign keys from pg_constraint
-- (the column lists exist from PostgreSQL 15 on, NOT ENFORCED from 18 on).
DO $do$
DECLARE
	fk_kind text := CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 180000
		THEN $$CASE WHEN NOT c.conenforced THEN 'not enforced'
					WHEN NOT c.convalidated THEN 'not valid' ELSE 'enforced' END$$
		ELSE $$CASE WHEN NOT c.convalidated THEN 'not valid' ELSE 'enforced' END$$ END;
	fk_set_columns text := CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 150000
		THEN $$CASE WHEN c.confdelsetcols IS NOT NULL THEN
				   ARRAY(SELECT a.attname FROM pg_catalog.unnest(c.confdelsetcols) WITH ORDINALITY k(n, i)
						   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
						  ORDER BY k.i) END$$
		ELSE 'NULL::name[]' END;
BEGIN
	EXECUTE pg_catalog.format($view$
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
		   %s,
		   CASE c.confmatchtype WHEN 'f' THEN 'full' WHEN 'p' THEN 'partial' ELSE 'simple' END,
		   CASE c.confdeltype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
				WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' ELSE 'no action' END,
		   CASE c.confupdtype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
				WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' ELSE 'no action' END,
		   c.condeferrable, c.condeferred,
		   %s,
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
  LEFT JOIN ri_policy._progress p ON p.reference = rel.id
$view$, fk_kind, fk_set_columns);
END
$do$;

-- What warn mode let through: one row per foreign key created while
-- ri_policy.mode was warn, written in the transaction that created it (a
-- statement that fails leaves none).  Roles and tables are recorded by name,
-- as they were then: the rows outlive the tables, and a dump restores them
-- as they are.
CREATE TABLE ri_policy._warned (
	at				timestamptz NOT NULL,	-- start of the statement
	database		name NOT NULL,
	session_role	name NOT NULL,
	effective_role	name NOT NULL,			-- current_user of the statement
	constraint_name	name NOT NULL,
	table_name		text NOT NULL,			-- schema-qualified, quoted as needed
	referenced_table text NOT NULL,
	table_owner		name NOT NULL,			-- of table_name, then
	detail			text NOT NULL,			-- the WARNING's DETAIL: where the mode came from
	statement		text					-- its first 8 kB; NULL in a background worker
);
COMMENT ON TABLE ri_policy._warned IS
'ri_policy: foreign keys created under ri_policy.mode = warn (use ri_policy.warned)';
SELECT pg_catalog.pg_extension_config_dump('ri_policy._warned', '');

-- Superusers see every row; other roles the rows of tables whose owner
-- (then) they have the privileges of.
CREATE FUNCTION ri_policy._may_read_warned(table_owner name)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
					WHERE r.rolname = CURRENT_USER AND r.rolsuper)
		OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
					WHERE r.rolname = table_owner
					  AND pg_catalog.pg_has_role(r.oid, 'USAGE'))
$$;
COMMENT ON FUNCTION ri_policy._may_read_warned(name) IS
'ri_policy: whether the caller may read the warn-mode records of tables of this owner';

-- A simple view: superusers prune it with DELETE FROM ri_policy.warned.
CREATE VIEW ri_policy.warned WITH (security_barrier) AS
SELECT w.at, w.database, w.session_role, w.effective_role, w.constraint_name,
	   w.table_name, w.referenced_table, w.table_owner, w.detail, w.statement
  FROM ri_policy._warned w
 WHERE ri_policy._may_read_warned(w.table_owner);
COMMENT ON VIEW ri_policy.warned IS
'foreign keys created under ri_policy.mode = warn: who, when, where the mode came from, and the statement';
GRANT SELECT ON ri_policy.warned TO PUBLIC;

-- A subscription's apply worker fires no statement triggers: CREATE and
-- ALTER SUBSCRIPTION make the next pass of a tracked reference on one of
-- its tables full (the guard's ddl_command_end function follows ALTER
-- TABLE).
CREATE FUNCTION ri_policy._follow_subscription()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_follow_subscription';
REVOKE ALL ON FUNCTION ri_policy._follow_subscription() FROM PUBLIC;
COMMENT ON FUNCTION ri_policy._follow_subscription() IS
'ri_policy: makes the next pass of tracked references on subscription targets full';

CREATE EVENT TRIGGER ri_policy_follow_subscription ON ddl_command_end
	WHEN TAG IN ('CREATE SUBSCRIPTION', 'ALTER SUBSCRIPTION')
	EXECUTE FUNCTION ri_policy._follow_subscription();
ALTER EVENT TRIGGER ri_policy_follow_subscription ENABLE ALWAYS;


-- Last: the tracked references get their triggers again, named by id.
-- (This runs the library's code, which reads the registry as this version
-- has it, so it comes after every change to the registry.)
SELECT ri_policy._track_triggers(id) FROM ri_policy._reference
 WHERE tracked_since IS NOT NULL ORDER BY id;
