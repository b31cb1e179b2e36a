-- A pass spans many transactions: what happens between them must not make
-- it read the wrong column, and a cancel before it has begun must not touch
-- the results of the last finished pass.  Sessions through dblink, the
-- interleaving forced with locks; runs outside a transaction block and
-- cleans up after itself.
SELECT plan(9);

CREATE SCHEMA regress_vc;
CREATE TABLE regress_vc.parent (id int PRIMARY KEY);
INSERT INTO regress_vc.parent SELECT generate_series(1, 100);
-- a holds orphans in every block; b holds none
CREATE TABLE regress_vc.child (a int, b int);
INSERT INTO regress_vc.child SELECT 1000 + g, 1 + g % 100 FROM generate_series(1, 2000) g;
SELECT ri_policy.declare_reference('regress_vc.child', '{a}', 'regress_vc.parent', name => 'vc_ref');
CALL ri_policy.validate('vc_ref');

CREATE FUNCTION pg_temp.connect(name text) RETURNS text LANGUAGE sql AS $$
	SELECT dblink_connect(name, format('host=%s port=%s dbname=%s',
		split_part(current_setting('unix_socket_directories'), ',', 1),
		current_setting('port'), current_database()))
$$;
CREATE FUNCTION pg_temp.wait_for_lock(rel regclass) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..400 LOOP
		IF EXISTS (SELECT 1 FROM pg_locks WHERE relation = rel AND NOT granted) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.025);
	END LOOP;
	RETURN false;
END $$;
SELECT pg_temp.connect('vc_a'), pg_temp.connect('vc_b'), pg_temp.connect('vc_c');

-- 1. A cancel while the pass sets itself up (here: a statement timeout
-- while it waits for a lock on the table of results under way) leaves the
-- finished pass's results as they were, and the next pass does not take
-- that finished pass for one to resume.
SELECT dblink_exec('vc_b', 'BEGIN');
SELECT dblink_exec('vc_b', 'LOCK ri_policy._pending');
SET client_min_messages = warning;
SELECT dblink_exec('vc_a', 'SET statement_timeout = 300');
SELECT ok(dblink_exec('vc_a', 'CALL ri_policy.validate(''vc_ref'')', false) = 'ERROR'
		  AND dblink_error_message('vc_a') LIKE '%canceling statement due to statement timeout%',
		  'a pass cancelled while it begins');
RESET client_min_messages;
SELECT dblink_exec('vc_b', 'ROLLBACK');
SELECT dblink_exec('vc_a', 'RESET statement_timeout');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'vc_ref'), 2000::bigint,
		  'the results of the last finished pass are still there');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vc_ref'), 'done',
		  'and its status is still done');
CALL ri_policy.validate('vc_ref');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'vc_ref'), 2000::bigint,
		  'the next pass finds every orphan again');

-- 2. Two key columns swap names between two batches of a pass: the pass
-- stops rather than read the other column, and the next one is right.
-- Session b holds the results table so that the pass waits after its first
-- batch, with the child still locked; session c's swap queues behind it and
-- runs before the pass's next batch.
SELECT dblink_exec('vc_b', 'BEGIN');
SELECT dblink_exec('vc_b', 'LOCK ri_policy._pending');
SELECT dblink_send_query('vc_a', $$CALL ri_policy.validate('vc_ref', batch_size => 200)$$);
SELECT ok(pg_temp.wait_for_lock('ri_policy._pending'), 'the pass waits after its first batch');
SELECT dblink_send_query('vc_c', $$ALTER TABLE regress_vc.child RENAME a TO tmp;
	ALTER TABLE regress_vc.child RENAME b TO a; ALTER TABLE regress_vc.child RENAME tmp TO b$$);
SELECT ok(pg_temp.wait_for_lock('regress_vc.child'), 'the swap waits for the pass''s batch');
SELECT dblink_exec('vc_b', 'ROLLBACK');
SELECT throws_ok($$SELECT * FROM dblink_get_result('vc_a') AS r(x text)$$, '55000',
		  'the columns of reference "vc_ref" changed while it was being validated',
		  'the pass stops with a clear error');
SELECT * FROM dblink_get_result('vc_a') AS r(x text);
SELECT * FROM dblink_get_result('vc_c') AS r(x text);
SELECT * FROM dblink_get_result('vc_c') AS r(x text);

CALL ri_policy.validate('vc_ref');
SELECT is((SELECT child_columns FROM ri_policy.references WHERE name = 'vc_ref'), '{b}'::name[],
		  'the reference followed its column');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'vc_ref'),
		  (SELECT count(DISTINCT b) FROM regress_vc.child c
			WHERE NOT EXISTS (SELECT 1 FROM regress_vc.parent p WHERE p.id = c.b)),
		  'and the next pass is exact');

SELECT dblink_disconnect('vc_a'), dblink_disconnect('vc_b'), dblink_disconnect('vc_c');
SET client_min_messages = warning;
SELECT ri_policy.drop_reference('vc_ref');
DROP SCHEMA regress_vc CASCADE;
SELECT * FROM finish();
