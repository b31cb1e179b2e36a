-- A pass reads a child larger than a quarter of shared_buffers through one
-- small ring of buffers that lasts the pass (validate.c,
-- reads_through_ring()), as a sequential scan does: in one process and with
-- workers, it leaves only a few of the child's pages in shared buffers, not
-- the whole table, and finds exactly what NOT EXISTS finds.  The child is
-- rewritten (VACUUM FULL, which writes around shared buffers) before each
-- pass, so that none of its pages is there.  Counts buffers with
-- pg_buffercache (contrib); skipped where it is not available,
-- or where shared_buffers is so large that the child would take minutes to
-- load.  Runs outside a transaction block; drops what it made.
SELECT plan(7);

SELECT (SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_buffercache') = 1
	   AND current_setting('shared_buffers', true) IS NOT NULL
	   AND (SELECT setting::bigint FROM pg_settings WHERE name = 'shared_buffers') / 4 <= 20000
	   AS can_run \gset
\if :can_run
SELECT count(*) = 0 AS make_ext FROM pg_extension WHERE extname = 'pg_buffercache' \gset
CREATE EXTENSION IF NOT EXISTS pg_buffercache;
CREATE SCHEMA regress_ring;

-- the child's pages in shared buffers
CREATE FUNCTION regress_ring.cached(t regclass) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM pg_buffercache b
	 WHERE b.relfilenode = pg_relation_filenode(t)
	   AND b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
	   AND b.relforknumber = 0$$;

-- about 22 rows a page at fillfactor 10: 600 pages more than a quarter of
-- shared_buffers
SELECT (setting::bigint / 4 + 600) * 22 AS big_rows
  FROM pg_settings WHERE name = 'shared_buffers' \gset
CREATE TABLE regress_ring.p (id int PRIMARY KEY);
INSERT INTO regress_ring.p SELECT generate_series(1, 1000);
CREATE TABLE regress_ring.big (id int, k int) WITH (fillfactor = 10);
INSERT INTO regress_ring.big SELECT g, CASE WHEN g % 501 = 0 THEN 2000 + g % 7 ELSE g % 1000 + 1 END
  FROM generate_series(1, :big_rows) g;
SELECT ri_policy.declare_reference('regress_ring.big', '{k}', 'regress_ring.p', name => 'ring_big');

SELECT cmp_ok(pg_relation_size('regress_ring.big') / current_setting('block_size')::bigint,
			  '>', (SELECT setting::bigint / 4 FROM pg_settings WHERE name = 'shared_buffers'),
			  'the big child is larger than a quarter of shared_buffers');

CREATE TABLE regress_ring.truth AS
SELECT k, count(*) AS n FROM regress_ring.big c
 WHERE NOT EXISTS (SELECT 1 FROM regress_ring.p p WHERE p.id = c.k) GROUP BY k;

-- 1. one process
SET ri_policy.max_parallel_workers = 0;
VACUUM FULL regress_ring.big;
SELECT is(regress_ring.cached('regress_ring.big'), 0::bigint,
		  'after VACUUM FULL, none of the child''s pages is in shared buffers');
CALL ri_policy.validate('ring_big', batch_size => 2000, restart => true);
SELECT cmp_ok(regress_ring.cached('regress_ring.big'), '<', 200::bigint,
			  'one process: the pass leaves fewer than 200 of the child''s pages in shared buffers');
SELECT set_eq($$SELECT (key->>'k')::int, child_rows FROM ri_policy.violations WHERE reference = 'ring_big'$$,
			  $$SELECT k, n FROM regress_ring.truth$$,
			  'one process: the violations are NOT EXISTS''s');

-- 2. with workers, each with its ring
SET ri_policy.max_parallel_workers = 2;
SET ri_policy.min_parallel_blocks = 0;
VACUUM FULL regress_ring.big;
CALL ri_policy.validate('ring_big', batch_size => 2000, restart => true);
SELECT is((SELECT batches > 0 AND status = 'done' FROM ri_policy.validation_progress
		    WHERE reference = 'ring_big'), true, 'with workers: the pass is done');
SELECT cmp_ok(regress_ring.cached('regress_ring.big'), '<', 600::bigint,
			  'with workers: fewer than 200 of the child''s pages a process in shared buffers');
SELECT set_eq($$SELECT (key->>'k')::int, child_rows FROM ri_policy.violations WHERE reference = 'ring_big'$$,
			  $$SELECT k, n FROM regress_ring.truth$$,
			  'with workers: the violations are NOT EXISTS''s');
RESET ri_policy.max_parallel_workers;
RESET ri_policy.min_parallel_blocks;

SELECT ri_policy.drop_reference('ring_big');
DROP SCHEMA regress_ring CASCADE;
\if :make_ext
DROP EXTENSION pg_buffercache;
\endif
\else
SELECT skip('pg_buffercache is not available, or shared_buffers is too large for this test', 7);
\endif
SELECT * FROM finish();
