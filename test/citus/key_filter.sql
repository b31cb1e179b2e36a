-- How the workers drop the child keys that have a parent, before anything
-- comes back to the coordinator (src/citus.c): the parent's keys sent in the
-- child's query as runs of consecutive integers (few runs), as a bitmap of
-- integers (dense ones, at most 64 bits a key), as a multirange of their
-- runs (sparse integers in at most 1,024 runs), as a set of integers that
-- each shard hashes (ri_policy._int8_in_keys(): more runs), as a set of
-- uuids (ri_policy._uuid_in_keys()), or as an array (other single-column
-- keys), else NOT IN over an intermediate result.
-- Each way must give exactly what Citus's own NOT IN gives: the orphaned
-- keys, their row counts, every row checked once, orphans() the same;
-- with NULL keys, many rows a key across small batches, keys at the edges
-- of the runs, keys of other integer types than the parent's, an empty
-- parent, a parent of another owner, one run counted on the parent's shards;
-- a pass cancelled part-way resumes to
-- the exact result; and parent rows added during a pass, after the keys
-- were sent, still make the keys they match no orphans (each key the
-- workers return is confirmed against the live parent).  Runs outside a transaction block (validate()
-- commits); cleans up.
SET client_min_messages = error;
SELECT plan(110);

CREATE ROLE regress_kf_other LOGIN;

\ir ../lib/sessions.sql

-- validate reference "r" of child "c" (key column pid) and parent "p" (key
-- column id) in batches of "batch", and compare the violations, the rows
-- checked and orphans() with NOT IN; "what" names the case
CREATE FUNCTION pg_temp.check(r text, c text, p text, batch int, what text)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	truth text;
	rows bigint;
BEGIN
	EXECUTE format('SELECT string_agg(jsonb_build_object(''pid'', pid)::text || ''='' || n, '',''
						ORDER BY jsonb_build_object(''pid'', pid)::text)
					  FROM (SELECT pid, count(*) AS n FROM %I WHERE pid IS NOT NULL
							   AND pid NOT IN (SELECT id FROM %I) GROUP BY 1) s', c, p)
	   INTO truth;
	EXECUTE format('SELECT count(*) FROM %I WHERE pid IS NOT NULL', c) INTO rows;
	CALL ri_policy.validate(r, batch_size => batch, restart => true);
	RETURN NEXT is((SELECT string_agg(key::text || '=' || child_rows, ',' ORDER BY key::text)
					  FROM ri_policy.violations WHERE reference = r),
				   truth, what || ': violations');
	RETURN NEXT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = r),
				   rows, what || ': every row checked once');
	RETURN NEXT is((SELECT string_agg(key::text || '=' || child_rows, ',' ORDER BY key::text)
					  FROM ri_policy.orphans(r)),
				   truth, what || ': orphans()');
END $$;

-- 1. runs: an int parent of 1..1000 with nine holes (ten runs); child keys
-- in the holes, at each edge of every run, below and above all of them,
-- negative, NULL; about 40 rows a key, in batches of 3 keys
CREATE TABLE kf_parent (id int PRIMARY KEY);
SELECT create_distributed_table('kf_parent', 'id', shard_count => 3);
INSERT INTO kf_parent SELECT g FROM generate_series(1, 1000) g WHERE g % 100 <> 50;
CREATE TABLE kf_child (id bigint, pid int);
SELECT create_distributed_table('kf_child', 'id', shard_count => 4, colocate_with => 'none');
INSERT INTO kf_child
SELECT g, CASE WHEN g % 50 = 0 THEN NULL
			   ELSE (ARRAY[-7, 0, 1, 2, 49, 50, 51, 149, 150, 151, 999, 1000, 1001, 100000,
						   2147483647])[1 + g % 15] END
  FROM generate_series(1, 600) g;
SELECT ri_policy.declare_reference('kf_child', '{pid}', 'kf_parent', name => 'kf_runs');
SELECT pg_temp.check('kf_runs', 'kf_child', 'kf_parent', 3, 'int keys in ten runs');
-- one key a batch: the first batch holds only the row counting the keys
-- that have a parent, and records no key to resume after
SELECT pg_temp.check('kf_runs', 'kf_child', 'kf_parent', 1, 'int keys in ten runs, one key a batch');

