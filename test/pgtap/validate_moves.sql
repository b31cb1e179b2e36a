-- Rows that move while a pass runs (issue 9, finding 4).  A pass reads the
-- child in block ranges, a fresh snapshot each; an UPDATE puts a row's new
-- version wherever there is room.  A completed pass counts exactly the rows
-- not written while it ran, each once; a row written meanwhile may be
-- missed, never counted twice, and the next pass finds it, tracked or not.
--
-- The child has four rows a block, every block full, so an update that
-- cannot stay in its block goes to the end of the table, or to a block a
-- VACUUM left room in.  Sessions through dblink; session b holds the
-- progress table, so that the pass waits before it records a batch, and
-- lets it go one batch at a time.  Runs outside a transaction
-- block (VACUUM) and cleans up after itself.
SELECT plan(42);

CREATE SCHEMA regress_mv;
CREATE TABLE regress_mv.parent (id int PRIMARY KEY);

CREATE FUNCTION pg_temp.connect(name text) RETURNS text LANGUAGE sql AS $$
	SELECT dblink_connect(name, format('host=%s port=%s dbname=%s',
		split_part(current_setting('unix_socket_directories'), ',', 1),
		current_setting('port'), current_database()))
$$;
SELECT pg_temp.connect('mv_a'), pg_temp.connect('mv_b'), pg_temp.connect('mv_c'),
	   pg_temp.connect('mv_d'), pg_temp.connect('mv_e');
CREATE TEMP TABLE pass_pid AS
SELECT pid FROM dblink('mv_a', 'SELECT pg_backend_pid()') AS t(pid int);
-- b and e take turns holding the progress table (see step())
CREATE TEMP TABLE holder (name text, pid int, holds boolean);
INSERT INTO holder
SELECT n, (SELECT pid FROM dblink(n, 'SELECT pg_backend_pid()') AS t(pid int)), n = 'mv_b'
  FROM unnest(ARRAY['mv_b', 'mv_e']) n;

-- A child of the given number of full blocks, keys 1, 2, ... (every one an
-- orphan), with a reference mv_ref, validated once.
CREATE FUNCTION pg_temp.fresh(blocks int, tracked boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL client_min_messages = warning;
	DROP TABLE IF EXISTS regress_mv.child;
	CREATE TABLE regress_mv.child (k int, pad text) WITH (autovacuum_enabled = off);
	ALTER TABLE regress_mv.child ALTER pad SET STORAGE PLAIN;
	INSERT INTO regress_mv.child SELECT g, repeat('x', 2000) FROM generate_series(1, blocks * 4) g;
	CREATE INDEX ON regress_mv.child (k);
	PERFORM ri_policy.declare_reference('regress_mv.child', '{k}', 'regress_mv.parent',
										name => 'mv_ref');
	IF tracked THEN
		PERFORM ri_policy.track('mv_ref');
	END IF;
	CALL ri_policy.validate('mv_ref');
END $$;

-- Wait (up to a minute) until no other backend of this database holds back
-- the horizon of VACUUM: an autovacuum ANALYZE of another table there, slow
-- on a loaded machine, kept the deleted rows, so block 0 had no room for
-- the update meant to go behind the pass.
CREATE FUNCTION pg_temp.horizon_free() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..2400 LOOP
		EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity
							   WHERE datname = current_database() AND pid <> pg_backend_pid()
								 AND backend_xmin IS NOT NULL);
		PERFORM pg_sleep(0.025);
	END LOOP;
END $$;

-- The block a key's row is in now
CREATE FUNCTION pg_temp.block(which int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	RETURN (SELECT (ctid::text::point)[0]::int FROM regress_mv.child WHERE k = which);
END $$;

-- The number of rows recorded for a key (0: not recorded)
CREATE FUNCTION pg_temp.rows(ref text, which int) RETURNS bigint LANGUAGE sql AS $$
	SELECT COALESCE((SELECT v.child_rows FROM ri_policy.violations v
					  WHERE v.reference = ref AND v.key = jsonb_build_object('k', which)), 0)
$$;

-- Does the pass wait for a lock (within a minute)?
-- (waits of up to a minute: a loaded machine is slow, never wrong)
CREATE FUNCTION pg_temp.waits() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..2400 LOOP
		IF EXISTS (SELECT 1 FROM pg_locks WHERE pid = (SELECT pid FROM pass_pid)
					  AND NOT granted) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.025);
	END LOOP;
	RETURN false;
END $$;

