-- Fixes found in review: the tracking trigger cannot be aimed at a table by
-- anyone else; orphans() refuses under row-level security; demote handles
-- any column name; tracked date keys do not depend on DateStyle; partitioned
-- tables and RLS-hidden parents get full passes; _is_running takes no lock.
BEGIN;
SELECT plan(15);

CREATE ROLE regress_hard;
CREATE SCHEMA hard AUTHORIZATION regress_hard;

-- the trigger function is not PUBLIC
SET ROLE regress_hard;
CREATE TABLE hard.t (a int);
SELECT throws_ok($$CREATE TRIGGER x AFTER INSERT ON hard.t REFERENCING NEW TABLE AS n
				   FOR EACH STATEMENT EXECUTE FUNCTION ri_policy._track_trigger('v', 'simple', '30000', 'a')$$,
				 '42501', NULL, 'an ordinary role cannot use the tracking trigger function');
RESET ROLE;
SELECT throws_ok($$CREATE TRIGGER x AFTER INSERT ON hard.t REFERENCING NEW TABLE AS n
				   FOR EACH STATEMENT EXECUTE FUNCTION ri_policy._track_trigger('1', 'simple', '30000', 'a');
				   INSERT INTO hard.t VALUES (1)$$,
				 'XX000', NULL, 'nor can bad arguments crash it');
-- a trigger whose first argument is no id (a 0.4 trigger, named by
-- reference name) records nothing, and lets the statement through
SELECT lives_ok($$CREATE TRIGGER x AFTER INSERT ON hard.t REFERENCING NEW TABLE AS n
				  FOR EACH STATEMENT EXECUTE FUNCTION ri_policy._track_trigger('v', 'simple', '30000', 'a');
				  INSERT INTO hard.t VALUES (1);
				  DROP TRIGGER x ON hard.t$$,
				'a trigger of an older version records nothing');

-- orphans() under row-level security
CREATE TABLE hard.p (id int PRIMARY KEY);
INSERT INTO hard.p VALUES (1);
CREATE TABLE hard.c (pid int, tenant text);
INSERT INTO hard.c VALUES (2, 'a'), (3, 'b');
ALTER TABLE hard.c ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_a ON hard.c USING (tenant = 'a');
SELECT ri_policy.declare_reference('hard.c', '{pid}', 'hard.p', name => 'hard_ref');
GRANT SELECT ON hard.c TO regress_hard;
SET ROLE regress_hard;
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('hard_ref')$$, '42501', NULL,
				 'orphans() refuses a caller subject to row-level security');
RESET ROLE;
SELECT is((SELECT count(*) FROM ri_policy.orphans('hard_ref')), 2::bigint,
		  'the owner (not subject to it) sees every orphan');

-- demote keeps odd column names
CREATE TABLE hard.p2 ("we""ird\\col" int PRIMARY KEY);
CREATE TABLE hard.c2 ("a""b{c}" int REFERENCES hard.p2);
SELECT is(ri_policy.demote('hard.c2', 'c2_a"b{c}_fkey'), 'c2_a"b{c}_fkey', 'demote an odd column name');
SELECT is((SELECT child_columns::text || ' ' || parent_columns::text FROM ri_policy.references
			WHERE name = 'c2_a"b{c}_fkey'),
		  '{"a\"b{c}"} {"we\"ird\\\\col"}', 'and keeps the names exactly');

-- tracked date keys are written and read under fixed settings
CREATE TABLE hard.dp (d date PRIMARY KEY);
INSERT INTO hard.dp VALUES ('2024-03-05');
CREATE TABLE hard.dc (d date);
CREATE INDEX ON hard.dc (d);
SELECT ri_policy.declare_reference('hard.dc', '{d}', 'hard.dp', name => 'date_ref');
SELECT ri_policy.track('date_ref');
CALL ri_policy.validate('date_ref');
SET LOCAL DateStyle = 'SQL, DMY';
INSERT INTO hard.dc VALUES ('05/04/2024'), ('05/03/2024');
SET LOCAL DateStyle = 'ISO, MDY';
CALL ri_policy.validate('date_ref');
SELECT is((SELECT string_agg(key::text, ',') FROM ri_policy.violations WHERE reference = 'date_ref'),
		  '{"d": "2024-04-05"}', 'the incremental pass checked the dates that were written');
