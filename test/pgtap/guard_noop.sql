-- Block mode decides whether an IF [NOT] EXISTS statement is a no-op as
-- PostgreSQL does (the creation namespace, current catalog state), and the
-- ddl_command_end backstop rejects any foreign key the first gate let
-- through.  To make the first gate wrong on purpose, a superuser's event
-- trigger that fires after it (event triggers fire in name order) changes
-- the catalog between the two gates.
BEGIN;
SELECT plan(30);
SET client_min_messages = warning;

CREATE ROLE regress_tap_noop;
CREATE SCHEMA regress_noop AUTHORIZATION regress_tap_noop;
CREATE SCHEMA regress_noop2 AUTHORIZATION regress_tap_noop;
CREATE TABLE regress_noop.parent (id int PRIMARY KEY);
CREATE TABLE regress_noop2.shadow (id int);
CREATE TABLE regress_noop.t (id int, c4 int, gone int);
ALTER TABLE regress_noop.t DROP COLUMN gone;
CREATE VIEW regress_noop.v AS SELECT 1 AS x;
ALTER TABLE regress_noop.parent OWNER TO regress_tap_noop;
ALTER TABLE regress_noop2.shadow OWNER TO regress_tap_noop;
ALTER TABLE regress_noop.t OWNER TO regress_tap_noop;
ALTER VIEW regress_noop.v OWNER TO regress_tap_noop;
GRANT CREATE ON SCHEMA regress_noop TO regress_tap_noop;

-- how many foreign keys exist in the two schemas
CREATE FUNCTION pg_temp.fks() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
	 WHERE c.contype = 'f'
	   AND r.relnamespace IN ('regress_noop'::regnamespace, 'regress_noop2'::regnamespace)
$$;
CREATE FUNCTION pg_temp.tables() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM pg_class
	 WHERE relnamespace IN ('regress_noop'::regnamespace, 'regress_noop2'::regnamespace)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.fks(), pg_temp.tables() TO regress_tap_noop;

SET ri_policy.mode = 'block';
SET ROLE regress_tap_noop;
SET search_path = regress_noop, regress_noop2, public;
SELECT pg_temp.tables() AS tables_before \gset

-- a name that exists elsewhere on the search path is no reason to skip
SELECT throws_ok($$CREATE TABLE IF NOT EXISTS pg_class (id int, cid int REFERENCES regress_noop.parent)$$,
				 '42501', NULL, 'IF NOT EXISTS, name of a catalog table: blocked');
SELECT throws_ok($$CREATE TABLE IF NOT EXISTS shadow (id int, cid int REFERENCES regress_noop.parent)$$,
				 '42501', NULL, 'IF NOT EXISTS, name of a table later on the search path: blocked');
SELECT throws_ok($$CREATE UNLOGGED TABLE IF NOT EXISTS pg_type (cid int, FOREIGN KEY (cid) REFERENCES regress_noop.parent)$$,
				 '42501', NULL, 'the same with a table constraint: blocked');
CREATE TEMP TABLE tmp_shadow (id int);
SELECT throws_ok($$CREATE TABLE IF NOT EXISTS tmp_shadow (id int, cid int REFERENCES regress_noop.parent)$$,
				 '42501', NULL, 'IF NOT EXISTS, name of own temporary table: blocked');
SELECT throws_ok($$CREATE TABLE IF NOT EXISTS regress_noop.shadow (id int, cid int REFERENCES regress_noop.parent)$$,
				 '42501', NULL, 'IF NOT EXISTS, qualified, name exists in another schema: blocked');
SELECT throws_ok($$CREATE TEMP TABLE IF NOT EXISTS t (id int, cid int REFERENCES regress_noop.parent)$$,
				 '42501', NULL, 'IF NOT EXISTS, temporary, name of a permanent table: blocked');
RESET ROLE;
SELECT throws_ok($$CREATE SCHEMA regress_noop3 CREATE TABLE IF NOT EXISTS t (id int, cid int REFERENCES regress_noop.parent)$$,
				 '42501', NULL, 'CREATE SCHEMA ... CREATE TABLE IF NOT EXISTS: blocked');
SELECT throws_ok($$CREATE SCHEMA regress_noop3 CREATE TABLE IF NOT EXISTS pg_class (id int, cid int REFERENCES regress_noop.parent)$$,
				 '42501', NULL, 'CREATE SCHEMA ... CREATE TABLE IF NOT EXISTS pg_class: blocked');
SET ROLE regress_tap_noop;
SELECT is(pg_temp.tables(), :'tables_before'::bigint, 'no table was created');
SELECT is(to_regnamespace('regress_noop3'), NULL, 'no schema was created');

-- a name that exists in the creation namespace: PostgreSQL skips it
SELECT lives_ok($$CREATE TABLE IF NOT EXISTS t (id int, cid int REFERENCES regress_noop.parent)$$,
				'IF NOT EXISTS, the table exists: a no-op, allowed');
SELECT lives_ok($$CREATE TABLE IF NOT EXISTS v (id int, cid int REFERENCES regress_noop.parent)$$,
				'IF NOT EXISTS, a view of that name exists: a no-op, allowed');
