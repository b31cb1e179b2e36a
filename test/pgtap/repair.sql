-- repair(): the deferred cascade.  It acts on recorded orphans that still
-- have no parent, in batches, and never touches a row whose parent appeared
-- after validation (inserted here by a second session).  Runs outside a
-- transaction block; cleans up after itself.
SELECT plan(17);

CREATE TABLE rp_parent (id int PRIMARY KEY, a int, b text, UNIQUE (a, b));
INSERT INTO rp_parent SELECT g, g, 'x' || g FROM generate_series(1, 100) g;
CREATE TABLE rp_child (id int, pid int DEFAULT 1, a int, b text);
INSERT INTO rp_child SELECT g, g % 120, g % 110,
						   CASE WHEN g % 7 = 0 THEN NULL ELSE 'x' || (g % 110) END
  FROM generate_series(1, 1200) g;
SELECT ri_policy.declare_reference('rp_child', '{pid}', 'rp_parent', name => 'rp_pid',
								   on_delete => 'set default');
SELECT ri_policy.declare_reference('rp_child', '{a,b}', 'rp_parent', '{a,b}', name => 'rp_ab',
								   match => 'full', on_delete => 'cascade');
SELECT ri_policy.declare_reference('rp_child', '{pid}', 'rp_parent', name => 'rp_noaction');
CALL ri_policy.validate();
CREATE TABLE rp_before AS SELECT * FROM rp_child;

-- a second session inserts the parent of key 101 after validation
SELECT dblink_exec(format('host=%s port=%s dbname=%s',
						  split_part(current_setting('unix_socket_directories'), ',', 1),
						  current_setting('port'), current_database()),
				   'INSERT INTO rp_parent VALUES (101, 1001, ''late'')');

CALL ri_policy.repair('rp_pid', batch_size => 10);
SELECT is((SELECT count(*) FROM rp_child WHERE pid = 101),
		  (SELECT count(*) FROM rp_before WHERE pid = 101),
		  'rows whose parent appeared after validation are untouched');
SELECT is((SELECT count(*) FROM rp_child WHERE pid NOT BETWEEN 1 AND 101), 0::bigint,
		  'every other orphan was set to its default');
SELECT is((SELECT count(*) FROM rp_child c JOIN rp_before b USING (id)
			WHERE c.pid <> b.pid AND b.pid BETWEEN 1 AND 100), 0::bigint,
		  'no row with a parent was touched');
SELECT is((SELECT count(*) FROM rp_child), (SELECT count(*) FROM rp_before),
		  'set default deletes nothing');
SELECT is((SELECT array_agg(key) FROM ri_policy.violations WHERE reference = 'rp_pid'),
		  '{"{\"pid\": 101}"}'::jsonb[], 'repaired keys leave the violations; key 101 waits for the next pass');

CALL ri_policy.repair('rp_ab', batch_size => 1);
SELECT is((SELECT count(*) FROM rp_child
			WHERE (a IS NULL) <> (b IS NULL)
			   OR (a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rp_parent p WHERE p.a = rp_child.a AND p.b = rp_child.b))),
		  0::bigint, 'the declared ON DELETE CASCADE deleted every MATCH FULL orphan');
SELECT is((SELECT count(*) FROM rp_child),
		  (SELECT count(*) FROM rp_before
			WHERE NOT ((a IS NULL) <> (b IS NULL)
				   OR (a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rp_parent p WHERE p.a = rp_before.a AND p.b = rp_before.b)))),
		  'and nothing else');

-- an explicit action overrides the declared one; no action is skipped
UPDATE rp_child SET pid = 500 WHERE id <= 3;
CALL ri_policy.validate('rp_noaction');
CALL ri_policy.repair('rp_noaction');
SELECT is((SELECT count(*) FROM rp_child WHERE pid = 500), 3::bigint,
		  'ON DELETE NO ACTION: repair() without an action changes nothing');
CALL ri_policy.repair('rp_noaction', 'set null');
SELECT is((SELECT count(*) FROM rp_child WHERE pid IS NULL AND id <= 3), 3::bigint,
		  'action => set null sets the key columns to NULL');
CALL ri_policy.validate('rp_noaction');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'rp_noaction'), 0::bigint,
		  'the next validation finds no orphan left');

-- inside a transaction block it runs in that transaction
BEGIN;
UPDATE rp_child SET pid = 600 WHERE id = 4;
CALL ri_policy.validate('rp_noaction');
CALL ri_policy.repair('rp_noaction', 'delete');
SELECT is((SELECT count(*) FROM rp_child WHERE id = 4), 0::bigint, 'repair inside a transaction');
ROLLBACK;
SELECT is((SELECT count(*) FROM rp_child WHERE id = 4), 1::bigint, 'is rolled back with it');

-- bad input changes nothing
CREATE TEMP TABLE rp_snap AS SELECT * FROM rp_child;
SELECT throws_ok($$CALL ri_policy.repair('rp_pid', 'drop')$$, '22023',
				 'invalid repair action "drop"', 'unknown action');
SELECT throws_ok($$CALL ri_policy.repair('rp_pid', batch_size => 0)$$, '22023', NULL,
				 'batch_size 0');
SELECT throws_ok($$CALL ri_policy.repair('no_such')$$, '42704', NULL, 'unknown reference');
CREATE ROLE regress_rp_other;
SET ROLE regress_rp_other;
SELECT throws_ok($$CALL ri_policy.repair('rp_pid')$$, '42501', NULL, 'not the owner');
RESET ROLE;
DROP ROLE regress_rp_other;
SELECT set_eq('SELECT * FROM rp_child', 'SELECT * FROM rp_snap', 'the child is unchanged');

SELECT ri_policy.drop_reference(name) FROM ri_policy.references WHERE name LIKE 'rp\_%';
DROP TABLE rp_child, rp_parent, rp_before;
SELECT * FROM finish();
