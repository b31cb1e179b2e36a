-- Parallel validation (src/parallel.c): a pass read by the caller and
-- background workers, piece by piece, finds exactly what a single-process
-- pass and NOT EXISTS find, for several key types and a partitioned child;
-- a key whose rows lie in several pieces is one key with all its rows; a
-- cancelled or terminated leader, or a terminated worker, leaves a pass
-- that resumes exactly, with workers or without; no worker outlives its
-- leader; workers act as the caller; the settings check their range.  Runs
-- outside a transaction block (CALL commits between batches only there);
-- cleans up after itself.
SELECT plan(64);

CREATE SCHEMA regress_vp;
CREATE TABLE regress_vp.p_int (id int PRIMARY KEY);
INSERT INTO regress_vp.p_int SELECT generate_series(1, 1000);
-- orphans spread through every piece; key 5000 in every 97th row, so in
-- every piece
CREATE TABLE regress_vp.c_int (id int, k int);
INSERT INTO regress_vp.c_int
SELECT g, CASE WHEN g % 97 = 0 THEN 5000 ELSE g % 1100 END FROM generate_series(1, 300000) g;

CREATE TABLE regress_vp.p_uuid (id uuid PRIMARY KEY);
INSERT INTO regress_vp.p_uuid SELECT md5(g::text)::uuid FROM generate_series(1, 500) g;
CREATE TABLE regress_vp.c_uuid (id int, k uuid);
INSERT INTO regress_vp.c_uuid SELECT g, md5((g % 550)::text)::uuid FROM generate_series(1, 30000) g;

CREATE TABLE regress_vp.p_text (id text PRIMARY KEY);
INSERT INTO regress_vp.p_text SELECT 'key-' || g FROM generate_series(1, 500) g;
CREATE TABLE regress_vp.c_text (id int, k text);
INSERT INTO regress_vp.c_text SELECT g, 'key-' || (g % 530) FROM generate_series(1, 30000) g;

CREATE TABLE regress_vp.p_two (a int, b text, PRIMARY KEY (a, b));
INSERT INTO regress_vp.p_two SELECT g, 'b' || (g % 7) FROM generate_series(1, 500) g;
CREATE TABLE regress_vp.c_two (id int, a int, b text);
INSERT INTO regress_vp.c_two SELECT g, g % 520, 'b' || ((g % 520) % 7) FROM generate_series(1, 30000) g;

-- a partitioned child: pieces of each partition
CREATE TABLE regress_vp.c_part (id int, k int) PARTITION BY RANGE (id);
CREATE TABLE regress_vp.c_part1 PARTITION OF regress_vp.c_part FOR VALUES FROM (0) TO (20000);
CREATE TABLE regress_vp.c_part2 PARTITION OF regress_vp.c_part FOR VALUES FROM (20000) TO (100000);
INSERT INTO regress_vp.c_part SELECT g, g % 1050 FROM generate_series(1, 50000) g;

SELECT ri_policy.declare_reference('regress_vp.c_int', '{k}', 'regress_vp.p_int', name => 'vp_int');
SELECT ri_policy.declare_reference('regress_vp.c_uuid', '{k}', 'regress_vp.p_uuid', name => 'vp_uuid');
SELECT ri_policy.declare_reference('regress_vp.c_text', '{k}', 'regress_vp.p_text', name => 'vp_text');
SELECT ri_policy.declare_reference('regress_vp.c_two', '{a,b}', 'regress_vp.p_two', name => 'vp_two');
SELECT ri_policy.declare_reference('regress_vp.c_part', '{k}', 'regress_vp.p_int', name => 'vp_part');

CREATE TABLE regress_vp.truth AS
SELECT 'vp_int' AS ref, jsonb_build_object('k', k) AS key, count(*) AS child_rows
  FROM regress_vp.c_int c WHERE NOT EXISTS (SELECT 1 FROM regress_vp.p_int p WHERE p.id = c.k) GROUP BY 1, 2
UNION ALL
SELECT 'vp_uuid', jsonb_build_object('k', k), count(*)
  FROM regress_vp.c_uuid c WHERE NOT EXISTS (SELECT 1 FROM regress_vp.p_uuid p WHERE p.id = c.k) GROUP BY 1, 2
UNION ALL
SELECT 'vp_text', jsonb_build_object('k', k), count(*)
  FROM regress_vp.c_text c WHERE NOT EXISTS (SELECT 1 FROM regress_vp.p_text p WHERE p.id = c.k) GROUP BY 1, 2
