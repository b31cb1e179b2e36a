-- track(): the keys changed on either table are recorded, and the next
-- validate() re-checks only those, with the same result as a full pass.
BEGIN;
SELECT plan(56);

CREATE TABLE tp (id int PRIMARY KEY);
INSERT INTO tp SELECT generate_series(1, 200);
CREATE TABLE tc (id int, pid int);
INSERT INTO tc SELECT g, g % 220 + 1 FROM generate_series(1, 4000) g;
CREATE INDEX ON tc (pid);
SELECT ri_policy.declare_reference('tc', '{pid}', 'tp', name => 'tr');
CALL ri_policy.validate('tr');

-- the truth, and a full pass's answer, for comparison
CREATE FUNCTION truth() RETURNS TABLE (key jsonb, child_rows bigint) LANGUAGE sql AS $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM tc
	 WHERE pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tp WHERE tp.id = tc.pid) GROUP BY 1$$;
CREATE FUNCTION progress() RETURNS text LANGUAGE sql AS $$
	SELECT status || ' ' || rows_checked FROM ri_policy.validation_progress WHERE reference = 'tr'$$;
-- the id of a declared reference: the change log is keyed by it
CREATE FUNCTION rid(text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM ri_policy._reference WHERE name = $1$$;
CREATE FUNCTION changed() RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(sum(cardinality(keys)), 0)::bigint FROM ri_policy._changed WHERE reference = rid('tr')$$;

-- tracking that starts after the last full pass gets a full pass first
SELECT lives_ok($$SELECT ri_policy.track('tr')$$, 'track');
INSERT INTO tc VALUES (-1, 999);
CALL ri_policy.validate('tr');
SELECT is(progress(), 'done 4001', 'the first pass after track() is full');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'and right');

-- each kind of change, then an incremental pass
INSERT INTO tc VALUES (-2, 998), (-3, 5);
SELECT is(changed(), 2::bigint, 'child inserts record their keys');
UPDATE tc SET id = id WHERE id BETWEEN 1 AND 100;
SELECT is(changed(), 2::bigint, 'an update that leaves the key alone records nothing');
UPDATE tc SET pid = 997 WHERE id = 10;
SELECT is(changed(), 4::bigint, 'a key update records the old and the new key');
DELETE FROM tp WHERE id = 20;
UPDATE tp SET id = 1020 WHERE id = 21;
INSERT INTO tp VALUES (205), (206);
SELECT is(changed(), 9::bigint, 'parent deletes, key updates and inserts record their keys');
COPY tc FROM STDIN;
-4	996
-5	30
\.
SELECT is(changed(), 11::bigint, 'COPY records its keys');

-- the entries go to the partition that PostgreSQL routes the reference to
SAVEPOINT routed;
CREATE TEMP TABLE routed AS
	WITH p AS (INSERT INTO ri_policy._changed VALUES (rid('tr'), '{0}', false) RETURNING tableoid AS part)
	SELECT part FROM p;
SELECT is((SELECT DISTINCT tableoid FROM ri_policy._changed WHERE reference = rid('tr') AND keys <> '{0}'),
		  (SELECT part FROM routed),
		  'entries go to the reference''s partition of the change log');
ROLLBACK TO SAVEPOINT routed;

-- each entry says which table changed
SELECT is((SELECT array_agg(n ORDER BY from_parent)
			 FROM (SELECT from_parent, sum(cardinality(keys)) AS n FROM ri_policy._changed
					WHERE reference = rid('tr') GROUP BY 1) s),
		  '{6,5}'::bigint[], 'six keys from the child, five from the parent');
CALL ri_policy.validate('tr');
SELECT is(progress(), 'done 11', 'the next pass re-checks only the 11 changed keys');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'and finds the same violations as the truth');
SELECT is(changed(), 0::bigint, 'the changes it consumed are gone');
CREATE TEMP TABLE incremental AS
	SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'tr';
CALL ri_policy.validate('tr', "full" => true);
SELECT is(progress(), 'done 4005', 'full => true forces a full pass');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM incremental', 'which agrees with the incremental one');

-- a pass with nothing to do
CALL ri_policy.validate('tr');
SELECT is(progress(), 'done 0', 'no changes: nothing re-checked');

