-- test/pgtap/validate_batches.sql, through Citus: a distributed child and a
-- distributed parent that are not co-located.  Outside a transaction block
-- validate() commits after every batch: another session sees its progress
-- while it runs, it holds no lock beyond AccessShareLock, writers are not
-- blocked, and a run cancelled or terminated part-way resumes to an exact
-- result, each key read once.  Two runs on one reference never work at
-- once.  Runs outside a transaction block (the runs happen in other
-- sessions, through dblink); cleans up after itself.
SET client_min_messages = error;
SELECT plan(33);

CREATE TABLE vb_parent (id int PRIMARY KEY);
SELECT create_distributed_table('vb_parent', 'id', shard_count => 5);
INSERT INTO vb_parent SELECT generate_series(1, 40000);
CREATE TABLE vb_child (id int, pid int);
SELECT create_distributed_table('vb_child', 'id', shard_count => 3, colocate_with => 'none');
INSERT INTO vb_child SELECT g, g % 50000 FROM generate_series(1, 300000) g;
SELECT ri_policy.declare_reference('vb_child', '{pid}', 'vb_parent', name => 'vb');
CREATE TABLE vb_truth AS
SELECT jsonb_build_object('pid', pid) AS key, count(*) AS child_rows FROM vb_child
 WHERE pid NOT IN (SELECT id FROM vb_parent) GROUP BY 1;

\ir ../lib/sessions.sql

CREATE TEMP TABLE run (pid int, started timestamptz, xact1 timestamptz, xact2 timestamptz);

-- 1. a run seen from outside
INSERT INTO run (pid) SELECT pg_temp.start_run($$CALL ri_policy.validate('vb', batch_size => 100)$$);
SELECT ok(pg_temp.wait_batches('vb', 3), 'progress is visible while the run is under way');
UPDATE run SET started = (SELECT started_at FROM ri_policy.validation_progress WHERE reference = 'vb'),
			   xact1 = (SELECT xact_start FROM pg_stat_activity a WHERE a.pid = run.pid);
SELECT pg_sleep(0.05);
SELECT pg_stat_clear_snapshot();
UPDATE run SET xact2 = (SELECT xact_start FROM pg_stat_activity a WHERE a.pid = run.pid);
SELECT ok((SELECT xact1 > started AND xact2 > xact1 FROM run),
		  'the run commits between batches: its transactions start after the run did');
SELECT is((SELECT count(*) FROM pg_locks l, run
			WHERE l.pid = run.pid AND l.locktype = 'relation'
			  AND l.relation IN ('vb_child'::regclass, 'vb_parent'::regclass)
			  AND l.mode <> 'AccessShareLock'),
		  0::bigint, 'it holds no lock stronger than AccessShareLock on the coordinator');

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
-- the cancel may reach Citus's connection to a worker first, which says so
SELECT matches(pg_temp.finish_run(), 'cancel|failure on connection', 'the run was cancelled');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vb'),
		  'interrupted', 'status interrupted');
SELECT ok((SELECT batches > 0 AND orphan_keys < (SELECT count(*) FROM vb_truth)
			 FROM ri_policy.validation_progress WHERE reference = 'vb'), 'it stopped part-way');
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

-- 4. a plain child distributed by Citus while a pass reads it directly: its
-- rows go to the shards, and the pass, which read only some of them, fails
-- at its end instead of reporting from those
CREATE TABLE vb_plain (id int, pid int);
INSERT INTO vb_plain SELECT g, g % 50000 FROM generate_series(1, 300000) g;
SELECT ri_policy.declare_reference('vb_plain', '{pid}', 'vb_parent', name => 'vb_moved');
SELECT pg_temp.start_run($$CALL ri_policy.validate('vb_moved', batch_size => 20)$$);
SELECT ok(pg_temp.wait_batches('vb_moved', 5), 'the pass over the plain table is under way');
SELECT create_distributed_table('vb_plain', 'id');
SELECT matches(pg_temp.finish_run(), 'table "vb_plain" was added to Citus during the validation',
			   'the pass fails at its end');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'vb_moved'), 0::bigint,
		  'and records nothing');
CALL ri_policy.validate('vb_moved');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vb_moved'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM vb_plain
				 WHERE pid NOT IN (SELECT id FROM vb_parent) GROUP BY 1$$,
			  'the next pass, through Citus, is exact');

-- 5. a distributed child that Citus converts (replaces by a new table)
-- while a pass reads it: the pass fails with 55000 and records nothing,
-- and the next pass, on the new table, is exact.  The pass waits, mid-pass,
-- on a lock of its progress row held by session "pauser", then on the
-- conversion's own (its DROP forgets the unfinished pass): the conversion
-- commits in the middle of the pass, whatever the timing.
CREATE FUNCTION pg_temp.wait_lock(pid int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..2000 LOOP
		PERFORM pg_stat_clear_snapshot();
		IF EXISTS (SELECT 1 FROM pg_stat_activity a
					WHERE a.pid = wait_lock.pid AND a.wait_event_type = 'Lock') THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.005);
	END LOOP;
	RETURN false;