UNION ALL
SELECT 'vp_two', jsonb_build_object('a', a, 'b', b), count(*)
  FROM regress_vp.c_two c
 WHERE NOT EXISTS (SELECT 1 FROM regress_vp.p_two p WHERE p.a = c.a AND p.b = c.b) GROUP BY 1, 2
UNION ALL
SELECT 'vp_part', jsonb_build_object('k', k), count(*)
  FROM regress_vp.c_part c WHERE NOT EXISTS (SELECT 1 FROM regress_vp.p_int p WHERE p.id = c.k) GROUP BY 1, 2;

-- 1. single-process passes, then parallel ones, of every reference
SET ri_policy.max_parallel_workers = 0;
CALL ri_policy.validate('vp_int', batch_size => 500);
CALL ri_policy.validate('vp_uuid', batch_size => 500);
CALL ri_policy.validate('vp_text', batch_size => 500);
CALL ri_policy.validate('vp_two', batch_size => 500);
CALL ri_policy.validate('vp_part', batch_size => 500);
CREATE TABLE regress_vp.single AS
SELECT reference AS ref, key, child_rows FROM ri_policy.violations WHERE reference LIKE 'vp\_%';

SET ri_policy.max_parallel_workers = 3;
SET ri_policy.min_parallel_blocks = 0;
CALL ri_policy.validate('vp_int', batch_size => 500, restart => true);
CALL ri_policy.validate('vp_uuid', batch_size => 500, restart => true);
CALL ri_policy.validate('vp_text', batch_size => 500, restart => true);
CALL ri_policy.validate('vp_two', batch_size => 500, restart => true);
CALL ri_policy.validate('vp_part', batch_size => 500, restart => true);

SELECT set_eq(format($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = %L$$, r),
			  format($$SELECT key, child_rows FROM regress_vp.truth WHERE ref = %L$$, r),
			  r || ': a parallel pass finds what NOT EXISTS finds')
  FROM unnest(ARRAY['vp_int', 'vp_uuid', 'vp_text', 'vp_two', 'vp_part']) r;
SELECT set_eq(format($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = %L$$, r),
			  format($$SELECT key, child_rows FROM regress_vp.single WHERE ref = %L$$, r),
			  r || ': and what a single-process pass finds')
  FROM unnest(ARRAY['vp_int', 'vp_uuid', 'vp_text', 'vp_two', 'vp_part']) r;
SELECT is((SELECT child_rows FROM ri_policy.violations
			WHERE reference = 'vp_int' AND key = '{"k": 5000}'),
		  (SELECT count(*) FROM regress_vp.c_int WHERE k = 5000),
		  'a key whose rows lie in every piece is one key with all its rows');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'vp_part'),
		  (SELECT count(*) FROM regress_vp.c_part), 'every row was checked once');
SELECT is((SELECT count(*) FROM ri_policy._progress_share), 0::bigint,
		  'a finished pass leaves no pieces behind');

-- 2. runs in another session, watched from here
\ir ../lib/sessions.sql

-- start a parallel pass of vp_int with up to n workers in session "runner"
CREATE FUNCTION pg_temp.start_pass(workers int) RETURNS int LANGUAGE sql AS $$
	SELECT pg_temp.start_run($q$CALL ri_policy.validate('vp_int', batch_size => 50)$q$,
							 ARRAY[format('SET ri_policy.max_parallel_workers = %s', workers),
								   'SET ri_policy.min_parallel_blocks = 0'])$$;

CREATE FUNCTION pg_temp.workers() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	RETURN (SELECT count(*) FROM pg_stat_activity
			 WHERE backend_type = 'ri_policy validation worker');
END $$;

CREATE FUNCTION pg_temp.wait_workers() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..2000 LOOP
		PERFORM pg_stat_clear_snapshot();
		-- a worker that has connected to the database
		IF EXISTS (SELECT FROM pg_stat_activity
					WHERE backend_type = 'ri_policy validation worker' AND datid IS NOT NULL) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.005);
	END LOOP;
	RETURN false;
END $$;

CREATE FUNCTION pg_temp.wait_no_workers() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..1000 LOOP
		IF pg_temp.workers() = 0 THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RETURN false;
END $$;