-- What session b runs to hold ri_policy._progress: a pass waits before it
-- records anything there (the start of the pass, or a batch's progress).
CREATE FUNCTION pg_temp.lock_sql(ref text) RETURNS text LANGUAGE sql AS $$
	SELECT 'LOCK TABLE ri_policy._progress IN SHARE MODE'
$$;

-- Start a full pass of ref in session a (batches of one block), b holding
-- the progress table, and let it read its first batch.
CREATE FUNCTION pg_temp.start(ref text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	UPDATE holder SET holds = (name = 'mv_b');
	PERFORM dblink_exec('mv_b', 'BEGIN');
	PERFORM dblink_exec('mv_b', pg_temp.lock_sql(ref));
	PERFORM dblink_send_query('mv_a', format(
		'CALL ri_policy.validate(%L, batch_size => 4, full => true)', ref));
	RETURN pg_temp.waits() AND pg_temp.step(ref);
END $$;

-- Let the pass record the batch it waits with and read the next one, and
-- no more, however the sessions are scheduled: the session that does not
-- hold the table asks for it, and queues behind the waiting pass; then the
-- holder lets go.  The pass gets the table first, the other session as
-- soon as the pass's batch commits, and the pass waits again.
CREATE FUNCTION pg_temp.step(ref text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	now_holds text := (SELECT name FROM holder WHERE holds);
	next text := (SELECT name FROM holder WHERE NOT holds);
	next_pid int := (SELECT pid FROM holder WHERE NOT holds);
	queued boolean := false;
BEGIN
	PERFORM dblink_send_query(next, 'BEGIN; ' || pg_temp.lock_sql(ref));
	FOR i IN 1..2400 LOOP
		queued := EXISTS (SELECT 1 FROM pg_locks WHERE pid = next_pid AND NOT granted);
		EXIT WHEN queued;
		PERFORM pg_sleep(0.025);
	END LOOP;
	IF NOT queued THEN
		RETURN false;
	END IF;
	PERFORM dblink_exec(now_holds, 'ROLLBACK');
	UPDATE holder SET holds = NOT holds;
	FOR i IN 1..2400 LOOP
		IF dblink_is_busy(next) = 0 THEN
			-- the results of its two statements, and the end
			FOR j IN 1..3 LOOP
				PERFORM * FROM dblink_get_result(next) AS r(x text);
			END LOOP;
			RETURN pg_temp.waits();
		END IF;
		PERFORM pg_sleep(0.025);
	END LOOP;
	RETURN false;
END $$;

-- Let the pass go on without waiting.
CREATE FUNCTION pg_temp.release() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM dblink_exec((SELECT name FROM holder WHERE holds), 'ROLLBACK');
END $$;

-- Let the pass run to its end.
CREATE FUNCTION pg_temp.finish() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.release();
	PERFORM * FROM dblink_get_result('mv_a') AS r(x text);
	PERFORM * FROM dblink_get_result('mv_a') AS r(x text);
END $$;

-- Every row never written since the table was filled is recorded once.
CREATE FUNCTION pg_temp.untouched_exact(ref text, keys int[]) RETURNS boolean
LANGUAGE sql AS $$
	SELECT bool_and(pg_temp.rows(ref, k) = 1) FROM unnest(keys) k
$$;

-- 1. Key 1 moves forward, past the pass, after the pass read it; key 2 was
-- moved there by a transaction open when the pass began (in a
-- subtransaction), which commits after the pass read key 2's old version.
-- Each is counted once.
SELECT pg_temp.fresh(10, false);
SELECT dblink_exec('mv_d', 'BEGIN');
SELECT dblink_exec('mv_d', 'SAVEPOINT s');
SELECT dblink_exec('mv_d', $$UPDATE regress_mv.child SET pad = repeat('y', 2000) WHERE k = 2$$);
SELECT dblink_exec('mv_d', 'RELEASE s');
SELECT txid_current() > 0 AS "a transaction ends: the next snapshot is a new one";
SELECT ok(pg_temp.start('mv_ref'), 'the pass has read its first block');
SELECT dblink_exec('mv_c', $$UPDATE regress_mv.child SET pad = repeat('z', 2000) WHERE k = 1$$);
SELECT dblink_exec('mv_d', 'COMMIT');
SELECT ok(pg_temp.block(1) = 10 AND pg_temp.block(2) = 10, 'keys 1 and 2 went ahead of the pass');
SELECT pg_temp.finish();
SELECT is(pg_temp.rows('mv_ref', 1), 1::bigint, 'a row moved ahead of the pass is counted once');
SELECT is(pg_temp.rows('mv_ref', 2), 1::bigint,
		  'so is one moved by a transaction that was open when the pass began');
SELECT ok(pg_temp.untouched_exact('mv_ref', ARRAY(SELECT generate_series(3, 40))),
		  'every other row is counted once');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'mv_ref'), 'done',
		  'the pass is done');

-- The same when that transaction has more subtransactions than a snapshot
-- lists (which then looks them up in pg_subtrans).
SELECT pg_temp.fresh(10, false);
CREATE TABLE regress_mv.scratch (i int);
SELECT dblink_exec('mv_d', 'BEGIN');
SELECT dblink_exec('mv_d', $sql$DO $do$
BEGIN
	FOR i IN 1..70 LOOP
		BEGIN
			INSERT INTO regress_mv.scratch VALUES (i);
		EXCEPTION WHEN division_by_zero THEN NULL;
		END;
	END LOOP;
	BEGIN
		UPDATE regress_mv.child SET pad = repeat('y', 2000) WHERE k = 2;
	EXCEPTION WHEN division_by_zero THEN NULL;
	END;
END $do$$sql$);
SELECT txid_current() > 0 AS "a transaction ends: the next snapshot is a new one";
SELECT ok(pg_temp.start('mv_ref'), 'the pass has read its first block');
SELECT dblink_exec('mv_d', 'COMMIT');
SELECT is(pg_temp.block(2), 10, 'key 2 went ahead of the pass');
SELECT pg_temp.finish();
SELECT is(pg_temp.rows('mv_ref', 2), 1::bigint,
		  'a row moved by a transaction with many subtransactions is counted once');

-- 2. Key 40 moves back, into the block the pass has read, and is missed;
-- the next (full) pass finds it.
SELECT pg_temp.fresh(10, false);
DELETE FROM regress_mv.child WHERE k IN (2, 3, 4);
SELECT pg_temp.horizon_free();
VACUUM regress_mv.child;
SELECT ok(pg_temp.start('mv_ref'), 'the pass has read its first block');
SELECT dblink_exec('mv_c', $$UPDATE regress_mv.child SET pad = repeat('z', 2000) WHERE k = 40$$);
SELECT is(pg_temp.block(40), 0, 'key 40 went behind the pass');
SELECT pg_temp.finish();
SELECT ok(pg_temp.rows('mv_ref', 40) <= 1 AND
		  pg_temp.untouched_exact('mv_ref', ARRAY[1] || ARRAY(SELECT generate_series(5, 39))),
		  'the pass counts every row never written once, and key 40 at most once');
CALL ri_policy.validate('mv_ref');
SELECT is(pg_temp.rows('mv_ref', 40), 1::bigint, 'the next pass finds key 40');

-- 3. The same for a tracked reference: the next pass is incremental, and
-- the UPDATE made while the pass was under way recorded the key it kept.
SELECT pg_temp.fresh(10, true);
DELETE FROM regress_mv.child WHERE k IN (2, 3, 4);
SELECT pg_temp.horizon_free();
VACUUM regress_mv.child;
SELECT ok(pg_temp.start('mv_ref'), 'the pass of a tracked reference has read its first block');
SELECT dblink_exec('mv_c', $$UPDATE regress_mv.child SET pad = repeat('z', 2000) WHERE k = 40$$);
SELECT is(pg_temp.block(40), 0, 'key 40 went behind the pass');
SELECT pg_temp.finish();
CALL ri_policy.validate('mv_ref');
SELECT is((SELECT blocks_total FROM ri_policy._progress p JOIN ri_policy._reference r
			ON r.id = p.reference WHERE r.name = 'mv_ref'), 0::bigint,
		  'the next pass is incremental');
SELECT is(pg_temp.rows('mv_ref', 40), 1::bigint, 'and finds key 40');
SELECT ok(pg_temp.untouched_exact('mv_ref', ARRAY[1] || ARRAY(SELECT generate_series(5, 39))),
		  'and keeps every other key');

-- 4. A transaction open when the pass began moved key 39 back (its UPDATE
-- recorded nothing: no pass was under way), and commits after the pass
-- read that block, before it reads the old one.  The pass hands the key
-- to the next pass, which finds it.
SELECT pg_temp.fresh(10, true);
DELETE FROM regress_mv.child WHERE k IN (2, 3, 4);
SELECT pg_temp.horizon_free();
VACUUM regress_mv.child;
SELECT dblink_exec('mv_d', 'BEGIN');
SELECT dblink_exec('mv_d', $$UPDATE regress_mv.child SET pad = repeat('y', 2000) WHERE k = 39$$);
SELECT ok(pg_temp.start('mv_ref'), 'the pass has read its first block');
SELECT dblink_exec('mv_d', 'COMMIT');
SELECT is(pg_temp.block(39), 0, 'key 39 is behind the pass');
SELECT pg_temp.finish();
CALL ri_policy.validate('mv_ref');
SELECT is(pg_temp.rows('mv_ref', 39), 1::bigint,
		  'the next pass finds a key moved back by a transaction open when the pass began');

-- 5. The same, but the transaction commits before the pass reads the
-- block: the pass sees the new version, skips it as written during the
-- pass, and hands its key over.  (Session c holds the parent so that the
-- pass waits after it has begun, before its first batch.)
SELECT pg_temp.fresh(10, true);
DELETE FROM regress_mv.child WHERE k IN (2, 3, 4);
SELECT pg_temp.horizon_free();
VACUUM regress_mv.child;
SELECT dblink_exec('mv_d', 'BEGIN');
SELECT dblink_exec('mv_d', $$UPDATE regress_mv.child SET pad = repeat('y', 2000) WHERE k = 39$$);
SELECT dblink_exec('mv_b', 'BEGIN');
SELECT dblink_exec('mv_b', pg_temp.lock_sql('mv_ref'));
SELECT dblink_send_query('mv_a', $$CALL ri_policy.validate('mv_ref', batch_size => 4, full => true)$$);
SELECT ok(pg_temp.waits(), 'the pass waits to begin');
SELECT dblink_send_query('mv_c', 'BEGIN; LOCK regress_mv.parent');
SELECT pg_sleep(0.2);
SELECT dblink_exec('mv_b', 'ROLLBACK');
SELECT * FROM dblink_get_result('mv_c') AS r(x text);
SELECT * FROM dblink_get_result('mv_c') AS r(x text);
SELECT * FROM dblink_get_result('mv_c') AS r(x text);
SELECT ok(pg_temp.waits(), 'the pass has begun, and waits for the parent');
SELECT dblink_exec('mv_d', 'COMMIT');
SELECT dblink_exec('mv_c', 'COMMIT');
SELECT * FROM dblink_get_result('mv_a') AS r(x text);
SELECT * FROM dblink_get_result('mv_a') AS r(x text);
CALL ri_policy.validate('mv_ref');
SELECT is(pg_temp.rows('mv_ref', 39), 1::bigint, 'the next pass finds the key handed over');

-- 6. Rows inserted during the pass, one of them then moved ahead of the
-- pass after it read them: never counted twice.
SELECT pg_temp.fresh(3, false);
SELECT ok(pg_temp.start('mv_ref'), 'the pass has read its first block');
SELECT dblink_exec('mv_c', $$INSERT INTO regress_mv.child
	SELECT g, repeat('x', 2000) FROM generate_series(101, 108) g$$);
SELECT ok(pg_temp.step('mv_ref') AND pg_temp.step('mv_ref') AND pg_temp.step('mv_ref'),
		  'the pass has read the inserted rows');
SELECT dblink_exec('mv_c', $$UPDATE regress_mv.child SET pad = repeat('z', 2000) WHERE k = 101$$);
SELECT is(pg_temp.block(101), 5, 'one of them went ahead of the pass');
SELECT pg_temp.finish();
SELECT ok(pg_temp.rows('mv_ref', 101) <= 1, 'a row inserted during the pass is not counted twice');
SELECT ok(pg_temp.untouched_exact('mv_ref', ARRAY(SELECT generate_series(1, 12))),
		  'every row never written is counted once');

-- 7. A pass cancelled after two batches, rows it counted moved ahead of
-- it while it is interrupted (one of them then frozen by VACUUM), resumed:
-- the resumed pass keeps the start of the pass.
SELECT pg_temp.fresh(10, false);
SELECT ok(pg_temp.start('mv_ref') AND pg_temp.step('mv_ref') AND pg_temp.step('mv_ref'),
		  'the pass has read three blocks');
SELECT pg_cancel_backend(pid) FROM pass_pid;
SELECT pg_temp.release();
SELECT * FROM dblink_get_result('mv_a', false) AS r(x text);
SELECT * FROM dblink_get_result('mv_a', false) AS r(x text);
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'mv_ref'),
		  'interrupted', 'the pass is interrupted');