-- the keys of a bulk statement are recorded exactly, whatever their values
INSERT INTO tc VALUES (-7, -3), (-8, 0), (-9, 63), (-10, 64), (-11, 2147483647),
	(-12, -2147483648), (-13, 64), (-14, -64), (-15, -65);
SELECT is((SELECT array_agg(k::int ORDER BY k::int)
			 FROM ri_policy._changed, unnest(keys) AS k WHERE reference = rid('tr')),
		  '{-2147483648,-65,-64,-3,0,63,64,2147483647}'::int[],
		  'each distinct key once, negative and extreme ones too');
DELETE FROM tc WHERE id BETWEEN -15 AND -7;

-- a crash empties ri_policy._changed and ri_policy._sentinel (they are
-- unlogged): the next pass is full
INSERT INTO tc VALUES (-6, 994);
TRUNCATE ri_policy._changed, ri_policy._sentinel;
CALL ri_policy.validate('tr');
SELECT is(progress(), 'done 4006', 'after the change log was lost, the pass is full');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'and right');
DELETE FROM tc WHERE id = -6;

-- TRUNCATE of the parent: the next pass is full
TRUNCATE tp;
CALL ri_policy.validate('tr');
SELECT is(progress(), 'done 4005', 'after TRUNCATE the pass is full');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'and right');
INSERT INTO tp SELECT generate_series(1, 300);
CALL ri_policy.validate('tr');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'parent inserts clear orphans incrementally');
UPDATE tc SET pid = 5 WHERE pid = 999;
CALL ri_policy.validate('tr');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'moving an orphan''s rows to a parent clears it incrementally');
SELECT is(progress(), 'done 2', 'having re-checked its old and new key');
DELETE FROM tc WHERE pid = 998;
CALL ri_policy.validate('tr');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'deleting an orphan''s rows clears it incrementally');
SELECT is(progress(), 'done ' || ((SELECT count(*) FROM ri_policy.violations WHERE reference = 'tr') + 1),
		  'having re-checked the violations recorded before (a DELETE records no keys)');

-- many statements, read in batches of whole blocks of the change log
DO $$ BEGIN FOR i IN 1..600 LOOP INSERT INTO tc VALUES (-100 - i, 1000 + i % 7); END LOOP; END $$;
INSERT INTO tp VALUES (1003);
SELECT cmp_ok((SELECT count(DISTINCT (ctid::text::point)[0]) FROM ri_policy._changed)::int, '>', 2,
			  'the change log spans several blocks');
CALL ri_policy.validate('tr', batch_size => 7);
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'a pass in small batches is right');
SELECT is(progress(), 'done 601', 'and re-checks every recorded key');
SELECT is(changed(), 0::bigint, 'and consumes them all');
INSERT INTO tc VALUES (-701, 1001);
SELECT lives_ok($$CALL ri_policy.validate('tr', batch_size => 2147483647)$$,
				'and in one batch as large as can be');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'right too');

TRUNCATE tc;
CALL ri_policy.validate('tr');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'tr'), 0::bigint,
		  'after TRUNCATE of the child nothing is orphaned');

-- a two-column MATCH FULL reference with a text column: every kind of
-- change, then an incremental pass that agrees with a full one
CREATE TABLE mp (a text, b int, PRIMARY KEY (a, b));
INSERT INTO mp SELECT 'k' || g, g FROM generate_series(1, 50) g;
CREATE TABLE mc (id int, a text, b int);
INSERT INTO mc SELECT g, 'k' || (g % 60), g % 60 FROM generate_series(1, 300) g;
CREATE INDEX ON mc (a, b);
SELECT ri_policy.declare_reference('mc', '{a,b}', 'mp', name => 'mr', match => 'full');
SELECT ri_policy.track('mr');
CALL ri_policy.validate('mr');
CREATE FUNCTION truth_mr() RETURNS TABLE (key jsonb, child_rows bigint) LANGUAGE sql AS $$
	SELECT jsonb_build_object('a', a, 'b', b), count(*) FROM mc
	 WHERE (a IS NOT NULL OR b IS NOT NULL)
	   AND NOT EXISTS (SELECT 1 FROM mp WHERE mp.a = mc.a AND mp.b = mc.b) GROUP BY 1$$;
