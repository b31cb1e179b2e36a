-- A pass whose keys have one jsonb form appends each batch's orphans to
-- ri_policy._pending_batch as one row (src/results.c, RiRecorded), in one
-- process or several, and the end of the pass adds up each key's rows over
-- every batch, process and form (rows of _pending too, as 0.8 wrote them,
-- for a pass interrupted before the update).  What the registry does to a
-- pass's pending keys it does to these: a column renamed renames their
-- keys, a reference or table dropped drops them.  Runs outside a
-- transaction block (passes are cancelled part-way from another session);
-- cleans up after itself.
SELECT plan(47);

CREATE SCHEMA regress_va;
CREATE TABLE regress_va.parent (id int PRIMARY KEY);
INSERT INTO regress_va.parent SELECT generate_series(1, 1000);
-- one row in 50 an orphan, of 700 keys, each in several batches and pieces
CREATE TABLE regress_va.child (id int, pid int);
INSERT INTO regress_va.child
SELECT g, CASE WHEN g % 50 = 0 THEN 5000 + g % 700 ELSE g % 1000 + 1 END
  FROM generate_series(1, 200000) g;
SELECT ri_policy.declare_reference('regress_va.child', '{pid}', 'regress_va.parent',
								   name => 'va');
CREATE TABLE regress_va.truth AS
SELECT pid, count(*) AS child_rows FROM regress_va.child c
 WHERE NOT EXISTS (SELECT 1 FROM regress_va.parent p WHERE p.id = c.pid) GROUP BY 1;

\ir ../lib/sessions.sql

CREATE FUNCTION pg_temp.exact(ref text, col text DEFAULT 'pid') RETURNS text LANGUAGE sql AS $$
	SELECT format($q$SELECT key, child_rows FROM ri_policy.violations WHERE reference = %L$q$,
				  ref) || ' EXCEPT ALL ' ||
		   format($q$SELECT jsonb_build_object(%L, pid), child_rows FROM regress_va.truth$q$,
				  col)$$;
-- _pending's rows inserted, _pending_batch's rows inserted, as statistics
CREATE FUNCTION pg_temp.writes() RETURNS bigint[] LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	RETURN (SELECT ARRAY[sum(n_tup_ins) FILTER (WHERE relname = '_pending'),
						 sum(n_tup_ins) FILTER (WHERE relname = '_pending_batch')]
			  FROM pg_stat_user_tables
			 WHERE schemaname = 'ri_policy' AND relname IN ('_pending', '_pending_batch'));