-- 2. runs, keys of other integer types: a bigint child and a smallint child
-- of the same int parent.  Bigint keys past int's range are orphans: the
-- probe of the parent does not send them (Citus prunes its shards by
-- converting each key to int, and failed with "integer out of range").
CREATE TABLE kf_big (id bigint, pid bigint);
SELECT create_distributed_table('kf_big', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO kf_big SELECT g, (ARRAY[0, 1, 50, 51, 1000, 1001, 2147483647, -2147483648,
									 -1, NULL, 2147483648, -2147483649, 9223372036854775807,
									 -9223372036854775808])[1 + g % 14]
  FROM generate_series(1, 420) g;
SELECT ri_policy.declare_reference('kf_big', '{pid}', 'kf_parent', name => 'kf_runs_big');
SELECT pg_temp.check('kf_runs_big', 'kf_big', 'kf_parent', 2, 'bigint keys, int parent, in runs');
CREATE TABLE kf_small (id bigint, pid smallint);
SELECT create_distributed_table('kf_small', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO kf_small SELECT g, (g % 1200 - 100)::smallint FROM generate_series(1, 2400) g;
SELECT ri_policy.declare_reference('kf_small', '{pid}', 'kf_parent', name => 'kf_runs_small');
SELECT pg_temp.check('kf_runs_small', 'kf_small', 'kf_parent', 50, 'smallint keys, int parent, in runs');
-- ... and int keys of a smallint parent, past smallint's range too
CREATE TABLE kf_sparent (id smallint PRIMARY KEY);
SELECT create_distributed_table('kf_sparent', 'id', shard_count => 3);
INSERT INTO kf_sparent SELECT generate_series(1, 200);
CREATE TABLE kf_ichild (id bigint, pid int);
SELECT create_distributed_table('kf_ichild', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO kf_ichild SELECT g, (ARRAY[1, 200, 201, 0, 32767, 32768, -32769, 2147483647, NULL])[1 + g % 9]
  FROM generate_series(1, 270) g;
SELECT ri_policy.declare_reference('kf_ichild', '{pid}', 'kf_sparent', name => 'kf_small_parent');
SELECT pg_temp.check('kf_small_parent', 'kf_ichild', 'kf_sparent', 7, 'int keys, smallint parent');

-- 3. a bitmap: too many runs (every third key missing) ...
DELETE FROM kf_parent WHERE id % 3 = 0;
SELECT pg_temp.check('kf_runs', 'kf_child', 'kf_parent', 3, 'int keys in a bitmap');
SELECT pg_temp.check('kf_runs', 'kf_child', 'kf_parent', 1, 'int keys in a bitmap, one key a batch');
-- ... of a parent of another owner: its keys are read as its owner, and
-- sent as data with the child's query, which runs as the child's owner
ALTER TABLE kf_parent OWNER TO regress_kf_other;
SELECT pg_temp.check('kf_runs', 'kf_child', 'kf_parent', 4, 'a parent of another owner');
ALTER TABLE kf_parent OWNER TO current_user;
-- ... a bigint child of an int parent, whose hash functions differ (an
-- array would be searched row by row), in a bitmap too
SELECT pg_temp.check('kf_runs_big', 'kf_big', 'kf_parent', 2, 'bigint keys, int parent, in a bitmap');
-- ... and in a multirange, when the keys are too sparse for a bitmap (one
-- key in 1,000) but form few runs, for an int child and a bigint child
-- alike ...
DELETE FROM kf_parent;
INSERT INTO kf_parent SELECT g * 1000 FROM generate_series(-3, 40) g;
INSERT INTO kf_parent VALUES (1001), (1002), (2147483647), (2147483646);
INSERT INTO kf_child SELECT 10000 + g, (ARRAY[-3000, -2999, 0, 1, 999, 1000, 1001, 1002, 1003, 40000,
											  40001, 2147483646, 2147483645])[1 + g % 13]
  FROM generate_series(1, 260) g;
SELECT pg_temp.check('kf_runs', 'kf_child', 'kf_parent', 4, 'sparse int keys in a multirange');
SELECT pg_temp.check('kf_runs_big', 'kf_big', 'kf_parent', 3, 'sparse int keys, bigint child, in a multirange');
-- ... and past 1,024 runs, in a set, for an int child and a bigint child
-- alike (0.7 sent the first an array, and the second, whose hash function
-- is not the parent's, NOT IN)
INSERT INTO kf_parent SELECT g * 1000 FROM generate_series(41, 1100) g;
SELECT pg_temp.check('kf_runs', 'kf_child', 'kf_parent', 4, 'sparse int keys in a set');
SELECT pg_temp.check('kf_runs_big', 'kf_big', 'kf_parent', 3, 'sparse int keys, bigint child, in a set');
\set q 'SET citus.log_remote_commands = on; SET client_min_messages = notice; SELECT pg_catalog.count(*) FROM ri_policy.orphans(''kf_runs_big'')'
\set sent `psql -X -At -c :'q' 2>&1 | grep -c '_int8_in_keys'`
SELECT cmp_ok(:sent, '>', 0, 'the shards test the keys as a set');
-- ... where ri_policy's SQL objects predate the set (its library was
-- updated, not the extension), as an array, the same keys
BEGIN;
SET LOCAL citus.enable_ddl_propagation = off;
ALTER EXTENSION ri_policy DROP FUNCTION ri_policy._int8_in_keys(bigint, bytea);
DROP FUNCTION ri_policy._int8_in_keys(bigint, bytea);
SELECT pg_temp.check('kf_runs', 'kf_child', 'kf_parent', 4, 'sparse int keys in an array, without the set''s function');
ROLLBACK;

-- 3b. a bitmap at the ends of bigint: parent keys from 2^63 - 2000 to
-- 2^63 - 1, and from -2^63 to -2^63 + 2000, every seventh missing (too many
-- runs); child keys at either end of each, in the holes, past them, and the
-- ends of the type
CREATE TABLE kf_bparent (id bigint PRIMARY KEY);
SELECT create_distributed_table('kf_bparent', 'id', shard_count => 3);
INSERT INTO kf_bparent SELECT 9223372036854775807 - g FROM generate_series(0, 2000) g WHERE g % 7 <> 3;
CREATE TABLE kf_bchild (id int, pid bigint);
SELECT create_distributed_table('kf_bchild', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO kf_bchild SELECT g, (ARRAY[9223372036854775807, 9223372036854775806, 9223372036854775804,
									   9223372036854773807, 9223372036854773806, 0, -1, NULL,
									   -9223372036854775808, 9223372036854775800])[1 + g % 10]
  FROM generate_series(1, 300) g;
SELECT ri_policy.declare_reference('kf_bchild', '{pid}', 'kf_bparent', name => 'kf_bitmap_top');
SELECT pg_temp.check('kf_bitmap_top', 'kf_bchild', 'kf_bparent', 3, 'a bitmap at the top of bigint');
DELETE FROM kf_bparent;
INSERT INTO kf_bparent SELECT -9223372036854775808 + g FROM generate_series(0, 2000) g WHERE g % 7 <> 3;
UPDATE kf_bchild SET pid = -1 - pid WHERE pid IS NOT NULL;
SELECT pg_temp.check('kf_bitmap_top', 'kf_bchild', 'kf_bparent', 3, 'a bitmap at the bottom of bigint');
-- ... and a multirange at both ends: sparse keys (one in 1,000) below
-- 2^63 - 1 and above -2^63, with runs ending at either end of the type
-- (a run up to 2^63 - 1 has no upper bound)
DELETE FROM kf_bparent;
INSERT INTO kf_bparent SELECT 9223372036854775807 - g * 1000 FROM generate_series(0, 30) g
UNION ALL SELECT 9223372036854775806
UNION ALL SELECT -9223372036854775808 + g * 1000 FROM generate_series(0, 30) g
UNION ALL SELECT -9223372036854775807;
DELETE FROM kf_bchild;
INSERT INTO kf_bchild SELECT g, (ARRAY[9223372036854775807, 9223372036854775806, 9223372036854775805,
									   9223372036854774807, 9223372036854774806, 9223372036854774808,
									   -9223372036854775808, -9223372036854775807, -9223372036854775806,
									   -9223372036854774808, -9223372036854774807, 0, NULL])[1 + g % 13]
  FROM generate_series(1, 390) g;
SELECT pg_temp.check('kf_bitmap_top', 'kf_bchild', 'kf_bparent', 3, 'a multirange at both ends of bigint');
SELECT pg_temp.check('kf_bitmap_top', 'kf_bchild', 'kf_bparent', 1, 'a multirange at both ends of bigint, one key a batch');
-- ... and a set at both ends: 1,200 more runs
INSERT INTO kf_bparent SELECT 9223372036854775807 - g * 1000 FROM generate_series(31, 630) g
UNION ALL SELECT -9223372036854775808 + g * 1000 FROM generate_series(31, 630) g;
INSERT INTO kf_bchild SELECT 1000 + g, (ARRAY[9223372036854775807 - 630000, 9223372036854775807 - 630001,
											  -9223372036854775808 + 630000, -9223372036854775808 + 630001,
											  -9223372036854775808 + 631000])[1 + g % 5]
  FROM generate_series(1, 50) g;
SELECT pg_temp.check('kf_bitmap_top', 'kf_bchild', 'kf_bparent', 3, 'a set at both ends of bigint');

-- 4. text keys, in an array; an empty parent
CREATE TABLE kf_tparent (id text PRIMARY KEY);
SELECT create_reference_table('kf_tparent');
INSERT INTO kf_tparent SELECT 'k' || g FROM generate_series(1, 500) g WHERE g % 7 <> 0;
CREATE TABLE kf_tchild (id bigint, pid text);
SELECT create_distributed_table('kf_tchild', 'id', shard_count => 3);
INSERT INTO kf_tchild SELECT g, CASE WHEN g % 23 = 0 THEN NULL ELSE 'k' || (g % 600) END
  FROM generate_series(1, 3000) g;
SELECT ri_policy.declare_reference('kf_tchild', '{pid}', 'kf_tparent', name => 'kf_text');
SELECT pg_temp.check('kf_text', 'kf_tchild', 'kf_tparent', 5, 'text keys');
DELETE FROM kf_tparent;
SELECT pg_temp.check('kf_text', 'kf_tchild', 'kf_tparent', 40, 'an empty parent');

-- 4b. uuid keys, in a set; without the set's function, in an array
CREATE TABLE kf_uparent (id uuid PRIMARY KEY);
SELECT create_distributed_table('kf_uparent', 'id', shard_count => 3);
INSERT INTO kf_uparent SELECT md5('p' || g)::uuid FROM generate_series(1, 2000) g;
INSERT INTO kf_uparent VALUES ('00000000-0000-0000-0000-000000000000'), ('ffffffff-ffff-ffff-ffff-ffffffffffff');
CREATE TABLE kf_uchild (id bigint, pid uuid);
SELECT create_distributed_table('kf_uchild', 'id', shard_count => 4, colocate_with => 'none');
INSERT INTO kf_uchild SELECT g, CASE WHEN g % 31 = 0 THEN NULL WHEN g % 7 = 0 THEN md5('o' || g % 50)::uuid
									 WHEN g % 11 = 0 THEN '00000000-0000-0000-0000-000000000000'
									 WHEN g % 13 = 0 THEN 'ffffffff-ffff-ffff-ffff-fffffffffffe'
									 ELSE md5('p' || g % 2100)::uuid END
  FROM generate_series(1, 3000) g;
SELECT ri_policy.declare_reference('kf_uchild', '{pid}', 'kf_uparent', name => 'kf_uuid');
SELECT pg_temp.check('kf_uuid', 'kf_uchild', 'kf_uparent', 7, 'uuid keys in a set');
\set q 'SET citus.log_remote_commands = on; SET client_min_messages = notice; SELECT pg_catalog.count(*) FROM ri_policy.orphans(''kf_uuid'')'
\set sent `psql -X -At -c :'q' 2>&1 | grep -c '_uuid_in_keys'`
SELECT cmp_ok(:sent, '>', 0, 'the shards test the uuids as a set');
BEGIN;
SET LOCAL citus.enable_ddl_propagation = off;
ALTER EXTENSION ri_policy DROP FUNCTION ri_policy._uuid_in_keys(uuid, bytea);
DROP FUNCTION ri_policy._uuid_in_keys(uuid, bytea);
SELECT pg_temp.check('kf_uuid', 'kf_uchild', 'kf_uparent', 7, 'uuid keys in an array, without the set''s function');
ROLLBACK;

-- 5. the array, a pass cancelled part-way resumes: every orphan once, every
-- row counted once (the keys that have a parent were counted in the first
-- batch, before the cancel)
CREATE TABLE kf_rparent (id int PRIMARY KEY);
SELECT create_distributed_table('kf_rparent', 'id', shard_count => 3);
INSERT INTO kf_rparent SELECT generate_series(2, 60000, 2);
CREATE TABLE kf_rchild (id int, pid int);
SELECT create_distributed_table('kf_rchild', 'id', shard_count => 3, colocate_with => 'none');
INSERT INTO kf_rchild SELECT g, g % 70000 FROM generate_series(1, 210000) g;
SELECT ri_policy.declare_reference('kf_rchild', '{pid}', 'kf_rparent', name => 'kf_resume');
CREATE TEMP TABLE kf_run AS
SELECT pg_temp.start_run($$CALL ri_policy.validate('kf_resume', batch_size => 50)$$) AS pid;
SELECT ok(pg_temp.wait_batches('kf_resume', 5), 'the pass is under way');
SELECT pg_cancel_backend(pid) FROM kf_run;
SELECT matches(pg_temp.finish_run(), 'cancel|failure on connection', 'the pass was cancelled');
SELECT ok((SELECT status = 'interrupted' AND batches > 0
			 FROM ri_policy.validation_progress WHERE reference = 'kf_resume'),
		  'it stopped part-way');
CALL ri_policy.validate('kf_resume', batch_size => 50);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'kf_resume'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM kf_rchild
				 WHERE pid NOT IN (SELECT id FROM kf_rparent) GROUP BY 1$$,
			  'after resuming, violations are exact');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'kf_resume'),
		  (SELECT count(*) FROM kf_rchild WHERE pid IS NOT NULL),
		  'every row was checked exactly once across the two calls');

-- 5b. a pass resumed with the parent's keys sent another way, or after the
-- parent changed, still counts every row once: the rows before the resume
-- key are counted again when it resumes.  A parent of 200,000 keys in 500
-- runs goes as a multirange, and as NOT IN where maintenance_work_mem
-- (1MB) cannot hold it.
CREATE TABLE kf_yparent (id bigint PRIMARY KEY);
SELECT create_distributed_table('kf_yparent', 'id', shard_count => 3);
INSERT INTO kf_yparent SELECT r * 1000000 + g FROM generate_series(0, 499) r, generate_series(1, 400) g;
CREATE TABLE kf_ychild (id bigint, pid bigint);
SELECT create_distributed_table('kf_ychild', 'id', shard_count => 3, colocate_with => 'none');
INSERT INTO kf_ychild SELECT g, (g % 500) * 1000000 + 1 + g % 400 FROM generate_series(1, 20000) g;
INSERT INTO kf_ychild SELECT 100000 + g, g::bigint * 1000000 + 700 FROM generate_series(0, 19999) g;
SELECT ri_policy.declare_reference('kf_ychild', '{pid}', 'kf_yparent', name => 'kf_yref');
-- cancel a pass begun with "first" maintenance_work_mem, run "between",
-- resume it with "then"
CREATE FUNCTION pg_temp.resume_with(first text, between_calls text, then_mem text)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	pid int;
	what text := format('begun with %s, resumed with %s%s', first, then_mem,
						CASE WHEN between_calls <> '' THEN ', the parent changed' ELSE '' END);
BEGIN
	pid := pg_temp.start_run($q$CALL ri_policy.validate('kf_yref', batch_size => 20, restart => true)$q$,
							 ARRAY[format('SET maintenance_work_mem = %L', first)]);
	RETURN NEXT ok(pg_temp.wait_batches('kf_yref', 20), what || ': under way');
	PERFORM pg_cancel_backend(pid);
	PERFORM pg_temp.finish_run();
	IF between_calls <> '' THEN
		EXECUTE between_calls;
	END IF;
	PERFORM set_config('maintenance_work_mem', then_mem, true);
	CALL ri_policy.validate('kf_yref', batch_size => 20);
	RETURN NEXT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'kf_yref'),
				   (SELECT count(*) FROM kf_ychild), what || ': every row counted once');
	-- (keys before the resume key were judged against the parent as it
	-- was: after deletes there, the next pass finds their orphans)
	IF between_calls LIKE 'DELETE%' THEN
		CALL ri_policy.validate('kf_yref', restart => true);
		what := what || ', and the next pass';
	END IF;
	RETURN NEXT set_eq($q$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'kf_yref'$q$,
					   $q$SELECT jsonb_build_object('pid', pid), count(*) FROM kf_ychild
						   WHERE pid NOT IN (SELECT id FROM kf_yparent) GROUP BY 1$q$,
					   what || ': violations exact');