END $$;

-- run CALL validate(ref) in session "runner" and commit "conversion" in
-- session "conv" in the middle of it; return the CALL's error, or 'ok'
CREATE FUNCTION pg_temp.convert_under_pass(ref text, conversion text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	runner int;
	conv int;
BEGIN
	runner := pg_temp.start_run(format('CALL ri_policy.validate(%L, batch_size => 5)', ref));
	PERFORM pg_temp.wait_batches(ref, 3);
	PERFORM dblink_connect('pauser', pg_temp.conninfo());
	PERFORM dblink_exec('pauser', 'BEGIN');
	PERFORM * FROM dblink('pauser', format(
		'SELECT 1 FROM ri_policy._progress p JOIN ri_policy._reference r ON r.id = p.reference'
		' WHERE r.name = %L FOR UPDATE OF p', ref)) AS t(x int);
	IF NOT pg_temp.wait_lock(runner) THEN
		RAISE EXCEPTION 'the pass did not wait on the pauser';
	END IF;
	PERFORM dblink_connect('conv', pg_temp.conninfo());
	SELECT p INTO conv FROM dblink('conv', 'SELECT pg_backend_pid()') AS t(p int);
	PERFORM dblink_exec('conv', 'BEGIN');
	PERFORM dblink_send_query('conv', conversion);
	IF NOT pg_temp.wait_lock(conv) THEN
		RAISE EXCEPTION 'the conversion did not wait on the pass';
	END IF;
	PERFORM dblink_exec('pauser', 'COMMIT');
	PERFORM dblink_disconnect('pauser');
	PERFORM * FROM dblink_get_result('conv') AS t(r text);
	PERFORM * FROM dblink_get_result('conv') AS t(r text);
	IF NOT pg_temp.wait_lock(runner) THEN
		RAISE EXCEPTION 'the pass did not wait on the conversion';
	END IF;
	PERFORM dblink_exec('conv', 'COMMIT');
	PERFORM dblink_disconnect('conv');
	RETURN pg_temp.finish_run();
END $$;

CREATE TABLE vb_conv (id int, pid int);
SELECT create_distributed_table('vb_conv', 'id', shard_count => 3, colocate_with => 'none');
INSERT INTO vb_conv SELECT g, g % 50000 FROM generate_series(1, 60000) g;
SELECT ri_policy.declare_reference('vb_conv', '{pid}', 'vb_parent', name => 'vb_conv');
CREATE TABLE vb_conv_truth AS
SELECT jsonb_build_object('pid', pid) AS key, count(*) AS child_rows FROM vb_conv
 WHERE pid NOT IN (SELECT id FROM vb_parent) GROUP BY 1;
SELECT matches(pg_temp.convert_under_pass('vb_conv', 'SELECT undistribute_table(''vb_conv'')'),
			   'tables of reference "vb_conv" changed while it was being validated',
			   'a child undistributed under a pass: the pass fails');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'vb_conv'), 0::bigint,
		  'and records nothing');
CALL ri_policy.validate('vb_conv');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vb_conv'$$,
			  'SELECT key, child_rows FROM vb_conv_truth',
			  'the next pass, on the plain table, is exact');
SELECT is((SELECT child FROM ri_policy.validation_progress WHERE reference = 'vb_conv'),
		  'vb_conv'::regclass, 'the reference followed the table');

-- 6. the same with alter_distributed_table() (another shard count)
SELECT create_distributed_table('vb_conv', 'id', shard_count => 3, colocate_with => 'none');
SELECT truncate_local_data_after_distributing_table('vb_conv');
CALL ri_policy.validate('vb_conv', restart => true);
SELECT matches(pg_temp.convert_under_pass('vb_conv',
				 'SELECT alter_distributed_table(''vb_conv'', shard_count => 2, cascade_to_colocated => false)'),
			   'tables of reference "vb_conv" changed while it was being validated',
			   'a child converted by alter_distributed_table() under a pass: the pass fails');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vb_conv'), NULL,
		  'and its progress is gone with the old table');
CALL ri_policy.validate('vb_conv');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vb_conv'$$,
			  'SELECT key, child_rows FROM vb_conv_truth',
			  'the next pass, through Citus, is exact');
SELECT is((SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'vb_conv'::regclass), 2::bigint,
		  'on the converted table');

SELECT ri_policy.drop_reference('vb');
SELECT ri_policy.drop_reference('vb_moved');
SELECT ri_policy.drop_reference('vb_conv');
DROP TABLE vb_child, vb_parent, vb_truth, vb_plain, vb_conv, vb_conv_truth;
SELECT * FROM finish();
