-- What a batch of a full pass costs must not grow with the orphans found
-- so far, and what it relaxes must stay inside the pass.
--
-- A batch appends its orphaned keys to _pending_batch as one row, where
-- equal keys have one jsonb form; other keys (numeric) it matches with the
-- keys pending from earlier batches and writes them: by index and TID,
-- never by reading _pending or _violation whole (a plan kept from the first
-- batch, when _pending was empty, did that at every batch).  The progress
-- row counts the pending keys as they grow, so it must equal them after any
-- batch of a pass read by one process from its start.  Batches commit without waiting for their WAL
-- (synchronous_commit off for those commits only): the caller's setting is
-- the same after the call.  Runs outside a transaction block (the runs
-- happen in another session, through dblink, whose statistics reach
-- pg_stat_user_tables when it ends); cleans up after itself.
SELECT plan(21);

CREATE SCHEMA regress_vc;
CREATE TABLE regress_vc.parent (id int PRIMARY KEY);
INSERT INTO regress_vc.parent SELECT generate_series(1, 1000);
-- one row in 100 an orphan, of 500 keys, each met again in the second half
-- of the table (so that each batch of 1,000 rows adds ten orphaned keys to
-- the pending ones, as 5,000 orphans among 5M rows do); two numeric keys
-- equal as numbers (2000.0 and 2000.00) in different batches
CREATE TABLE regress_vc.child (id int, pid int);
INSERT INTO regress_vc.child
SELECT g, CASE WHEN g % 100 = 0 THEN 2000 + g / 100 % 500 ELSE g % 1000 + 1 END
  FROM generate_series(1, 100000) g;
CREATE TABLE regress_vc.nparent (id numeric PRIMARY KEY);
INSERT INTO regress_vc.nparent SELECT generate_series(1, 1000);
CREATE TABLE regress_vc.nchild (id int, pid numeric);
INSERT INTO regress_vc.nchild
SELECT g, CASE WHEN g = 10 THEN 2000.0 WHEN g = 90000 THEN 2000.00
			   ELSE g % 1000 + 1 END
  FROM generate_series(1, 100000) g;
SELECT ri_policy.declare_reference('regress_vc.child', '{pid}', 'regress_vc.parent',
								   name => 'vc');
SELECT ri_policy.declare_reference('regress_vc.nchild', '{pid}', 'regress_vc.nparent',
								   name => 'vcn');
CREATE TABLE regress_vc.truth AS
SELECT jsonb_build_object('pid', pid) AS key, count(*) AS child_rows FROM regress_vc.child c
 WHERE NOT EXISTS (SELECT 1 FROM regress_vc.parent p WHERE p.id = c.pid) GROUP BY 1;

\ir ../lib/sessions.sql

-- sequential scans of ri_policy's result tables so far, as the statistics
-- show them once every backend that made them has ended
CREATE FUNCTION pg_temp.result_seq_scans() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	RETURN (SELECT sum(seq_scan) FROM pg_stat_user_tables
			 WHERE schemaname = 'ri_policy' AND relname IN ('_pending', '_violation'));
END $$;

-- 1. a pass of 100 batches reads the result tables by index and TID, never
-- whole, but in its first and last steps; 0.5 read _pending whole at almost
-- every batch.  (A first pass records the keys as violations, so that the
-- second also has violations to match.)
SELECT pg_temp.wait_gone(pg_temp.run_alone(
	$$CALL ri_policy.validate('vc', batch_size => 1000)$$));
-- (this session's own scans reach the statistics a while after they
-- happen: flushed first, they cannot land in the measured window)
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE scans AS SELECT pg_temp.result_seq_scans() AS before;
SELECT ok(pg_temp.wait_gone(pg_temp.run_alone(
	$$CALL ri_policy.validate('vc', batch_size => 1000, restart => true)$$)),
	'a pass of many batches ran in a session of its own');
SELECT cmp_ok(pg_temp.result_seq_scans() - (SELECT before FROM scans), '<', 10::bigint,
			  'its batches read _pending and _violation by index, not whole');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vc'$$,
			  $$SELECT key, child_rows FROM regress_vc.truth$$,
			  'its violations are exact: keys found again in later batches add up');
SELECT is((SELECT orphan_keys FROM ri_policy.validation_progress WHERE reference = 'vc'),
		  (SELECT count(*) FROM regress_vc.truth), 'its progress counts every key once');