END $$;
SELECT pg_temp.resume_with('64MB', '', '1MB');
SELECT pg_temp.resume_with('1MB', '', '64MB');
SELECT pg_temp.resume_with('64MB', 'INSERT INTO kf_yparent SELECT g::bigint * 1000000 + 700 FROM generate_series(19990, 19999) g', '64MB');
SELECT pg_temp.resume_with('64MB', 'DELETE FROM kf_yparent WHERE id % 1000000 = 399', '64MB');

-- 6. the parent changes during a pass, after its keys went to the workers
-- in the query (as a run, then as a bitmap): the 300 keys the workers
-- return as suspects are each confirmed against the live parent, batch by
-- batch, so once their parent rows are committed (under a lock on the
-- pass's progress row, which its next batch waits for) the later batches
-- record none of them; the next pass records none at all
CREATE TABLE kf_mrun (id int PRIMARY KEY);
SELECT create_distributed_table('kf_mrun', 'id', shard_count => 3);
INSERT INTO kf_mrun SELECT generate_series(1, 2000);
CREATE TABLE kf_marr (id int PRIMARY KEY);
SELECT create_distributed_table('kf_marr', 'id', shard_count => 3);
INSERT INTO kf_marr SELECT generate_series(2, 2000, 2);
CREATE TABLE kf_mchild (id int, pid int);
SELECT create_distributed_table('kf_mchild', 'id', shard_count => 4, colocate_with => 'none');
INSERT INTO kf_mchild SELECT g, k FROM generate_series(1, 2) g,
	LATERAL (SELECT generate_series(2, 2000, 2) UNION ALL SELECT generate_series(3001, 3300)) s(k);
SELECT ri_policy.declare_reference('kf_mchild', '{pid}', 'kf_mrun', name => 'kf_mid_runs');
SELECT ri_policy.declare_reference('kf_mchild', '{pid}', 'kf_marr', name => 'kf_mid_bitmap');
-- start a pass of "r" in batches of 5 keys in another session, and wait
-- for its first batch
CREATE FUNCTION pg_temp.mid_start(r text, what text) RETURNS text LANGUAGE sql AS $$
	SELECT ok(pg_temp.start_run(format('CALL ri_policy.validate(%L, batch_size => 5, restart => true)', r))
			  IS NOT NULL AND pg_temp.wait_batches(r, 1), what || ': the pass is under way')$$;
-- (then, in one transaction: lock the pass's progress row, add the parent
-- rows of keys 3001..3300, commit) wait for the pass, check it
CREATE FUNCTION pg_temp.mid_check(r text, what text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	msg text := 'ok';
	n bigint;
BEGIN
	msg := pg_temp.finish_run();
	RETURN NEXT is(msg, 'ok', what || ': the pass completed');
	SELECT count(*) INTO n FROM ri_policy.violations WHERE reference = r;
	RETURN NEXT ok(n > 0 AND n < 300 AND NOT EXISTS (
					   SELECT FROM ri_policy.violations
						WHERE reference = r AND ((key->>'pid')::int NOT BETWEEN 3001 AND 3300
												  OR child_rows <> 2)),
				   what || ': only the keys confirmed before the parent rows came are orphans');
	RETURN NEXT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = r),
				   (SELECT count(*) FROM kf_mchild), what || ': every row checked once');
	CALL ri_policy.validate(r, restart => true);
	RETURN NEXT is((SELECT count(*) FROM ri_policy.violations WHERE reference = r), 0::bigint,
				   what || ': the next pass finds no orphan');