END $$;
CREATE FUNCTION pg_temp.batch_rows(ref text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM ri_policy._pending_batch b
	  JOIN ri_policy._reference r ON r.id = b.reference WHERE r.name = ref$$;
-- run validate(ref) in another session and cancel it after n batches
CREATE FUNCTION pg_temp.interrupt(ref text, n int, workers int) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	pid int;
	got boolean;
BEGIN
	pid := pg_temp.start_run(format('CALL ri_policy.validate(%L, batch_size => 100, restart => true)',
									ref),
							 ARRAY['SET ri_policy.min_parallel_blocks = 0',
								   format('SET ri_policy.max_parallel_workers = %s', workers)]);
	got := pg_temp.wait_batches(ref, n);
	PERFORM pg_cancel_backend(pid);
	PERFORM pg_temp.finish_run();
	RETURN got AND (SELECT status = 'interrupted' FROM ri_policy.validation_progress
					 WHERE reference = ref);
END $$;

-- 1. a pass read by the caller and workers appends: nothing goes to
-- _pending, a row a batch to _pending_batch, and the sum is exact
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE before AS SELECT pg_temp.writes() AS w;
SELECT pg_temp.start_run($$CALL ri_policy.validate('va', batch_size => 1000)$$,
						 ARRAY['SET ri_policy.max_parallel_workers = 2',
							   'SET ri_policy.min_parallel_blocks = 0']);
SELECT is(pg_temp.finish_run(), 'ok', 'a pass is read by the caller and two workers');
SELECT is((SELECT w[1] FROM before), (pg_temp.writes())[1],
		  'a parallel pass writes nothing to _pending');
SELECT is((pg_temp.writes())[2] - (SELECT w[2] FROM before),
		  (SELECT batches FROM ri_policy.validation_progress WHERE reference = 'va'),
		  'but a row a batch to _pending_batch, from every process');
SELECT is_empty(pg_temp.exact('va'), 'its violations are exact: each key''s rows add up');
SELECT is((SELECT orphan_keys FROM ri_policy.validation_progress WHERE reference = 'va'),
		  (SELECT count(*) FROM regress_va.truth), 'and it counts each key once when done');
SELECT is(pg_temp.batch_rows('va'), 0::bigint, 'nothing is left in _pending_batch');

-- 2. cancelled, then resumed by one process, then by workers: exact
SELECT ok(pg_temp.interrupt('va', 200, 0),
		  'a pass is cancelled part-way');
SELECT ok(pg_temp.batch_rows('va') >= 200, 'its committed batches are in _pending_batch');
CALL ri_policy.validate('va', batch_size => 100);
SELECT is_empty(pg_temp.exact('va'), 'resumed, its violations are exact');
SELECT ok(pg_temp.interrupt('va', 200, 2),
		  'a parallel pass is cancelled part-way');
SET ri_policy.max_parallel_workers = 2;
SET ri_policy.min_parallel_blocks = 0;
CALL ri_policy.validate('va', batch_size => 100);
RESET ri_policy.max_parallel_workers;
RESET ri_policy.min_parallel_blocks;
SELECT is_empty(pg_temp.exact('va'), 'resumed by workers, its violations are exact');

-- 3. a pass interrupted under 0.8, which wrote a row a key to _pending,
-- resumed under 0.9: half of its batches rewritten in 0.8's form
SELECT ok(pg_temp.interrupt('va', 300, 0),
		  'a pass is cancelled part-way again');
WITH old AS (
	DELETE FROM ri_policy._pending_batch b USING ri_policy._reference r
	 WHERE r.id = b.reference AND r.name = 'va' AND b.ctid IN
		   (SELECT ctid FROM ri_policy._pending_batch x WHERE x.reference = r.id
			 ORDER BY ctid LIMIT 150)
	RETURNING b.*)
INSERT INTO ri_policy._pending (reference, key, key_hash, child_rows)
SELECT reference, unnest(keys), unnest(key_hashes), unnest(child_rows) FROM old;
SELECT ok((SELECT count(*) > 0 FROM ri_policy._pending), 'its first batches are rows of _pending');
CALL ri_policy.validate('va', batch_size => 100);
SELECT is_empty(pg_temp.exact('va'), 'resumed, the two forms add up exactly');
SELECT is((SELECT count(*) FROM ri_policy._pending), 0::bigint, 'and neither is left');

-- 4. the key column renamed while a pass is interrupted: the keys it
-- appended are renamed, and the pass resumes with them
SELECT ok(pg_temp.interrupt('va', 200, 0),
		  'a pass is cancelled before the rename');
ALTER TABLE regress_va.child RENAME COLUMN pid TO parent_id;
SELECT is((SELECT count(*) FILTER (WHERE NOT k ? 'parent_id' OR k ? 'pid') || ' of ' ||
				   sign(count(*))
			  FROM ri_policy._pending_batch b JOIN ri_policy._reference r ON r.id = b.reference,
				   unnest(b.keys) k
			 WHERE r.name = 'va'), '0 of 1',
		  'every appended key has the new column name');
CALL ri_policy.validate('va', batch_size => 100);
SELECT is_empty(pg_temp.exact('va', 'parent_id'), 'resumed, its violations are exact under the new name');

-- 5. the reference dropped, or its child, or a foreign key, while a pass
-- is interrupted: its appended keys go with it
SELECT ok(pg_temp.interrupt('va', 100, 0),
		  'a pass is cancelled before the drop');
CREATE TEMP TABLE ids AS SELECT id FROM ri_policy._reference WHERE name = 'va';
SELECT ri_policy.drop_reference('va');
SELECT is((SELECT count(*) FROM ri_policy._pending_batch WHERE reference IN (SELECT id FROM ids)),
		  0::bigint, 'drop_reference() drops the appended keys');
SELECT ri_policy.declare_reference('regress_va.child', '{parent_id}', 'regress_va.parent',
								   name => 'va2');
SELECT ok(pg_temp.interrupt('va2', 100, 0),
		  'a pass of a new reference is cancelled');
INSERT INTO ids SELECT id FROM ri_policy._reference WHERE name = 'va2';
DROP TABLE regress_va.child;
SELECT is((SELECT count(*) FROM ri_policy._pending_batch WHERE reference IN (SELECT id FROM ids)),
		  0::bigint, 'dropping the child drops them too');
-- a foreign key validated by its name, and dropped
CREATE TABLE regress_va.fchild AS SELECT * FROM regress_va.truth;
INSERT INTO regress_va.fchild SELECT g % 1000 + 1, 1 FROM generate_series(1, 100000) g;
ALTER TABLE regress_va.fchild
	ADD CONSTRAINT va_fk FOREIGN KEY (pid) REFERENCES regress_va.parent NOT VALID;
SELECT ok(pg_temp.interrupt('va_fk', 100, 0), 'a pass of a foreign key is cancelled');
INSERT INTO ids SELECT id FROM ri_policy._foreign_key WHERE name = 'va_fk';
SELECT ok((SELECT count(*) > 0 FROM ri_policy._pending_batch WHERE reference IN (SELECT id FROM ids)),
		  'it has appended keys');
ALTER TABLE regress_va.fchild DROP CONSTRAINT va_fk;
SELECT is((SELECT count(*) FROM ri_policy._pending_batch WHERE reference IN (SELECT id FROM ids)),
		  0::bigint, 'dropping the foreign key drops them');

-- 6. between calls, a key column given another type or collation without
-- a rewrite: the interrupted pass starts over (its keys were of the old
-- kind), and the result is exact under the new one
CREATE COLLATION regress_va.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE regress_va.cparent (k text COLLATE regress_va.ci PRIMARY KEY);
INSERT INTO regress_va.cparent VALUES ('zzz');
CREATE TABLE regress_va.cchild (id int, k text COLLATE regress_va.ci);
INSERT INTO regress_va.cchild
SELECT g, CASE WHEN g % 2 = 0 THEN 'abc' ELSE 'ABC' END FROM generate_series(1, 100000) g;
SELECT ri_policy.declare_reference('regress_va.cchild', '{k}', 'regress_va.cparent', name => 'va_coll');
SELECT ok(pg_temp.interrupt('va_coll', 50, 0), 'a pass under a nondeterministic collation is cancelled');
CREATE TEMP TABLE was AS
SELECT (SELECT relfilenode FROM pg_class WHERE oid = 'regress_va.cchild'::regclass) AS filenode,
	   (SELECT started_at FROM ri_policy.validation_progress WHERE reference = 'va_coll') AS started;
ALTER TABLE regress_va.cchild ALTER COLUMN k TYPE text COLLATE "C";
SELECT is((SELECT relfilenode FROM pg_class WHERE oid = 'regress_va.cchild'::regclass),
		  (SELECT filenode FROM was), 'its collation is changed, without a rewrite');
CALL ri_policy.validate('va_coll', batch_size => 1000);
SELECT ok((SELECT started_at > (SELECT started FROM was)
			 FROM ri_policy.validation_progress WHERE reference = 'va_coll'),
		  'called again, it starts over rather than resume');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'va_coll'$$,
			  $$VALUES ('{"k": "ABC"}'::jsonb, 50000::bigint), ('{"k": "abc"}', 50000)$$,
			  'its keys are those of the new collation, each counted once');