CREATE FUNCTION pg_temp.exact(label text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
	RETURN NEXT set_eq($q$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vp_int'$q$,
					   $q$SELECT key, child_rows FROM regress_vp.truth WHERE ref = 'vp_int'$q$,
					   label || ': violations are exact');
	RETURN NEXT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'vp_int'),
				   (SELECT count(*) FROM regress_vp.c_int),
				   label || ': every row was checked exactly once across the calls');
END $$;

CREATE TEMP TABLE run (pid int);

-- 2a. progress, workers as the caller, then cancel the leader; resume
-- without workers
INSERT INTO run SELECT pg_temp.start_pass(3);
SELECT ok(pg_temp.wait_batches('vp_int', 10), 'progress is visible while a parallel pass runs');
SELECT ok(pg_temp.wait_workers(), 'workers help the pass');
SELECT is((SELECT count(*) FROM pg_stat_activity a, run
			WHERE a.backend_type = 'ri_policy validation worker' AND a.datid IS NOT NULL
			  AND a.usename IS DISTINCT FROM (SELECT usename FROM pg_stat_activity b
											   WHERE b.pid = run.pid)),
		  0::bigint, 'each worker is connected as the caller');
SELECT is((SELECT count(*) FROM pg_locks l
			WHERE l.pid IN (SELECT pid FROM pg_stat_activity
							 WHERE backend_type = 'ri_policy validation worker')
			  AND l.locktype = 'relation'
			  AND l.relation IN ('regress_vp.c_int'::regclass, 'regress_vp.p_int'::regclass)
			  AND l.mode <> 'AccessShareLock'),
		  0::bigint, 'workers hold no lock stronger than AccessShareLock');
SELECT pg_cancel_backend(pid) FROM run;
SELECT matches(pg_temp.finish_run(), 'cancel', 'the leader was cancelled');
SELECT is(pg_temp.workers(), 0::bigint, 'no worker outlives a cancelled leader');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vp_int'),
		  'interrupted', 'status interrupted');
SELECT ok((SELECT count(*) > 1 FROM ri_policy._progress_share s
			 JOIN ri_policy._reference r ON r.id = s.reference WHERE r.name = 'vp_int'),
		  'the pass was read in pieces');
SET ri_policy.max_parallel_workers = 0;
CALL ri_policy.validate('vp_int', batch_size => 500);
SELECT pg_temp.exact('resumed without workers');

-- 2b. terminate the leader; resume with workers
TRUNCATE run;
INSERT INTO run SELECT pg_temp.start_pass(3);
SELECT ok(pg_temp.wait_batches('vp_int', 10), 'the second pass is under way');
SELECT ok(pg_temp.wait_workers(), 'with workers');
SELECT pg_terminate_backend(pid) FROM run;
SELECT pg_temp.finish_run();
SELECT ok(pg_temp.wait_no_workers(), 'no worker outlives a terminated leader');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vp_int'),
		  'interrupted', 'a terminated pass shows as interrupted');
SET ri_policy.max_parallel_workers = 2;
CALL ri_policy.validate('vp_int', batch_size => 500);
SELECT pg_temp.exact('resumed with a different number of workers');

-- 2c. terminate a worker: the call fails, and the pass resumes exactly
TRUNCATE run;
INSERT INTO run SELECT pg_temp.start_pass(3);
SELECT ok(pg_temp.wait_batches('vp_int', 10), 'the third pass is under way');
SELECT ok(pg_temp.wait_workers(), 'with workers');
-- a worker in the middle of a batch, so of a piece it claimed (one that
-- has claimed none yet, or has none left, leaves no work undone when it
-- exits, and the others read what it would have)
CREATE FUNCTION pg_temp.busy_worker() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	p int;
BEGIN
	FOR i IN 1..5000 LOOP
		PERFORM pg_stat_clear_snapshot();
		SELECT l.pid INTO p FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		 WHERE a.backend_type = 'ri_policy validation worker' AND l.granted
		   AND l.relation = 'regress_vp.c_int'::regclass
		 LIMIT 1;
		IF p IS NOT NULL THEN
			RETURN p;
		END IF;
		PERFORM pg_sleep(0.002);
	END LOOP;
	RETURN NULL;
END $$;
SELECT pg_terminate_backend(pg_temp.busy_worker());
SELECT matches(pg_temp.finish_run(), 'validation worker', 'the leader fails when a worker is terminated');
SELECT is(pg_temp.workers(), 0::bigint, 'and its other workers are gone');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vp_int'),
		  'interrupted', 'the pass is interrupted, resumable');