INSERT INTO hard.dc VALUES ('2024-04-05'), ('2024-04-06');
CALL ri_policy.validate('date_ref');
SET LOCAL DateStyle = 'SQL, DMY';
DELETE FROM hard.dc WHERE d = '05/04/2024';
CALL ri_policy.validate('date_ref');
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',') FROM ri_policy.violations
			WHERE reference = 'date_ref'),
		  '{"d": "2024-04-06"} 1', 'after a delete, recorded date violations are re-checked by value');
SET LOCAL DateStyle = 'ISO, MDY';

-- partitioned tables: passes stay full
CREATE TABLE hard.pp (id int PRIMARY KEY);
CREATE TABLE hard.pc (id int, pid int) PARTITION BY RANGE (id);
CREATE TABLE hard.pc1 PARTITION OF hard.pc FOR VALUES FROM (0) TO (100);
SELECT ri_policy.declare_reference('hard.pc', '{pid}', 'hard.pp', name => 'part_ref');
SELECT ri_policy.track('part_ref');
CALL ri_policy.validate('part_ref');
INSERT INTO hard.pc1 VALUES (1, 7);
CALL ri_policy.validate('part_ref');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'part_ref'), 1::bigint,
		  'a row written straight into a partition is found: the pass was full');

-- a parent hidden by row-level security from the child's owner
CREATE TABLE hard.rp (id int PRIMARY KEY);
INSERT INTO hard.rp VALUES (1), (2);
ALTER TABLE hard.rp ENABLE ROW LEVEL SECURITY;
CREATE POLICY none ON hard.rp USING (false);
GRANT SELECT, REFERENCES ON hard.rp TO regress_hard;
SET ROLE regress_hard;
CREATE TABLE hard.rc (pid int);
INSERT INTO hard.rc VALUES (1), (5);
SELECT ri_policy.declare_reference('hard.rc', '{pid}', 'hard.rp', name => 'rls_ref',
								   on_delete => 'cascade');
CALL ri_policy.validate('rls_ref');
SELECT is((SELECT string_agg(key::text, ',') FROM ri_policy.violations WHERE reference = 'rls_ref'),
		  '{"pid": 5}', 'validation probes the parent as its owner, unhindered by its policies');
SELECT lives_ok($$CALL ri_policy.repair('rls_ref')$$,
				'repair probes the parent as its owner too, whatever its policies hide from the child''s owner');
SELECT is((SELECT string_agg(pid::text, ',') FROM hard.rc), '1',
		  'and deletes the orphan only, not the row whose parent the policy hides');
RESET ROLE;

-- a pass interrupted before a partition was attached starts over, rather
-- than resume past a table it never read
CREATE TABLE hard.early (id int, pid int);
INSERT INTO hard.early VALUES (150, 999);
CREATE TABLE hard.rpar (id int PRIMARY KEY);
CREATE TABLE hard.rch (id int, pid int) PARTITION BY RANGE (id);
CREATE TABLE hard.rch1 PARTITION OF hard.rch FOR VALUES FROM (0) TO (100);
INSERT INTO hard.rch VALUES (1, 998);
SELECT ri_policy.declare_reference('hard.rch', '{pid}', 'hard.rpar', name => 'resume_ref');
CALL ri_policy.validate('resume_ref');
-- as if the pass had been interrupted after reading rch1 to its end
UPDATE ri_policy._progress SET status = 'interrupted', resume_rel = 'hard.rch1'::regclass,
							   resume_block = 1000000
 WHERE reference = (SELECT id FROM ri_policy._reference WHERE name = 'resume_ref');
ALTER TABLE hard.rch ATTACH PARTITION hard.early FOR VALUES FROM (100) TO (200);
CALL ri_policy.validate('resume_ref');
SELECT is((SELECT string_agg(key::text, ',' ORDER BY key) FROM ri_policy.violations
			WHERE reference = 'resume_ref'),
		  '{"pid": 998},{"pid": 999}', 'the partition attached meanwhile was read');

-- _is_running only looks
SELECT is(ri_policy._is_running((SELECT id FROM ri_policy._reference WHERE name = 'date_ref')),
		  false, '_is_running');
SELECT * FROM finish();
ROLLBACK;