UPDATE regress_mv.child SET pad = repeat('z', 2000) WHERE k = 1;
SELECT dblink_exec('mv_d', 'BEGIN');
SELECT dblink_exec('mv_d', $$UPDATE regress_mv.child SET pad = repeat('y', 2000) WHERE k = 5$$);
VACUUM (FREEZE) regress_mv.child;
SELECT dblink_exec('mv_d', 'COMMIT');
-- (frozen: every version whose xid is older than relfrozenxid is)
SELECT ok(pg_temp.block(1) >= 10 AND pg_temp.block(5) >= 10
		  AND (SELECT age(c.relfrozenxid) < age(t.xmin)
				 FROM pg_class c, regress_mv.child t
				WHERE c.oid = 'regress_mv.child'::regclass AND t.k = 1),
		  'keys 1 and 5 went ahead of the pass, key 1 frozen there');
CALL ri_policy.validate('mv_ref');
SELECT is(pg_temp.rows('mv_ref', 1), 1::bigint, 'a resumed pass counts a frozen row moved ahead once');
SELECT is(pg_temp.rows('mv_ref', 5), 1::bigint, 'and a row moved while it was interrupted');
SELECT ok(pg_temp.untouched_exact('mv_ref', ARRAY(SELECT generate_series(1, 40))),
		  'and every row once');