INSERT INTO mc VALUES (1001, 'zz', 1), (1002, NULL, 5), (1003, NULL, NULL), (1004, 'k2', 2);
UPDATE mc SET b = 99 WHERE id = 7;
UPDATE mc SET a = 'k5' WHERE id = 305;
DELETE FROM mp WHERE a = 'k10';
UPDATE mp SET b = 500 WHERE a = 'k11';
INSERT INTO mp VALUES ('k55', 55), ('zz', 1);
CALL ri_policy.validate('mr');
SELECT is((SELECT rows_checked < 300 FROM ri_policy.validation_progress WHERE reference = 'mr'),
		  true, 'a two-column reference is validated incrementally');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''mr''',
			  'SELECT * FROM truth_mr()', 'and right');
INSERT INTO mc VALUES (1005, NULL, 5), (1006, 'zz', 2);
CALL ri_policy.validate('mr');
DELETE FROM mc WHERE id IN (1002, 1006) OR b = 99;
CALL ri_policy.validate('mr');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''mr''',
			  'SELECT * FROM truth_mr()', 'deletes from the child re-check its violations, partly NULL keys too');
INSERT INTO mc VALUES (1007, 'zz', 3), (1008, 'zz', 3), (1009, 'yy', 3);
CALL ri_policy.validate('mr');
DELETE FROM mc WHERE id IN (1005, 1007);
CALL ri_policy.validate('mr', batch_size => 1);
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''mr''',
			  'SELECT * FROM truth_mr()', 'one violation at a time too');
SELECT ri_policy.track('mr', false);

-- under a case-insensitive collation 'ABC' is the parent of 'abc', which
-- the recorded keys' jsonb forms cannot tell: passes stay full
CREATE COLLATION track_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE cp (k text COLLATE track_ci PRIMARY KEY);
CREATE TABLE cc (k text COLLATE track_ci);
INSERT INTO cc VALUES ('abc'), ('x');
INSERT INTO cp VALUES ('x');
SELECT ri_policy.declare_reference('cc', '{k}', 'cp', name => 'cr');
SELECT ri_policy.track('cr');
CALL ri_policy.validate('cr');
INSERT INTO cp VALUES ('ABC');
INSERT INTO cc VALUES ('abc');
CALL ri_policy.validate('cr');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'cr'),
		  3::bigint, 'a reference with a case-insensitive key gets full passes');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'cr'), 0::bigint,
		  'which see that its parent appeared');
SELECT ri_policy.track('cr', false);

-- triggers from before 0.4 (from an older dump, say) miss deletes from the
-- child: passes stay full until the reference is tracked again
INSERT INTO tc VALUES (-801, 1001);
DO $$ BEGIN EXECUTE format('DROP TRIGGER %I ON tc',
	(SELECT tgname FROM pg_trigger WHERE tgrelid = 'tc'::regclass AND tgname LIKE 'ri\_policy\_track\_%cd')); END $$;
CALL ri_policy.validate('tr');
SELECT is(progress(), 'done ' || (SELECT count(*) FROM tc),
		  'without its trigger for deletes from the child, a pass is full');
SELECT ri_policy.track('tr');
CALL ri_policy.validate('tr');
INSERT INTO tc VALUES (-802, 1002);
CALL ri_policy.validate('tr');
SELECT is(progress(), 'done 1', 'tracked again, passes are incremental');
DELETE FROM tc WHERE id IN (-801, -802);

-- renaming key columns, even so that another column takes the key's old
-- name, keeps tracking the key
CALL ri_policy.validate('tr');
ALTER TABLE tc RENAME pid TO pid_x;
ALTER TABLE tc RENAME id TO pid;
INSERT INTO tc (pid, pid_x) VALUES (-901, 1003);
SELECT is((SELECT array_agg(k) FROM ri_policy._changed, unnest(keys) AS k
			WHERE reference = rid('tr') AND NOT from_parent),
		  '{1003}', 'after renames the key column is still the one recorded');
ALTER TABLE tc RENAME pid TO id;
ALTER TABLE tc RENAME pid_x TO pid;
CALL ri_policy.validate('tr');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''tr''',
			  'SELECT * FROM truth()', 'and the pass is right');
