-- ri_policy's own statements (a batch's keys, its orphans, a re-check, a
-- repair) are never JIT-compiled, whatever the caller's JIT settings: they
-- are short and often planned with statistics from before the keys they
-- read were written, and at a few thousand keys their estimated costs
-- passed jit_above_cost, when loading and compiling took longer than the
-- statement.  Seen through pg_stat_statements (preloaded by make test, with
-- pg_stat_statements.track = all), as statements nested in the calls; the
-- caller's own query is compiled under the same settings.  Cleans up after
-- itself.
SELECT plan(3);

CREATE TEMP TABLE had_pgss AS
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS yes;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

CREATE SCHEMA regress_jit;
CREATE TABLE regress_jit.parent (id int PRIMARY KEY);
INSERT INTO regress_jit.parent SELECT generate_series(1, 1000);
CREATE TABLE regress_jit.child (id int, pid int);
INSERT INTO regress_jit.child
SELECT g, CASE WHEN g % 10 = 0 THEN 2000 + g % 300 ELSE g % 1000 + 1 END
  FROM generate_series(1, 20000) g;
CREATE INDEX ON regress_jit.child (pid);
CREATE TABLE regress_jit.nparent (id numeric PRIMARY KEY);
INSERT INTO regress_jit.nparent SELECT generate_series(1, 1000);
CREATE TABLE regress_jit.nchild (id int, pid numeric);
INSERT INTO regress_jit.nchild SELECT g, g % 1100 FROM generate_series(1, 20000) g;
SELECT ri_policy.declare_reference('regress_jit.child', '{pid}', 'regress_jit.parent',
								   name => 'rj');
SELECT ri_policy.declare_reference('regress_jit.nchild', '{pid}', 'regress_jit.nparent',
								   name => 'rjn');
SELECT ri_policy.track('rj');
SET ri_policy.max_parallel_workers = 0;

-- everything the caller runs is compiled from here on, if it can be
SELECT pg_stat_statements_reset();
SET jit = on;
SET jit_above_cost = 0;
SET jit_inline_above_cost = -1;
SET jit_optimize_above_cost = -1;
SELECT count(*) FROM regress_jit.child;
CALL ri_policy.validate('rj', batch_size => 1000);
CALL ri_policy.validate('rjn', batch_size => 1000);
UPDATE regress_jit.child SET pid = pid + 5000 WHERE id % 97 = 0;
DELETE FROM regress_jit.parent WHERE id % 50 = 0;
CALL ri_policy.validate('rj', batch_size => 1000);
CALL ri_policy.repair('rj', 'delete', batch_size => 1000);
RESET jit_above_cost;
RESET jit_inline_above_cost;
RESET jit_optimize_above_cost;
RESET jit;

SELECT CASE WHEN pg_jit_available() THEN
	ok((SELECT sum(jit_functions) > 0 FROM pg_stat_statements
		 WHERE toplevel AND query LIKE 'SELECT count(*) FROM regress_jit.child%'),
	   'the caller''s own query is JIT-compiled under these settings')
	ELSE skip('JIT is not available on this server') END;
SELECT cmp_ok((SELECT count(*) FROM pg_stat_statements
				WHERE NOT toplevel AND query LIKE '%ri_policy%'), '>', 10::bigint,
			  'the calls ran their statements, nested');
SELECT is((SELECT string_agg(left(query, 60), '; ') FROM pg_stat_statements
			WHERE NOT toplevel AND jit_functions > 0), NULL,
		  'none of them was JIT-compiled');

SELECT ri_policy.drop_reference('rj');
SELECT ri_policy.drop_reference('rjn');
DROP SCHEMA regress_jit CASCADE;
DO $$ BEGIN IF NOT (SELECT yes FROM had_pgss) THEN DROP EXTENSION pg_stat_statements; END IF; END $$;
SELECT * FROM finish();