SET ri_policy.max_parallel_workers = 3;
CALL ri_policy.validate('vp_int', batch_size => 500);
SELECT pg_temp.exact('resumed after a worker was terminated');

-- 3a. a table rewritten (VACUUM FULL, CLUSTER: rows move, keeping their
-- xmin) between two calls of a pass read in pieces, when a later piece of
-- the table was read and its first piece not: the pass starts over rather
-- than read the moved rows a second time.  The pieces are renumbered so that
-- the one process reads them in the order concurrent processes can leave
-- them (the upper piece of rw2 first, its first piece last); a lock on rw2
-- stops the resumed pass before that first piece.
CREATE TABLE regress_vp.p_rw (id int PRIMARY KEY);
INSERT INTO regress_vp.p_rw SELECT generate_series(1, 1000);
CREATE TABLE regress_vp.c_rw (id int, k int) PARTITION BY RANGE (id);
-- rw1 of many pages (batches are whole pages): the tests stop a pass in it
CREATE TABLE regress_vp.rw1 PARTITION OF regress_vp.c_rw FOR VALUES FROM (0) TO (30000)
	WITH (fillfactor = 10);
CREATE TABLE regress_vp.rw2 PARTITION OF regress_vp.c_rw FOR VALUES FROM (30000) TO (100000)
	WITH (autovacuum_enabled = false);
CREATE INDEX ON regress_vp.rw2 (id);
INSERT INTO regress_vp.c_rw SELECT g, CASE WHEN g = 1 THEN 5000 ELSE g % 1000 + 1 END
  FROM generate_series(1, 29999) g;
INSERT INTO regress_vp.c_rw SELECT g, CASE WHEN g % 3 = 0 THEN 5000 + g % 7 ELSE g % 1000 + 1 END
  FROM generate_series(30000, 69999) g;
-- the lower half of rw2 dead before the pass: a rewrite moves its upper
-- half's rows down into the blocks of its first piece
DELETE FROM regress_vp.c_rw WHERE id BETWEEN 30000 AND 49999;
SELECT ri_policy.declare_reference('regress_vp.c_rw', '{k}', 'regress_vp.p_rw', name => 'vp_rw');