DELETE FROM tc WHERE id = -901;

-- renaming the child's key column with violations recorded: their keys
-- follow, and so do passes after deletes
CREATE TABLE rp2 (id int PRIMARY KEY);
INSERT INTO rp2 VALUES (1);
CREATE TABLE rc2 (x int);
INSERT INTO rc2 VALUES (1), (5), (5), (6);
SELECT ri_policy.declare_reference('rc2', '{x}', 'rp2', name => 'rr2');
SELECT ri_policy.track('rr2');
CALL ri_policy.validate('rr2');
ALTER TABLE rc2 RENAME x TO y;
INSERT INTO rc2 VALUES (7);
DELETE FROM rc2 WHERE y = 6;
CALL ri_policy.validate('rr2');
SELECT set_eq('SELECT key, child_rows FROM ri_policy.violations WHERE reference = ''rr2''',
			  $$VALUES ('{"y": 5}'::jsonb, 2::bigint), ('{"y": 7}', 1)$$,
			  'recorded violations follow a renamed key column');
SELECT is((SELECT count(*) FROM ri_policy._sentinel WHERE reference = rid('rr2')), 1::bigint,
		  'a pass that re-checked violations after deletes leaves passes incremental');
SELECT ri_policy.track('rr2', false);

-- a tracked child that is itself a partition: rows written through its
-- parent escape its triggers, so passes stay full
CREATE TABLE ptp (id int PRIMARY KEY);
INSERT INTO ptp VALUES (1);
CREATE TABLE ptc (k int, pid int) PARTITION BY RANGE (k);
CREATE TABLE ptc_1 PARTITION OF ptc FOR VALUES FROM (0) TO (100);
INSERT INTO ptc VALUES (1, 1);
SELECT ri_policy.declare_reference('ptc_1', '{pid}', 'ptp', name => 'pr');
SELECT ri_policy.track('pr');
CALL ri_policy.validate('pr');
INSERT INTO ptc VALUES (2, 9);
CALL ri_policy.validate('pr');
SELECT is((SELECT string_agg(key::text, ',') FROM ri_policy.violations WHERE reference = 'pr'),
		  '{"pid": 9}', 'a tracked partition sees rows written through its parent');
SELECT ri_policy.track('pr', false);

-- dropping a tracked table forgets the reference's recorded changes
CREATE TABLE dp (id int PRIMARY KEY);
CREATE TABLE dc (pid int);
SELECT ri_policy.declare_reference('dc', '{pid}', 'dp', name => 'dr');
SELECT ri_policy.track('dr');
INSERT INTO dc VALUES (1), (2);
CREATE TEMP TABLE dr AS SELECT rid('dr') AS id;
SELECT is((SELECT count(*) FROM ri_policy._changed WHERE reference = (SELECT id FROM dr)), 1::bigint,
		  'a tracked table''s changes are recorded');
DROP TABLE dc;
SELECT is((SELECT count(*) FROM ri_policy._changed WHERE reference = (SELECT id FROM dr)), 0::bigint,
		  'and forgotten when it is dropped');

-- stop tracking
SELECT lives_ok($$SELECT ri_policy.track('tr', false)$$, 'track(false)');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ri\_policy\_track\_%'), 0::bigint,
		  'removes the triggers');
INSERT INTO tc VALUES (1, 5000);
SELECT is(changed(), 0::bigint, 'and records nothing more');
CALL ri_policy.validate('tr');
SELECT is(progress(), 'done 1', 'passes are full again');

-- bad input
ALTER TABLE tc ADD CONSTRAINT tc_fk FOREIGN KEY (pid) REFERENCES tp NOT VALID;
SELECT throws_ok($$SELECT ri_policy.track('tc_fk')$$, '42809', NULL, 'a foreign key is not tracked');
SELECT throws_ok($$SELECT ri_policy.track(NULL)$$, '22004', NULL, 'NULL reference');
SELECT throws_ok($$SELECT ri_policy.track('no_such')$$, '42704', NULL, 'unknown reference');
CREATE ROLE regress_track_other;
SET ROLE regress_track_other;
SELECT throws_ok($$SELECT ri_policy.track('tr')$$, '42501', NULL, 'not the owner');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