-- a type: timestamp to timestamptz under UTC, no rewrite, another jsonb form
SET timezone = 'UTC';
CREATE TABLE regress_va.tparent (k timestamptz PRIMARY KEY);
CREATE TABLE regress_va.tchild (id int, k timestamp);
INSERT INTO regress_va.tchild
SELECT g, timestamp '2020-01-01' + (g % 3) * interval '1 day' FROM generate_series(1, 100000) g;
SELECT ri_policy.declare_reference('regress_va.tchild', '{k}', 'regress_va.tparent', name => 'va_type');
SELECT ok(pg_temp.interrupt('va_type', 50, 0), 'a pass of a timestamp key is cancelled');
UPDATE was SET started = (SELECT started_at FROM ri_policy.validation_progress WHERE reference = 'va_type');
ALTER TABLE regress_va.tchild ALTER COLUMN k TYPE timestamptz;
CALL ri_policy.validate('va_type', batch_size => 1000);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'va_type'$$,
			  $$SELECT jsonb_build_object('k', k), count(*) FROM regress_va.tchild GROUP BY 1$$,
			  'made timestamptz while interrupted, each key is counted once, in its new form');
RESET timezone;

-- ... and while the pass runs: it stops at its next batch
SELECT pg_temp.start_run($$CALL ri_policy.validate('va_coll', batch_size => 100, restart => true)$$);
SELECT ok(pg_temp.wait_batches('va_coll', 20), 'a pass is under way');
ALTER TABLE regress_va.cchild ALTER COLUMN k TYPE text COLLATE regress_va.ci;
SELECT throws_ok($$SELECT * FROM dblink_get_result('runner') AS t(r text)$$, '55000',
				 'the columns of reference "va_coll" changed while it was being validated',
				 'a key column given another collation stops it');