CREATE FUNCTION pg_temp.wait_for(cond text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	ok boolean;
BEGIN
	FOR i IN 1..3000 LOOP
		PERFORM pg_stat_clear_snapshot();
		EXECUTE cond INTO ok;
		IF ok THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RETURN false;
END $$;

CREATE FUNCTION pg_temp.stop_before_first_piece(rewrite text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	pid int;
	first bigint;
BEGIN
	PERFORM dblink_connect('rw_lock', pg_temp.conninfo());
	PERFORM dblink_connect('rw_run', pg_temp.conninfo());
	SELECT p INTO pid FROM dblink('rw_run', 'SELECT pg_backend_pid()') AS t(p int);
	PERFORM dblink_exec('rw_run', 'SET ri_policy.min_parallel_blocks = 0');

	-- a pass cut into pieces, cancelled while it reads rw1, rw2 locked
	-- from the time the pieces are there
	PERFORM dblink_exec('rw_run', 'SET ri_policy.max_parallel_workers = 1');
	PERFORM dblink_send_query('rw_run', $q$CALL ri_policy.validate('vp_rw', batch_size => 5, restart => true)$q$);
	PERFORM pg_temp.wait_for($c$SELECT count(*) = 4 FROM ri_policy._progress_share s
			 JOIN ri_policy._reference r ON r.id = s.reference WHERE r.name = 'vp_rw'$c$);
	PERFORM dblink_exec('rw_lock', 'BEGIN');
	PERFORM dblink_exec('rw_lock', 'LOCK TABLE regress_vp.rw2 IN ACCESS EXCLUSIVE MODE');
	PERFORM pg_cancel_backend(pid);
	BEGIN
		PERFORM * FROM dblink_get_result('rw_run') AS t(r text);
	EXCEPTION WHEN query_canceled OR OTHERS THEN
		NULL;
	END;
	RETURN NEXT ok((SELECT count(*) FILTER (WHERE s.rel = 'regress_vp.rw2'::regclass AND NOT done
			  AND (resume_block = 0 OR resume_block IN (SELECT x.end_block FROM ri_policy._progress_share x
														 WHERE x.reference = s.reference AND x.rel = s.rel))) = 2
				 AND bool_or(s.rel = 'regress_vp.rw1'::regclass AND NOT done)
				FROM ri_policy._progress_share s JOIN ri_policy._reference r ON r.id = s.reference
			   WHERE r.name = 'vp_rw'),
				   rewrite || ': the pass was cut into pieces, cancelled before rw2 and rw1 were read');
	PERFORM dblink_exec('rw_lock', 'ROLLBACK');
	PERFORM dblink_disconnect('rw_run');
	-- committed (another session), for the next call to see it
	PERFORM dblink_exec('rw_lock', $q$
	UPDATE ri_policy._progress_share s SET piece = piece + 100
	  FROM ri_policy._reference r WHERE r.id = s.reference AND r.name = 'vp_rw'$q$);
	PERFORM dblink_exec('rw_lock', $q$
	UPDATE ri_policy._progress_share s SET piece = o.n
	  FROM (SELECT x.reference, x.piece,
				   row_number() OVER (ORDER BY x.rel = 'regress_vp.rw2'::regclass AND x.end_block IS NULL DESC,
											   x.rel = 'regress_vp.rw2'::regclass, x.piece) - 1 AS n
			  FROM ri_policy._progress_share x JOIN ri_policy._reference r ON r.id = x.reference
			 WHERE r.name = 'vp_rw') o
	 WHERE s.reference = o.reference AND s.piece = o.piece$q$);

	-- resume by one process; once it reads rw2's upper piece, lock rw1,
	-- which it reads next: it stops before rw2's first piece
	PERFORM dblink_connect('rw_run', pg_temp.conninfo());
	SELECT p INTO pid FROM dblink('rw_run', 'SELECT pg_backend_pid()') AS t(p int);
	PERFORM dblink_exec('rw_run', 'SET ri_policy.min_parallel_blocks = 0');
	PERFORM dblink_exec('rw_run', 'SET ri_policy.max_parallel_workers = 0');
	PERFORM dblink_send_query('rw_run', $q$CALL ri_policy.validate('vp_rw', batch_size => 20)$q$);
	SELECT resume_block INTO first FROM ri_policy._progress_share s
	  JOIN ri_policy._reference r ON r.id = s.reference WHERE r.name = 'vp_rw' AND s.piece = 0;
	RETURN NEXT ok(pg_temp.wait_for(format($c$SELECT done OR resume_block > %s FROM ri_policy._progress_share s
			 JOIN ri_policy._reference r ON r.id = s.reference
			WHERE r.name = 'vp_rw' AND s.piece = 0$c$, first)),
				   rewrite || ': the resumed pass reads the upper piece of rw2');
	PERFORM dblink_exec('rw_lock', 'BEGIN');
	PERFORM dblink_exec('rw_lock', 'LOCK TABLE regress_vp.rw1 IN ACCESS EXCLUSIVE MODE');
	RETURN NEXT ok(pg_temp.wait_for(format($c$SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE pid = %s AND NOT granted)$c$, pid)),
				   rewrite || ': then waits for rw1');
	PERFORM pg_cancel_backend(pid);
	BEGIN
		PERFORM * FROM dblink_get_result('rw_run') AS t(r text);
	EXCEPTION WHEN query_canceled OR OTHERS THEN
		NULL;
	END;
	PERFORM dblink_exec('rw_lock', 'ROLLBACK');
	PERFORM dblink_disconnect('rw_lock');
	PERFORM dblink_disconnect('rw_run');
	RETURN NEXT is((SELECT string_agg(format('%s:%s', piece, done), ',' ORDER BY piece)
					  FROM ri_policy._progress_share s JOIN ri_policy._reference r ON r.id = s.reference
					 WHERE r.name = 'vp_rw' AND s.piece IN (0, 3)),
				   '0:t,3:f', rewrite || ': rw2 was read but for its first piece, not begun');
END $$;

CREATE FUNCTION pg_temp.exact_after(rewrite text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
	RETURN NEXT set_eq($q$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vp_rw'$q$,
					   $q$SELECT jsonb_build_object('k', k), count(*) FROM regress_vp.c_rw c
						   WHERE NOT EXISTS (SELECT 1 FROM regress_vp.p_rw p WHERE p.id = c.k)
						   GROUP BY 1$q$,
					   rewrite || ': the resumed pass starts over and is exact');
	RETURN NEXT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'vp_rw'),
				   'done', rewrite || ': and is done');