END $$;
SELECT pg_temp.mid_start('kf_mid_runs', 'keys sent as a run');
DO $$ BEGIN
	PERFORM FROM ri_policy._progress
	  WHERE reference = (SELECT id FROM ri_policy._reference WHERE name = 'kf_mid_runs') FOR UPDATE;
	INSERT INTO kf_mrun SELECT generate_series(3001, 3300);
END $$;
SELECT pg_temp.mid_check('kf_mid_runs', 'keys sent as a run');
SELECT pg_temp.mid_start('kf_mid_bitmap', 'keys sent as a bitmap');
DO $$ BEGIN
	PERFORM FROM ri_policy._progress
	  WHERE reference = (SELECT id FROM ri_policy._reference WHERE name = 'kf_mid_bitmap') FOR UPDATE;
	INSERT INTO kf_marr SELECT generate_series(3001, 3300);
END $$;
SELECT pg_temp.mid_check('kf_mid_bitmap', 'keys sent as a bitmap');

-- 7. one run, counted on the parent's shards (the least key, the greatest
-- and their number; no key comes back): keys 1..500 of a parent distributed
-- by its key; with a hole, the keys are read instead; and a reference
-- table's run that ends at the top of bigint
CREATE TABLE kf_oparent (id int PRIMARY KEY);
SELECT create_distributed_table('kf_oparent', 'id', shard_count => 3);
INSERT INTO kf_oparent SELECT generate_series(1, 500);
CREATE TABLE kf_ochild (id bigint, pid int);
SELECT create_distributed_table('kf_ochild', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO kf_ochild SELECT g, (ARRAY[-1, 0, 1, 2, 250, 499, 500, 501, NULL, 2147483647])[1 + g % 10]
  FROM generate_series(1, 300) g;
SELECT ri_policy.declare_reference('kf_ochild', '{pid}', 'kf_oparent', name => 'kf_one_run');
SELECT pg_temp.check('kf_one_run', 'kf_ochild', 'kf_oparent', 2, 'one run, counted on the shards');
\set q 'SET client_min_messages = debug1; CALL ri_policy.validate(''kf_one_run'', restart => true)'
\set counted `psql -X -At -c :'q' 2>&1 | grep -c 'keys of table "kf_oparent": one run from 1 to 500, counted on its shards'`
SELECT is(:counted, 1, 'one run: counted on the parent''s shards');
DELETE FROM kf_oparent WHERE id = 250;
SELECT pg_temp.check('kf_one_run', 'kf_ochild', 'kf_oparent', 2, 'one hole: two runs, read');
\set counted `psql -X -At -c :'q' 2>&1 | grep -c 'counted on its shards'`
SELECT is(:counted, 0, 'two runs: not counted on the shards');
CREATE TABLE kf_otop (id bigint PRIMARY KEY);
SELECT create_reference_table('kf_otop');
INSERT INTO kf_otop SELECT 9223372036854775807 - g FROM generate_series(0, 299) g;
CREATE TABLE kf_otchild (id bigint, pid bigint);
SELECT create_distributed_table('kf_otchild', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO kf_otchild SELECT g, 9223372036854775807 - g % 310 FROM generate_series(1, 400) g;
INSERT INTO kf_otchild VALUES (0, -9223372036854775808), (0, 0);
SELECT ri_policy.declare_reference('kf_otchild', '{pid}', 'kf_otop', name => 'kf_one_run_top');
SELECT pg_temp.check('kf_one_run_top', 'kf_otchild', 'kf_otop', 3, 'one run at the top of bigint');
\set q 'SET client_min_messages = debug1; CALL ri_policy.validate(''kf_one_run_top'', restart => true)'
\set counted `psql -X -At -c :'q' 2>&1 | grep -c 'one run from 9223372036854775508 to 9223372036854775807, counted'`
SELECT is(:counted, 1, 'one run of a reference table: counted on its shard');

SELECT ri_policy.drop_reference(name) FROM ri_policy.references WHERE name LIKE 'kf\_%';
DROP TABLE kf_ychild, kf_yparent, kf_child, kf_big, kf_small, kf_parent, kf_ichild, kf_sparent, kf_tchild, kf_tparent, kf_rchild, kf_rparent,
	kf_mchild, kf_mrun, kf_marr, kf_bchild, kf_bparent, kf_uchild, kf_uparent,
	kf_ochild, kf_oparent, kf_otchild, kf_otop;
DROP ROLE regress_kf_other;
SELECT * FROM finish();