-- 8. The same for a tracked reference, key 40 moved back while the pass is
-- interrupted: the UPDATE records it, and the next pass finds it.
SELECT pg_temp.fresh(10, true);
DELETE FROM regress_mv.child WHERE k IN (2, 3, 4);
SELECT pg_temp.horizon_free();
VACUUM regress_mv.child;
SELECT ok(pg_temp.start('mv_ref') AND pg_temp.step('mv_ref'), 'the pass has read two blocks');
SELECT pg_cancel_backend(pid) FROM pass_pid;
SELECT pg_temp.release();
SELECT * FROM dblink_get_result('mv_a', false) AS r(x text);
SELECT * FROM dblink_get_result('mv_a', false) AS r(x text);
UPDATE regress_mv.child SET pad = repeat('z', 2000) WHERE k = 40;
SELECT is(pg_temp.block(40), 0, 'key 40 went behind the interrupted pass');
CALL ri_policy.validate('mv_ref');
CALL ri_policy.validate('mv_ref');
SELECT is(pg_temp.rows('mv_ref', 40), 1::bigint, 'the pass after the resumed one finds key 40');

-- 9. VACUUM FULL between two batches puts the rows elsewhere: the pass
-- starts over, and counts each row once.
SELECT pg_temp.fresh(10, false);
DELETE FROM regress_mv.child WHERE k <= 8;
SELECT ok(pg_temp.start('mv_ref') AND pg_temp.step('mv_ref'), 'the pass has read two batches');
SELECT dblink_send_query('mv_c', 'VACUUM FULL regress_mv.child');
SELECT pg_sleep(0.2);
SELECT pg_temp.step('mv_ref');
SELECT * FROM dblink_get_result('mv_c') AS r(x text);
SELECT * FROM dblink_get_result('mv_c') AS r(x text);
SELECT pg_temp.finish();
SELECT ok(pg_temp.untouched_exact('mv_ref', ARRAY(SELECT generate_series(9, 40)))
		  AND (SELECT count(*) FROM ri_policy.violations WHERE reference = 'mv_ref') = 32,
		  'a pass whose table was rewritten under it starts over, and is exact');