SELECT length(pg_temp.finish_run()) >= 0 AS closed;

-- ... an enum label renamed (a key is recorded by its label): while the
-- pass is interrupted it starts over, while it runs it stops (55000)
CREATE TYPE regress_va.ek AS ENUM ('a', 'b', 'c', 'd');
CREATE TABLE regress_va.eparent (k regress_va.ek PRIMARY KEY);
INSERT INTO regress_va.eparent VALUES ('d');
CREATE TABLE regress_va.echild (id int, k regress_va.ek);
INSERT INTO regress_va.echild
SELECT g, (ARRAY['a', 'b', 'c']::regress_va.ek[])[1 + g % 3] FROM generate_series(1, 100000) g;
SELECT ri_policy.declare_reference('regress_va.echild', '{k}', 'regress_va.eparent', name => 'va_enum');
SELECT ok(pg_temp.interrupt('va_enum', 50, 0), 'a pass of an enum key is cancelled');
ALTER TYPE regress_va.ek RENAME VALUE 'a' TO 'z';
CALL ri_policy.validate('va_enum', batch_size => 1000);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'va_enum'$$,
			  $$SELECT jsonb_build_object('k', k), count(*) FROM regress_va.echild GROUP BY 1$$,
			  'a label renamed while interrupted: each key counted once, by its new label');
SELECT pg_temp.start_run($$CALL ri_policy.validate('va_enum', batch_size => 100, restart => true)$$);
SELECT ok(pg_temp.wait_batches('va_enum', 20), 'a pass of the enum key is under way');
ALTER TYPE regress_va.ek RENAME VALUE 'z' TO 'y';
SELECT throws_ok($$SELECT * FROM dblink_get_result('runner') AS t(r text)$$, '55000',
				 'the columns of reference "va_enum" changed while it was being validated',
				 'a label renamed while it runs stops it');
SELECT length(pg_temp.finish_run()) >= 0 AS closed;