-- 2. the progress row counts the pending keys after any batch: cancelled
-- part-way, and resumed
CREATE FUNCTION pg_temp.pending_keys(ref text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(DISTINCT k) FROM ri_policy._reference r,
		   LATERAL (SELECT p.key FROM ri_policy._pending p WHERE p.reference = r.id
					UNION ALL
					SELECT unnest(b.keys) FROM ri_policy._pending_batch b
					 WHERE b.reference = r.id) AS x(k)
	 WHERE r.name = ref$$;
SELECT dblink_connect('vc_part', pg_temp.conninfo());
CREATE TEMP TABLE part AS
SELECT p AS pid FROM dblink('vc_part', 'SELECT pg_backend_pid()') AS t(p int);
SELECT dblink_send_query('vc_part',
	$$CALL ri_policy.validate('vc', batch_size => 100, restart => true)$$);
-- (past the first half, where the keys are met again: 443 batches in all)
SELECT ok(pg_temp.wait_batches('vc', 300), 'a pass of small batches is under way');
SELECT pg_cancel_backend(pid) FROM part;
SELECT * FROM dblink_get_result('vc_part', false) AS t(r text);
SELECT dblink_disconnect('vc_part');
-- the cancelled session is gone (its lock on the reference with it): the
-- call below resumes the pass rather than skip a reference still locked
SELECT pg_temp.wait_gone(pid) FROM part;
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vc'),
		  'interrupted', 'it was cancelled part-way');
SELECT is((SELECT orphan_keys FROM ri_policy.validation_progress WHERE reference = 'vc'),
		  pg_temp.pending_keys('vc'),
		  'its progress counts the keys its committed batches left pending');
CALL ri_policy.validate('vc', batch_size => 100);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vc'$$,
			  $$SELECT key, child_rows FROM regress_vc.truth$$,
			  'resumed, its violations are exact');
SELECT is((SELECT orphan_keys FROM ri_policy.validation_progress WHERE reference = 'vc'),
		  (SELECT count(*) FROM regress_vc.truth), 'resumed, its progress counts each key once');

-- 3. keys equal by the child type's equality in different batches are one
-- key, counted once, in the form first read
CALL ri_policy.validate('vcn', batch_size => 1000);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vcn'$$,
			  $$VALUES ('{"pid": 2000.0}'::jsonb, 2::bigint)$$,
			  '2000.0 and 2000.00, read 90 batches apart, are one key of two rows');
SELECT is((SELECT orphan_keys FROM ri_policy.validation_progress WHERE reference = 'vcn'),
		  1::bigint, 'and one key in the progress row');

-- 4. keys of a by-reference type are probed from the page they are on
-- several rows at a time: every row still counts, at page and batch ends
CREATE TABLE regress_vc.tparent (k text PRIMARY KEY);
INSERT INTO regress_vc.tparent SELECT 'key ' || g FROM generate_series(1, 1000) g;
CREATE TABLE regress_vc.tchild (id int, k text);
INSERT INTO regress_vc.tchild
SELECT g, CASE WHEN g % 7 = 0 THEN 'orphan ' || g % 13 ELSE 'key ' || (g % 1000 + 1) END
  FROM generate_series(1, 20000) g;
SELECT ri_policy.declare_reference('regress_vc.tchild', '{k}', 'regress_vc.tparent',
								   name => 'vct');
CALL ri_policy.validate('vct', batch_size => 333);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vct'$$,
			  $$SELECT jsonb_build_object('k', k), count(*) FROM regress_vc.tchild c
				 WHERE NOT EXISTS (SELECT 1 FROM regress_vc.tparent p WHERE p.k = c.k)
				 GROUP BY 1$$,
			  'text keys: violations equal the NOT EXISTS truth');

-- 5. a pass appends each batch's keys to _pending_batch, one row a batch,
-- without reading the pending keys: a key met again is an entry more,
-- added up at the end, never an update of _pending; past work_mem of keys
-- too (only the progress row's count, while the pass runs, may then count
-- a key twice).  5,000 orphaned keys, each in two batches.
CREATE TABLE regress_vc.mchild (id int, pid int);
INSERT INTO regress_vc.mchild
SELECT g, CASE WHEN g % 4 = 0 THEN 10000 + g / 4 % 5000 ELSE g % 1000 + 1 END
  FROM generate_series(1, 40000) g;
SELECT ri_policy.declare_reference('regress_vc.mchild', '{pid}', 'regress_vc.parent',
								   name => 'vcm');
-- rows inserted into and updated in _pending, inserted into _pending_batch
CREATE FUNCTION pg_temp.pending_writes() RETURNS bigint[] LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	RETURN (SELECT ARRAY[sum(n_tup_ins) FILTER (WHERE relname = '_pending'),
						 sum(n_tup_upd) FILTER (WHERE relname = '_pending'),
						 sum(n_tup_ins) FILTER (WHERE relname = '_pending_batch')]
			  FROM pg_stat_user_tables
			 WHERE schemaname = 'ri_policy' AND relname IN ('_pending', '_pending_batch'));
