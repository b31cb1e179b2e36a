-- A pass whose keys have one jsonb form appends each batch's orphans to
-- ri_policy._pending_batch as one row (src/results.c, RiRecorded), in one
-- process or several, and the end of the pass adds up each key's rows over
-- every batch, process and form (rows of _pending too, as 0.8 wrote them,
-- for a pass interrupted before the update).  What the registry does to a
-- pass's pending keys it does to these: a column renamed renames their
-- keys, a reference or table dropped drops them.  Runs outside a
-- transaction block (passes are cancelled part-way from another session);
-- cleans up after itself.
SELECT plan(25);

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

DROP SCHEMA regress_va CASCADE;
SELECT * FROM finish();
