-- Outside a transaction block validate() commits after every batch: another
-- session sees its progress while it runs, it holds no snapshot or lock
-- beyond AccessShareLock between batches, writers are not blocked, and a run
-- cancelled or terminated part-way resumes to an exact result.  Two runs on
-- one reference never work at once.  Runs outside a transaction block (the
-- runs happen in other sessions, through dblink); cleans up after itself.
SELECT plan(21);

CREATE TABLE vb_parent (id int PRIMARY KEY);
INSERT INTO vb_parent SELECT generate_series(1, 1000);
CREATE TABLE vb_child (id int, pid int);
INSERT INTO vb_child SELECT g, g % 1100 FROM generate_series(1, 300000) g;
SELECT ri_policy.declare_reference('vb_child', '{pid}', 'vb_parent', name => 'vb');
CREATE TABLE vb_truth AS
SELECT jsonb_build_object('pid', pid) AS key, count(*) AS child_rows FROM vb_child
 WHERE NOT EXISTS (SELECT 1 FROM vb_parent p WHERE p.id = vb_child.pid) GROUP BY 1;

\ir ../lib/sessions.sql

CREATE TEMP TABLE run (pid int, started timestamptz, xact1 timestamptz, xact2 timestamptz);

-- 1. a run seen from outside
-- (in one process, the slowest way, so that the run outlasts the checks)
INSERT INTO run (pid)
SELECT pg_temp.start_run($$CALL ri_policy.validate('vb', batch_size => 100)$$,
						 ARRAY['SET ri_policy.max_parallel_workers = 0']);
SELECT ok(pg_temp.wait_batches('vb', 3), 'progress is visible while the run is under way');
UPDATE run SET started = (SELECT started_at FROM ri_policy.validation_progress WHERE reference = 'vb');
-- a transaction of the run, then a later one: wait for each (up to 5 s),
-- whatever the machine's speed
DO $$
BEGIN
	FOR i IN 1..1000 LOOP
		PERFORM pg_stat_clear_snapshot();
		UPDATE run SET xact1 = (SELECT xact_start FROM pg_stat_activity a WHERE a.pid = run.pid);
		EXIT WHEN (SELECT xact1 IS NOT NULL FROM run);
		PERFORM pg_sleep(0.005);
	END LOOP;
	FOR i IN 1..1000 LOOP
		PERFORM pg_stat_clear_snapshot();
		UPDATE run SET xact2 = (SELECT xact_start FROM pg_stat_activity a WHERE a.pid = run.pid);
		EXIT WHEN (SELECT xact2 > xact1 FROM run);
		PERFORM pg_sleep(0.005);
	END LOOP;
END $$;
SELECT ok((SELECT xact1 > started AND xact2 > xact1 FROM run),
		  'the run commits between batches: its transactions start after the run did');
SELECT is((SELECT count(*) FROM pg_locks l, run
			WHERE l.pid = run.pid AND l.locktype = 'relation'
			  AND l.relation IN ('vb_child'::regclass, 'vb_parent'::regclass)
			  AND l.mode <> 'AccessShareLock'),
		  0::bigint, 'it holds no lock stronger than AccessShareLock');

-- writers are not blocked while it runs
SET lock_timeout = '1s';
SELECT lives_ok($$INSERT INTO vb_child VALUES (-1, 5000)$$, 'an insert during the run is not blocked');
SELECT lives_ok($$DELETE FROM vb_child WHERE id = 2$$, 'a delete during the run is not blocked');
SELECT lives_ok($$UPDATE vb_parent SET id = id WHERE id = 3$$, 'a parent update during the run is not blocked');
RESET lock_timeout;

-- a second validate() of the same reference skips it, and the first goes on
CALL ri_policy.validate('vb');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vb'),
		  'running', 'a concurrent validate() skipped the reference');
SELECT is(pg_temp.finish_run(), 'ok', 'the run completes');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vb'),
		  'done', 'status done');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vb'
				 AND key NOT IN ('{"pid": 5000}', '{"pid": 2}')$$,
			  $$SELECT key, child_rows FROM vb_truth WHERE key <> '{"pid": 2}'$$,
			  'violations are right for the rows that were there throughout');

-- back to the original rows for the rest
DELETE FROM vb_child WHERE id = -1;
INSERT INTO vb_child VALUES (2, 2);

-- 2. cancel part-way, then resume
SELECT pg_temp.start_run($$CALL ri_policy.validate('vb', batch_size => 100)$$);
SELECT ok(pg_temp.wait_batches('vb', 5), 'the second run is under way');
SELECT pg_cancel_backend(p.pid) FROM pg_stat_activity p
 WHERE p.query LIKE 'CALL ri_policy.validate(%' AND p.pid <> pg_backend_pid();
SELECT matches(pg_temp.finish_run(), 'cancel', 'the run was cancelled');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vb'),
		  'interrupted', 'status interrupted');
SELECT ok((SELECT batches > 0 AND percent < 100 FROM ri_policy.validation_progress
			WHERE reference = 'vb'), 'it stopped part-way');
CALL ri_policy.validate('vb', batch_size => 100);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vb'$$,
			  $$SELECT key, child_rows FROM vb_truth$$,
			  'after resuming, violations are exact');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'vb'),
		  (SELECT count(*) FROM vb_child),
		  'every row was checked exactly once across the two calls');

-- 3. terminate part-way, then resume
CREATE TEMP TABLE run3 AS SELECT pg_temp.start_run($$CALL ri_policy.validate('vb', batch_size => 100)$$) AS pid;
SELECT ok(pg_temp.wait_batches('vb', 5), 'the third run is under way');
SELECT pg_terminate_backend(pid) FROM run3;
SELECT pg_temp.finish_run();
SELECT ok(pg_temp.wait_gone((SELECT pid FROM run3)), 'the runner is gone');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vb'),
		  'interrupted', 'a terminated run shows as interrupted');
CALL ri_policy.validate('vb', batch_size => 100);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vb'$$,
			  $$SELECT key, child_rows FROM vb_truth$$,
			  'after resuming, violations are exact');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'vb'),
		  (SELECT count(*) FROM vb_child),
		  'every row was checked exactly once');

SELECT ri_policy.drop_reference('vb');
DROP TABLE vb_child, vb_parent, vb_truth;
SELECT * FROM finish();