-- 7. a reference dropped while its pass runs: drop_reference() waits for
-- it; DROP TABLE does not, and the pass records nothing more (a child of
-- about 10,000 batches of 100 rows, a few seconds)
CREATE TABLE regress_va.dchild (id int, pid int);
INSERT INTO regress_va.dchild SELECT g, g % 2000 FROM generate_series(1, 2000000) g;
SELECT ri_policy.declare_reference('regress_va.dchild', '{pid}', 'regress_va.parent', name => 'va_drop');
SELECT pg_temp.start_run($$CALL ri_policy.validate('va_drop', batch_size => 100)$$);
SELECT ok(pg_temp.wait_batches('va_drop', 20), 'a pass is under way');
SET lock_timeout = '200ms';
SELECT throws_ok($$SELECT ri_policy.drop_reference('va_drop')$$, '55P03', NULL,
				 'drop_reference() waits for it');
RESET lock_timeout;
SELECT is((SELECT count(*) FROM ri_policy.references WHERE name = 'va_drop'), 1::bigint,
		  'and the reference is still there');
SELECT pg_cancel_backend(current_setting('ri_policy_test.runner_pid')::int);
SELECT pg_temp.finish_run();
DELETE FROM ids;
INSERT INTO ids SELECT id FROM ri_policy._reference WHERE name = 'va_drop';
SELECT ri_policy.drop_reference('va_drop');
SELECT is((SELECT count(*) FROM ri_policy._pending_batch WHERE reference IN (SELECT id FROM ids))
		  + (SELECT count(*) FROM ri_policy._violation WHERE reference IN (SELECT id FROM ids)),
		  0::bigint, 'once it is gone, the drop leaves nothing of it');
SELECT ri_policy.declare_reference('regress_va.dchild', '{pid}', 'regress_va.parent', name => 'va_drop2');
DELETE FROM ids;
INSERT INTO ids SELECT id FROM ri_policy._reference WHERE name = 'va_drop2';
SELECT pg_temp.start_run($$CALL ri_policy.validate('va_drop2', batch_size => 100)$$);
SELECT ok(pg_temp.wait_batches('va_drop2', 20), 'another pass is under way');
DROP TABLE regress_va.dchild;
SELECT throws_ok($$SELECT * FROM dblink_get_result('runner') AS t(r text)$$, '42704',
				 'reference "va_drop2" was dropped while it was being validated',
				 'DROP TABLE of its child stops it');
SELECT length(pg_temp.finish_run()) >= 0 AS closed;
-- (a new pass removes what a batch committed as the drop ran)
CALL ri_policy.validate('va_coll', batch_size => 100000);
SELECT is((SELECT count(*) FROM ri_policy._pending_batch WHERE reference IN (SELECT id FROM ids))
		  + (SELECT count(*) FROM ri_policy._violation WHERE reference IN (SELECT id FROM ids)),
		  0::bigint, 'nothing of it is left');

-- 8. a batch of large distinct keys (70 of 1 MB) goes in parts: rows of at
-- most 64 MB of _pending_batch, probes of at most 64 MB
CREATE TABLE regress_va.bparent (k text PRIMARY KEY);
CREATE TABLE regress_va.bchild (id int, k text);
INSERT INTO regress_va.bchild SELECT g, g || repeat('x', 1024 * 1024) FROM generate_series(1, 70) g;
SELECT ri_policy.declare_reference('regress_va.bchild', '{k}', 'regress_va.bparent', name => 'va_big');
SELECT pg_stat_force_next_flush();
UPDATE before SET w = pg_temp.writes();
SELECT pg_temp.wait_gone(pg_temp.run_alone(
	$$SET ri_policy.max_parallel_workers = 0;
	  CALL ri_policy.validate('va_big', batch_size => 1000)$$));
SELECT is((SELECT batches FROM ri_policy.validation_progress WHERE reference = 'va_big'), 1::bigint,
		  'one batch holds the 70 keys');
SELECT is((pg_temp.writes())[2] - (SELECT w[2] FROM before), 2::bigint,
		  'which go to _pending_batch as two rows');
SELECT is((SELECT count(*) || ' ' || sum(child_rows) FROM ri_policy.violations WHERE reference = 'va_big'),
		  '70 70', 'every key is recorded');

DROP SCHEMA regress_va CASCADE;
SELECT * FROM finish();