-- 10. A row moved to a partition the pass has not read yet is counted once.
CREATE TABLE regress_mv.pchild (k int, part int, pad text) PARTITION BY LIST (part);
CREATE TABLE regress_mv.pchild_1 PARTITION OF regress_mv.pchild FOR VALUES IN (1);
CREATE TABLE regress_mv.pchild_2 PARTITION OF regress_mv.pchild FOR VALUES IN (2);
INSERT INTO regress_mv.pchild SELECT g, 1 + (g > 8)::int, repeat('x', 2000)
  FROM generate_series(1, 16) g;
SELECT ri_policy.declare_reference('regress_mv.pchild', '{k}', 'regress_mv.parent',
								   name => 'mv_part');
CALL ri_policy.validate('mv_part');
SELECT ok(pg_temp.start('mv_part'), 'the pass has read its first block');
SELECT dblink_exec('mv_c', 'UPDATE regress_mv.pchild SET part = 2 WHERE k = 1');
SELECT pg_temp.finish();
SELECT is(pg_temp.rows('mv_part', 1), 1::bigint,
		  'a row moved to a partition not read yet is counted once');

SELECT dblink_disconnect('mv_a'), dblink_disconnect('mv_b'), dblink_disconnect('mv_c'),
	   dblink_disconnect('mv_e'),
	   dblink_disconnect('mv_d');
SET client_min_messages = warning;
DROP SCHEMA regress_mv CASCADE;
SELECT * FROM finish();