END $$;
-- (this session's own writes so far reach the statistics first)
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE writes AS SELECT pg_temp.pending_writes() AS before;
SELECT pg_temp.wait_gone(pg_temp.run_alone(
	$$SET ri_policy.max_parallel_workers = 0;
	  CALL ri_policy.validate('vcm', batch_size => 1000)$$));
SELECT is(pg_temp.pending_writes(),
		  (SELECT ARRAY[before[1], before[2], before[3] + batches]
			 FROM writes, ri_policy.validation_progress WHERE reference = 'vcm'),
		  'its 5,000 keys, each met in two batches, were appended a row a batch, and never merged');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vcm'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM regress_vc.mchild
				 WHERE pid > 1000 GROUP BY 1$$,
			  'their rows added up');
SELECT pg_stat_force_next_flush();
UPDATE writes SET before = pg_temp.pending_writes();
SELECT pg_temp.wait_gone(pg_temp.run_alone(
	$$SET ri_policy.max_parallel_workers = 0; SET work_mem = 64;
	  CALL ri_policy.validate('vcm', batch_size => 1000, restart => true)$$));
SELECT is(pg_temp.pending_writes(),
		  (SELECT ARRAY[before[1], before[2], before[3] + batches]
			 FROM writes, ri_policy.validation_progress WHERE reference = 'vcm'),
		  'past work_mem, keys are still appended a row a batch');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vcm'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM regress_vc.mchild
				 WHERE pid > 1000 GROUP BY 1$$,
			  'still exact');
SELECT is((SELECT orphan_keys FROM ri_policy.validation_progress WHERE reference = 'vcm'),
		  5000::bigint, 'and its progress counts each key once');

-- ... but not numeric keys, whose equal values may have several forms
-- (2.0, 2.00): added up by jsonb equality, the one shown would be any of
-- them.  Shown, as always, as the first row read has it; merged into their
-- rows of _pending (updates), nothing appended.
CREATE TABLE regress_vc.fchild (id int, pid numeric);
INSERT INTO regress_vc.fchild
SELECT g, CASE WHEN g % 10 = 0
			   THEN (CASE WHEN g <= 10000 THEN '500' || (g / 10 % 7) || '.5'
						  ELSE '500' || (g / 10 % 7) || '.50' END)::numeric
			   ELSE g % 1000 + 1 END
  FROM generate_series(1, 20000) g;
SELECT ri_policy.declare_reference('regress_vc.fchild', '{pid}', 'regress_vc.nparent',
								   name => 'vcf');
SELECT pg_stat_force_next_flush();
UPDATE writes SET before = pg_temp.pending_writes();
SELECT pg_temp.wait_gone(pg_temp.run_alone(
	$$SET ri_policy.max_parallel_workers = 0;
	  CALL ri_policy.validate('vcf', batch_size => 1)$$));
SELECT ok((SELECT w[2] > before[2] AND w[3] = before[3]
			 FROM writes, pg_temp.pending_writes() w),
		  'numeric keys met again are merged into their rows');
SELECT set_eq($$SELECT key::text, child_rows FROM ri_policy.violations WHERE reference = 'vcf'$$,
			  $$SELECT '{"pid": 500' || k || '.5}', count(*) FROM generate_series(0, 6) k
				  JOIN regress_vc.fchild c ON c.pid = ('500' || k || '.5')::numeric GROUP BY k$$,
			  'each numeric key shown as its first row has it, its rows counted once');
SELECT is((SELECT orphan_keys FROM ri_policy.validation_progress WHERE reference = 'vcf'),
		  7::bigint, 'seven keys in the progress row');

-- 6. the caller's synchronous_commit is the same after the call
SELECT dblink_connect('vc_sync', pg_temp.conninfo());
SELECT dblink_exec('vc_sync', $$SET synchronous_commit = remote_write$$);
SELECT dblink_exec('vc_sync', $$CALL ri_policy.validate('vc', batch_size => 1000, restart => true)$$);
SELECT is((SELECT s FROM dblink('vc_sync', 'SHOW synchronous_commit') AS t(s text)),
		  'remote_write', 'synchronous_commit is the caller''s again after the pass');
SELECT dblink_disconnect('vc_sync');

SELECT ri_policy.drop_reference('vc');
SELECT ri_policy.drop_reference('vcn');
SELECT ri_policy.drop_reference('vct');
SELECT ri_policy.drop_reference('vcm');
SELECT ri_policy.drop_reference('vcf');
DROP SCHEMA regress_vc CASCADE;
SELECT * FROM finish();
