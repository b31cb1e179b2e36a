-- Tracking knows when it may have missed something: every way a tracked
-- table's keys can change, or its rows appear or go, without the tracking
-- triggers recording it leads to a full next pass, whose reason
-- validation_progress.why_full gives; writes the triggers can see are
-- recorded, replica mode included.  Each case: the change, then the next
-- pass is full and equals the truth, and afterwards passes are incremental
-- again.
BEGIN;
SELECT plan(68);

CREATE TABLE gp (id int PRIMARY KEY);
INSERT INTO gp SELECT generate_series(1, 100);
CREATE TABLE gc (id int, pid int);
INSERT INTO gc SELECT g, g FROM generate_series(1, 100) g;
CREATE INDEX ON gc (pid);
SELECT ri_policy.declare_reference('gc', '{pid}', 'gp', name => 'gr');
SELECT ri_policy.track('gr');
CALL ri_policy.validate('gr');

CREATE FUNCTION truth() RETURNS TABLE (key jsonb, child_rows bigint) LANGUAGE sql AS $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM gc
	 WHERE pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM gp WHERE gp.id = gc.pid) GROUP BY 1$$;
CREATE FUNCTION recorded() RETURNS TABLE (key jsonb, child_rows bigint) LANGUAGE sql AS $$
	SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'gr'$$;
-- a pass was full when it read every child row
CREATE FUNCTION was_full() RETURNS boolean LANGUAGE sql AS $$
	SELECT rows_checked = (SELECT count(*) FROM gc) AND rows_checked > 0
	  FROM ri_policy.validation_progress WHERE reference = 'gr'$$;
CREATE FUNCTION why() RETURNS text LANGUAGE sql AS $$
	SELECT why_full FROM ri_policy.validation_progress WHERE reference = 'gr'$$;
CREATE FUNCTION states() RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(DISTINCT tgenabled::text, '') FROM pg_trigger
	 WHERE tgfoid = 'ri_policy._track_trigger'::regproc
	   AND tgrelid IN ('gc'::regclass, 'gp'::regclass)$$;
-- an incremental pass that finds nothing to do
CREATE FUNCTION quiet_pass() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	CALL ri_policy.validate('gr');
	RETURN (SELECT rows_checked || ' ' || coalesce(why_full, '-')
			  FROM ri_policy.validation_progress WHERE reference = 'gr');
END $$;

SELECT is(states(), 'A', 'tracking triggers fire ALWAYS');
SELECT is(quiet_pass(), '0 -', 'a pass with nothing recorded is incremental');

-- 1. writes under session_replication_role = replica are recorded
SET session_replication_role = replica;
DELETE FROM gp WHERE id <= 3;
INSERT INTO gc VALUES (101, 1001);
RESET session_replication_role;
CALL ri_policy.validate('gr');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'gr'),
		  4::bigint, 'replica-mode writes are recorded: the next pass re-checks their 4 keys');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and finds their orphans');

-- 2. the parent's triggers disabled (USER), rows deleted, enabled again
ALTER TABLE gp DISABLE TRIGGER USER;
DELETE FROM gp WHERE id BETWEEN 4 AND 10;
ALTER TABLE gp ENABLE TRIGGER USER;
SELECT matches(why(), 'tracking triggers on table "gp" were disabled or enabled',
			   'DISABLE then ENABLE TRIGGER USER: validation_progress says why the next pass is full');
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'and it is full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
SELECT is(states(), 'A', 'ENABLE TRIGGER enables tracking triggers ALWAYS again');
SELECT is(quiet_pass(), '0 -', 'then passes are incremental again');

-- 3. the child's triggers disabled (ALL), orphans inserted, enabled again
ALTER TABLE gc DISABLE TRIGGER ALL;
INSERT INTO gc VALUES (102, 1002), (103, 1003);
ALTER TABLE gc ENABLE TRIGGER ALL;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'DISABLE then ENABLE TRIGGER ALL: the next pass is full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
SELECT is(quiet_pass(), '0 -', 'then incremental again');

-- 4. one tracking trigger disabled by name and enabled again
DO $$ BEGIN
	EXECUTE format('ALTER TABLE gc DISABLE TRIGGER %I', (SELECT tgname FROM pg_trigger
		WHERE tgrelid = 'gc'::regclass AND tgname LIKE 'ri\_policy\_track\_%\_ci'));
END $$;
INSERT INTO gc VALUES (104, 1004);
DO $$ BEGIN
	EXECUTE format('ALTER TABLE gc ENABLE TRIGGER %I', (SELECT tgname FROM pg_trigger
		WHERE tgrelid = 'gc'::regclass AND tgname LIKE 'ri\_policy\_track\_%\_ci'));
END $$;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'one tracking trigger disabled and enabled by name: the next pass is full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');

-- 5. another trigger of the table disabled and enabled: tracking saw everything
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER their_own AFTER INSERT ON gc FOR EACH STATEMENT EXECUTE FUNCTION noop();
ALTER TABLE gc DISABLE TRIGGER their_own;
INSERT INTO gc VALUES (105, 1005);
ALTER TABLE gc ENABLE TRIGGER their_own;
SELECT is(quiet_pass(), '1 -', 'a trigger of the user''s disabled and enabled: the next pass stays incremental');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');