END $$;

SET ri_policy.min_parallel_blocks = 0;
SELECT pg_temp.stop_before_first_piece('VACUUM FULL');
VACUUM FULL regress_vp.rw2;
SET ri_policy.max_parallel_workers = 0;
CALL ri_policy.validate('vp_rw', batch_size => 50);
SELECT pg_temp.exact_after('VACUUM FULL');

-- again with rw2's lower half dead (it holds ids 50000 to 69999 in order),
-- for a reference with no results yet
DELETE FROM regress_vp.c_rw WHERE id BETWEEN 50000 AND 59999;
SELECT ri_policy.drop_reference('vp_rw');
SELECT ri_policy.declare_reference('regress_vp.c_rw', '{k}', 'regress_vp.p_rw', name => 'vp_rw');
SELECT pg_temp.stop_before_first_piece('CLUSTER');
CLUSTER regress_vp.rw2 USING rw2_id_idx;
SET ri_policy.max_parallel_workers = 2;
CALL ri_policy.validate('vp_rw', batch_size => 50);
SELECT pg_temp.exact_after('CLUSTER');

-- 3b. a partition, or an inheritance child, swapped for another (their
-- number unchanged) between two calls of a pass read in pieces: the pass
-- starts over rather than read the pieces of the table that left and none
-- of the one that came, resumed outside or inside a transaction block
CREATE TABLE regress_vp.c_sw (id int, k int) PARTITION BY RANGE (id);
CREATE TABLE regress_vp.sw1 PARTITION OF regress_vp.c_sw FOR VALUES FROM (0) TO (50000);
CREATE TABLE regress_vp.sw2 PARTITION OF regress_vp.c_sw FOR VALUES FROM (50000) TO (100000);
INSERT INTO regress_vp.c_sw SELECT g, CASE WHEN g % 97 = 0 THEN 5000 + g % 3 ELSE g % 1000 + 1 END
  FROM generate_series(1, 99999) g;
CREATE TABLE regress_vp.sw3 (LIKE regress_vp.c_sw);
INSERT INTO regress_vp.sw3 SELECT g, 7777 FROM generate_series(50000, 52999) g;
SELECT ri_policy.declare_reference('regress_vp.c_sw', '{k}', 'regress_vp.p_rw', name => 'vp_sw');

CREATE TABLE regress_vp.c_in (id int, k int);
CREATE TABLE regress_vp.in1 () INHERITS (regress_vp.c_in);
CREATE TABLE regress_vp.in2 () INHERITS (regress_vp.c_in);
INSERT INTO regress_vp.in1 SELECT g, CASE WHEN g % 97 = 0 THEN 5001 ELSE g % 1000 + 1 END
  FROM generate_series(1, 50000) g;
INSERT INTO regress_vp.in2 SELECT g, CASE WHEN g % 97 = 0 THEN 5002 ELSE g % 1000 + 1 END
  FROM generate_series(1, 50000) g;
CREATE TABLE regress_vp.in3 (id int, k int);
INSERT INTO regress_vp.in3 SELECT g, 7777 FROM generate_series(1, 3000) g;
SELECT ri_policy.declare_reference('regress_vp.c_in', '{k}', 'regress_vp.p_rw', name => 'vp_in');