SELECT lives_ok($$CREATE TEMP TABLE IF NOT EXISTS tmp_shadow (id int, cid int REFERENCES regress_noop.parent)$$,
				'IF NOT EXISTS, temporary, the temporary table exists: a no-op, allowed');

-- ALTER TABLE IF EXISTS and ADD COLUMN IF NOT EXISTS
SELECT lives_ok($$ALTER TABLE IF EXISTS missing ADD FOREIGN KEY (id) REFERENCES regress_noop.parent$$,
				'ALTER TABLE IF EXISTS on a missing table: a no-op, allowed');
SELECT lives_ok($$ALTER TABLE t ADD COLUMN IF NOT EXISTS c4 integer REFERENCES t$$,
				'ADD COLUMN IF NOT EXISTS of an existing column: a no-op, allowed');
SELECT lives_ok($$ALTER TABLE t ADD COLUMN IF NOT EXISTS c4 integer REFERENCES regress_noop.parent,
					 ADD COLUMN IF NOT EXISTS id int REFERENCES regress_noop.parent$$,
				'two of them in one statement: allowed');
SELECT throws_ok($$ALTER TABLE t ADD COLUMN IF NOT EXISTS c5 integer REFERENCES regress_noop.parent$$,
				 '42501', NULL, 'ADD COLUMN IF NOT EXISTS of a new column: blocked');
SELECT throws_ok($$ALTER TABLE t ADD COLUMN IF NOT EXISTS gone integer REFERENCES regress_noop.parent$$,
				 '42501', NULL, 'ADD COLUMN IF NOT EXISTS of a dropped column''s name: blocked');
SELECT throws_ok($$ALTER TABLE t ADD COLUMN IF NOT EXISTS c4 integer, ADD COLUMN c6 int REFERENCES regress_noop.parent$$,
				 '42501', NULL, 'a skipped column beside a new one with REFERENCES: blocked');
SELECT is(pg_temp.fks(), 0::bigint, 'no foreign key was created');
SELECT is(pg_temp.tables(), :'tables_before'::bigint, 'no table was created either');

-- the backstop: the first gate judged right, then the catalog changed
RESET ROLE;
CREATE TABLE regress_noop.t3 (id int, c4 int);
CREATE FUNCTION pg_temp.meddle() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('regress.meddle', true) = 'drop table' THEN
		PERFORM set_config('regress.meddle', '', true);
		DROP TABLE regress_noop.t;
	ELSIF current_setting('regress.meddle', true) = 'create table' THEN
		PERFORM set_config('regress.meddle', '', true);
		CREATE TABLE regress_noop.late (id int);
	ELSIF current_setting('regress.meddle', true) = 'drop column' THEN
		PERFORM set_config('regress.meddle', '', true);
		ALTER TABLE regress_noop.t3 DROP COLUMN c4;
	END IF;
END $$;
CREATE EVENT TRIGGER zz_regress_meddle ON ddl_command_start
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION pg_temp.meddle();

SET regress.meddle = 'drop table';
SELECT throws_ok($$CREATE TABLE IF NOT EXISTS regress_noop.t (id int, cid int REFERENCES regress_noop.parent)$$,
				 '42501', 'foreign key constraint "t_cid_fkey" on table "t" referencing table "parent" is not allowed',
				 'table dropped after the first gate: the backstop blocks the key it would create');
SET regress.meddle = 'create table';
SELECT throws_ok($$ALTER TABLE IF EXISTS regress_noop.late ADD CONSTRAINT late_fk FOREIGN KEY (id) REFERENCES regress_noop.parent NOT VALID$$,
				 '42501', 'foreign key constraint "late_fk" on table "late" referencing table "parent" is not allowed',
				 'table created after the first gate: the backstop blocks the key');
SET regress.meddle = 'drop column';
SELECT throws_ok($$ALTER TABLE regress_noop.t3 ADD COLUMN IF NOT EXISTS c4 integer REFERENCES regress_noop.parent$$,
				 '42501', NULL, 'column dropped after the first gate: the backstop blocks the key');
SET regress.meddle = '';
SELECT is(pg_temp.fks(), 0::bigint, 'still no foreign key');
SELECT ok(to_regclass('regress_noop.late') IS NULL AND
		  EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'regress_noop.t3'::regclass AND attname = 'c4'),
		  'and each statement was rolled back whole');

-- the backstop passes what is derived, and what creates no foreign key
SET ri_policy.mode = 'allow';
CREATE TABLE regress_noop.child (a int REFERENCES regress_noop.parent);
SET ri_policy.mode = 'block';
SELECT lives_ok($$ALTER TABLE regress_noop.parent ALTER COLUMN id TYPE bigint$$,
				'ALTER COLUMN TYPE rebuilding a foreign key: allowed');
SELECT lives_ok($$ALTER TABLE regress_noop.child RENAME CONSTRAINT child_a_fkey TO child_a_fk$$,
				'renaming a foreign key: allowed');
SELECT lives_ok($$ALTER TABLE regress_noop.child VALIDATE CONSTRAINT child_a_fk$$,
				'VALIDATE CONSTRAINT: allowed');
SELECT lives_ok($$CREATE TABLE regress_noop.plain (id int PRIMARY KEY, CHECK (id > 0), UNIQUE (id))$$,
				'a table with other constraints: allowed');

SELECT * FROM finish();
ROLLBACK;