-- 5b. rewrites and settings that change no key: nothing to miss
CLUSTER gc USING gc_pid_idx;
ALTER TABLE gc SET (fillfactor = 70);
ALTER TABLE gp SET ACCESS METHOD heap;
ALTER TABLE gc ALTER COLUMN id SET STATISTICS 200;
SELECT is(quiet_pass(), '0 -', 'CLUSTER, SET (...), SET ACCESS METHOD leave passes incremental');

-- 6. a tracking trigger still disabled when the pass begins; a full pass
-- then does not vouch for the change log, even if the trigger is enabled
-- again where DDL is not followed (event triggers off)
ALTER TABLE gp DISABLE TRIGGER USER;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'a disabled tracking trigger: the pass is full');
SELECT matches(why(), 'tracking trigger "ri_policy_track_[0-9]+_p[iudt]" on table "gp" is disabled',
			   'and validation_progress names it');
SELECT is((SELECT count(*) FROM ri_policy._sentinel s JOIN ri_policy._reference r ON r.id = s.reference
			WHERE r.name = 'gr'), 0::bigint,
		  'a full pass begun with a disabled trigger does not say the change log is complete');
DELETE FROM gp WHERE id = 11;
ALTER EVENT TRIGGER ri_policy_guard_ddl_end DISABLE;
DO $$
DECLARE
	t name;
BEGIN
	FOR t IN SELECT tgname FROM pg_trigger WHERE tgrelid = 'gp'::regclass
			   AND tgfoid = 'ri_policy._track_trigger'::regproc LOOP
		EXECUTE format('ALTER TABLE gp ENABLE ALWAYS TRIGGER %I', t);
	END LOOP;
END $$;
ALTER EVENT TRIGGER ri_policy_guard_ddl_end ENABLE ALWAYS;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'so, enabled again unseen, the next pass is still full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
SELECT is(quiet_pass(), '0 -', 'then incremental again');

-- 7. ENABLE REPLICA: the trigger would miss ordinary writes
DO $$ BEGIN
	EXECUTE format('ALTER TABLE gp ENABLE REPLICA TRIGGER %I', (SELECT tgname FROM pg_trigger
		WHERE tgrelid = 'gp'::regclass AND tgname LIKE 'ri\_policy\_track\_%\_pd'));
END $$;
DELETE FROM gp WHERE id = 12;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'a tracking trigger enabled REPLICA only: the pass is full');
SELECT matches(why(), 'fires only under session_replication_role = replica', 'and why');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
DO $$ BEGIN
	EXECUTE format('ALTER TABLE gp ENABLE ALWAYS TRIGGER %I', (SELECT tgname FROM pg_trigger
		WHERE tgrelid = 'gp'::regclass AND tgname LIKE 'ri\_policy\_track\_%\_pd'));
END $$;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'enabled ALWAYS again: one full pass');
SELECT is(quiet_pass(), '0 -', 'then incremental');

-- 8. a tracking trigger dropped: passes stay full until track() again
DO $$ BEGIN
	EXECUTE format('DROP TRIGGER %I ON gp', (SELECT tgname FROM pg_trigger
		WHERE tgrelid = 'gp'::regclass AND tgname LIKE 'ri\_policy\_track\_%\_pd'));
END $$;
DELETE FROM gp WHERE id = 13;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'a dropped tracking trigger: the pass is full');
SELECT is(why(), 'its tracking trigger for DELETE on table "gp" is missing', 'and why');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'and the next one too');
SELECT ri_policy.track('gr');
CALL ri_policy.validate('gr');
SELECT is(quiet_pass(), '0 -', 'tracked again, passes are incremental after one full pass');

-- 9. ALTER COLUMN ... TYPE ... USING rewrites the child's keys, and no
-- trigger fires
ALTER TABLE gc ALTER COLUMN pid TYPE bigint USING pid + 50;
SELECT matches(why(), 'the type of a key column of table "gc" changed', 'ALTER COLUMN TYPE USING on the child: why');
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'the next pass is full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right (50 new orphans)');
SELECT is(quiet_pass(), '0 -', 'then incremental again');
-- the same type, values rewritten
ALTER TABLE gc ALTER COLUMN pid TYPE bigint USING pid - 50;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'a rewrite to the same type: the next pass is full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
-- and the parent's keys
ALTER TABLE gp ALTER COLUMN id TYPE bigint USING id * 2;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'ALTER COLUMN TYPE USING on the parent: the next pass is full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
-- a column that is no key: nothing to miss
ALTER TABLE gc ALTER COLUMN id TYPE bigint USING id + 1;
SELECT is(quiet_pass(), '0 -', 'a type change of another column leaves passes incremental');