CREATE FUNCTION pg_temp.cancelled_pass(ref text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	pid int;
	st text;
BEGIN
	PERFORM dblink_connect('sw_run', pg_temp.conninfo());
	SELECT p INTO pid FROM dblink('sw_run', 'SELECT pg_backend_pid()') AS t(p int);
	PERFORM dblink_exec('sw_run', 'SET ri_policy.min_parallel_blocks = 0');
	PERFORM dblink_exec('sw_run', 'SET ri_policy.max_parallel_workers = 2');
	PERFORM dblink_send_query('sw_run', format('CALL ri_policy.validate(%L, batch_size => 20)', ref));
	PERFORM pg_temp.wait_for(format($c$SELECT batches >= 20 FROM ri_policy.validation_progress
									   WHERE reference = %L AND status = 'running'$c$, ref));
	PERFORM pg_cancel_backend(pid);
	BEGIN
		PERFORM * FROM dblink_get_result('sw_run') AS t(r text);
	EXCEPTION WHEN query_canceled OR OTHERS THEN
		NULL;
	END;
	PERFORM dblink_disconnect('sw_run');
	SELECT status INTO st FROM ri_policy.validation_progress WHERE reference = ref;
	RETURN st;
END $$;

CREATE FUNCTION pg_temp.exact_sw(ref text, child text, label text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN NEXT set_eq(format('SELECT key, child_rows FROM ri_policy.violations WHERE reference = %L', ref),
					   format($q$SELECT jsonb_build_object('k', k), count(*) FROM %s c
								WHERE NOT EXISTS (SELECT 1 FROM regress_vp.p_rw p WHERE p.id = c.k)
								GROUP BY 1$q$, child),
					   label || ': the resumed pass starts over and is exact');
END $$;

SELECT is(pg_temp.cancelled_pass('vp_sw'), 'interrupted', 'partitions: a pass in pieces was interrupted');
ALTER TABLE regress_vp.c_sw DETACH PARTITION regress_vp.sw2;
ALTER TABLE regress_vp.c_sw ATTACH PARTITION regress_vp.sw3 FOR VALUES FROM (50000) TO (100000);
SET ri_policy.max_parallel_workers = 1;
CALL ri_policy.validate('vp_sw', batch_size => 1000);
SELECT pg_temp.exact_sw('vp_sw', 'regress_vp.c_sw', 'a partition swapped');

SELECT is(pg_temp.cancelled_pass('vp_in'), 'interrupted', 'inheritance: a pass in pieces was interrupted');
ALTER TABLE regress_vp.in2 NO INHERIT regress_vp.c_in;
ALTER TABLE regress_vp.in3 INHERIT regress_vp.c_in;
BEGIN;
CALL ri_policy.validate('vp_in', batch_size => 1000);
COMMIT;
SELECT pg_temp.exact_sw('vp_in', 'regress_vp.c_in', 'an inheritance child swapped, resumed in a transaction block');

-- 3c. a real foreign key, read in parallel: the workers find its pass
CREATE TABLE regress_vp.c_fk (id int, a int, b int);
INSERT INTO regress_vp.c_fk SELECT g, CASE WHEN g % 17 = 0 THEN NULL ELSE g % 1100 END, (g % 1100) % 5
  FROM generate_series(1, 40000) g;
CREATE TABLE regress_vp.p_fk (a int, b int, PRIMARY KEY (a, b));
INSERT INTO regress_vp.p_fk SELECT g, g % 5 FROM generate_series(1, 1000) g;
ALTER TABLE regress_vp.c_fk ADD CONSTRAINT c_fk_full FOREIGN KEY (a, b) REFERENCES regress_vp.p_fk MATCH FULL NOT VALID;
CREATE TABLE regress_vp.c_fkp (id int, a int, b int);
INSERT INTO regress_vp.c_fkp SELECT * FROM regress_vp.c_fk;
ALTER TABLE regress_vp.c_fkp ADD CONSTRAINT c_fkp_simple FOREIGN KEY (a, b) REFERENCES regress_vp.p_fk NOT VALID;
SET ri_policy.max_parallel_workers = 2;
CALL ri_policy.validate('c_fk_full', batch_size => 500);
RESET ri_policy.max_parallel_workers;
CALL ri_policy.validate('c_fkp_simple', batch_size => 500);
SELECT set_eq($q$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'c_fk_full'$q$,
			  $q$SELECT jsonb_build_object('a', a, 'b', b), count(*) FROM regress_vp.c_fk c
				  WHERE (a IS NULL) <> (b IS NULL)
					 OR (a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM regress_vp.p_fk p WHERE p.a = c.a AND p.b = c.b))
				  GROUP BY 1$q$,
			  'a foreign key (MATCH FULL) validated with two workers is exact');
SELECT set_eq($q$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'c_fkp_simple'$q$,
			  $q$SELECT jsonb_build_object('a', a, 'b', b), count(*) FROM regress_vp.c_fkp c
				  WHERE a IS NOT NULL AND b IS NOT NULL
					AND NOT EXISTS (SELECT 1 FROM regress_vp.p_fk p WHERE p.a = c.a AND p.b = c.b)
				  GROUP BY 1$q$,
			  'a foreign key (MATCH SIMPLE) with the default number of workers is exact');

-- 3d. the workers use the caller's default_transaction_read_only and
-- lock_timeout, not those stored for its login role or database: a pass
-- that runs alone runs in parallel too
CREATE ROLE regress_vp_login LOGIN;
CREATE TABLE regress_vp.c_ro (id int, k int);
INSERT INTO regress_vp.c_ro SELECT g, CASE WHEN g % 97 = 0 THEN 5003 ELSE g % 1000 + 1 END
  FROM generate_series(1, 30000) g;
ALTER TABLE regress_vp.c_ro OWNER TO regress_vp_login;
GRANT USAGE ON SCHEMA regress_vp TO regress_vp_login;
GRANT REFERENCES, SELECT ON regress_vp.p_rw TO regress_vp_login;
SET ROLE regress_vp_login;
SELECT ri_policy.declare_reference('regress_vp.c_ro', '{k}', 'regress_vp.p_rw', name => 'vp_ro');
RESET ROLE;

CREATE FUNCTION pg_temp.login_pass(label text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	msg text := 'ok';
BEGIN
	PERFORM dblink_connect('ro_run', pg_temp.conninfo() || ' user=regress_vp_login');
	PERFORM dblink_exec('ro_run', 'SET default_transaction_read_only = off');
	PERFORM dblink_exec('ro_run', 'SET lock_timeout = 0');
	PERFORM dblink_exec('ro_run', 'SET ri_policy.min_parallel_blocks = 0');
	PERFORM dblink_exec('ro_run', 'SET ri_policy.max_parallel_workers = 2');
	BEGIN
		PERFORM dblink_exec('ro_run', $q$CALL ri_policy.validate('vp_ro', batch_size => 500, restart => true)$q$);
	EXCEPTION WHEN OTHERS THEN
		msg := SQLERRM;
	END;
	PERFORM dblink_disconnect('ro_run');
	RETURN NEXT is(msg, 'ok', label || ': the parallel pass succeeds');
	RETURN NEXT set_eq($q$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vp_ro'$q$,
					   $q$SELECT jsonb_build_object('k', k), count(*) FROM regress_vp.c_ro c
						   WHERE NOT EXISTS (SELECT 1 FROM regress_vp.p_rw p WHERE p.id = c.k) GROUP BY 1$q$,
					   label || ': and is exact');
END $$;

ALTER ROLE regress_vp_login SET default_transaction_read_only = on;
SELECT pg_temp.login_pass('read-only by default for the login role');
ALTER ROLE regress_vp_login RESET default_transaction_read_only;
DO $$ BEGIN
	EXECUTE format('ALTER ROLE regress_vp_login IN DATABASE %I SET default_transaction_read_only = on',
				   current_database());
END $$;
SELECT pg_temp.login_pass('read-only by default for the role in this database');
DO $$ BEGIN
	EXECUTE format('ALTER ROLE regress_vp_login IN DATABASE %I RESET default_transaction_read_only',
				   current_database());
END $$;

-- 3. a role that does not own the child is refused, workers or not
CREATE ROLE regress_vp_other;
GRANT USAGE ON SCHEMA regress_vp TO regress_vp_other;
SET ROLE regress_vp_other;
SELECT throws_ok($$CALL ri_policy.validate('vp_int')$$, '42501', NULL,
				 'a role without ownership of the child is refused');
RESET ROLE;
SELECT is(pg_temp.workers(), 0::bigint, 'no worker was started for it');

-- 4. the settings
SELECT throws_ok($$SET ri_policy.max_parallel_workers = -2$$, '22023', NULL,
				 'max_parallel_workers below -1 is refused');
SELECT throws_ok($$SET ri_policy.max_parallel_workers = 65$$, '22023', NULL,
				 'max_parallel_workers above 64 is refused');
SELECT throws_ok($$SET ri_policy.min_parallel_blocks = -1$$, '22023', NULL,
				 'a negative min_parallel_blocks is refused');
RESET ri_policy.max_parallel_workers;
SELECT is(current_setting('ri_policy.max_parallel_workers'), '-1',
		  'max_parallel_workers follows max_parallel_maintenance_workers by default');

RESET ri_policy.min_parallel_blocks;
SET client_min_messages = warning;
SELECT ri_policy.drop_reference(r)
  FROM unnest(ARRAY['vp_int', 'vp_uuid', 'vp_text', 'vp_two', 'vp_part', 'vp_rw', 'vp_sw', 'vp_in',
					 'vp_ro']) r;
DROP SCHEMA regress_vp CASCADE;
DROP ROLE regress_vp_other;
DROP ROLE regress_vp_login;
RESET client_min_messages;
SELECT * FROM finish();