-- 9b. on 17+, a generated key column given a new expression: its values
-- are rewritten, and no trigger fires
SELECT current_setting('server_version_num')::int >= 170000 AS has_set_expression \gset
\if :has_set_expression
CREATE TABLE gg (x int, pid int GENERATED ALWAYS AS (x) STORED);
INSERT INTO gg (x) SELECT generate_series(1, 10);
SELECT ri_policy.declare_reference('gg', '{pid}', 'gp', name => 'ggr');
SELECT ri_policy.track('ggr');
CALL ri_policy.validate('ggr');
ALTER TABLE gg ALTER COLUMN pid SET EXPRESSION AS (x + 1000);
CALL ri_policy.validate('ggr');
SELECT is((SELECT rows_checked || ' ' || orphan_keys FROM ri_policy.validation_progress
			WHERE reference = 'ggr'), '10 10',
		  'SET EXPRESSION of a generated key column: the next pass is full, and right');
\else
SELECT skip('ALTER COLUMN ... SET EXPRESSION arrived in PostgreSQL 17', 1);
\endif

-- 10. TRUNCATE, in replica mode too
SET session_replication_role = replica;
TRUNCATE gp;
RESET session_replication_role;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'TRUNCATE in replica mode: the next pass is full');
SELECT is(why(), 'a TRUNCATE, or a change that tracking could not see, was recorded', 'and why');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
INSERT INTO gp SELECT generate_series(1, 300);
CALL ri_policy.validate('gr');

-- 11. a tracked child attached as a partition: rows written through the
-- partitioned table escape its triggers; detached again, its next pass is
-- full, whether or not a pass ran while it was attached
CREATE TABLE groot (id bigint, pid bigint) PARTITION BY RANGE (id);
SELECT is(quiet_pass(), '0 -', 'incremental before');
ALTER TABLE groot ATTACH PARTITION gc FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
INSERT INTO groot VALUES (106, 2006);
ALTER TABLE groot DETACH PARTITION gc;
SELECT matches(why(), 'table "gc" was attached to or detached from table "groot"', 'ATTACH then DETACH PARTITION: why');
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'the next pass is full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
ALTER TABLE groot ATTACH PARTITION gc FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'while attached, passes are full');
SELECT matches(why(), 'table "gc" is a partition', 'and say why');
UPDATE groot SET pid = 2007 WHERE id = 106;
ALTER TABLE groot DETACH PARTITION gc;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'detached after a full pass, the next pass is full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');
SELECT is(quiet_pass(), '0 -', 'then incremental again');

-- 12. inheritance: the child inherits from a table through which its rows
-- are updated
CREATE TABLE gbase (id bigint, pid bigint);
ALTER TABLE gc INHERIT gbase;
UPDATE gbase SET pid = 2008 WHERE id = 106;
ALTER TABLE gc NO INHERIT gbase;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'INHERIT then NO INHERIT: the next pass is full');
SELECT matches(why(), 'table "gc" began or stopped inheriting from table "gbase"', 'and why');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');

-- 13. the tracked parent gets an inheritance child: passes stay full while
-- it has one (the child's rows are written past the parent's triggers)
CREATE TABLE gpx () INHERITS (gp);
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'a tracked table with an inheritance child gets full passes');
SELECT matches(why(), 'table "gp" has partitions or inheritance children', 'and why');
DROP TABLE gpx;

-- 14. without it (and once ANALYZE has noticed), a full pass first: the
-- passes made while it had one vouch for nothing; then the recorded reason
-- goes when an incremental pass completes
ANALYZE gp;
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'the child dropped, the next pass is full');
SELECT is(quiet_pass(), '0 -', 'then an incremental pass clears why_full');

-- 15. a forget while an incremental pass runs is not lost: a marker in the
-- change log makes the next pass full too
CALL ri_policy.validate('gr');
DELETE FROM gc WHERE id = 1;
INSERT INTO ri_policy._changed (reference, keys)
	SELECT id, NULL FROM ri_policy._reference WHERE name = 'gr';
CALL ri_policy.validate('gr');
SELECT ok(was_full(), 'a marker in the change log makes the pass full');
SELECT set_eq('SELECT * FROM recorded()', 'SELECT * FROM truth()', 'and right');

-- 16. full => true says it was asked for
CALL ri_policy.validate('gr', "full" => true);
SELECT is(why(), 'asked for (full => true)', 'a pass asked to be full says so');
SELECT is(quiet_pass(), '0 -', 'and the next is incremental');

-- nothing else changed: an untracked reference has no reason, and other
-- references' passes are untouched by DDL on these tables
CREATE TABLE up (id int PRIMARY KEY);
CREATE TABLE uc (pid int);
SELECT ri_policy.declare_reference('uc', '{pid}', 'up', name => 'ur');
CALL ri_policy.validate('ur');
ALTER TABLE up DISABLE TRIGGER ALL;
ALTER TABLE up ENABLE TRIGGER ALL;
CALL ri_policy.validate('ur');
SELECT is((SELECT why_full FROM ri_policy.validation_progress WHERE reference = 'ur'), NULL,
		  'an untracked reference gets no reason');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'up'::regclass), 0::bigint,
		  'and no triggers');

SELECT * FROM finish();
ROLLBACK;
