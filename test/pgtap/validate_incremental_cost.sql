-- What an incremental pass costs must follow what changed, not the
-- violations recorded so far.
--
-- After parent deletes (which orphan child rows) and child inserts of new
-- keys, an incremental pass records its orphans, and clears the keys whose
-- parent came back, by index and TID: it never reads ri_policy._violation
-- whole (0.7 joined a batch's outcome with every violation by hashing them
-- all, at every batch).  Its results stay exact.  Runs outside a
-- transaction block (the passes run in sessions of their own, through
-- dblink, whose statistics reach pg_stat_user_tables when they end);
-- cleans up after itself.
SELECT plan(17);

CREATE SCHEMA regress_vic;
CREATE TABLE regress_vic.parent (id int PRIMARY KEY);
INSERT INTO regress_vic.parent SELECT generate_series(1, 3000);
-- 2,000 orphaned keys recorded before, 5 rows per parent key
CREATE TABLE regress_vic.child (id int, pid int);
INSERT INTO regress_vic.child SELECT g, g % 3000 + 1 FROM generate_series(1, 15000) g;
INSERT INTO regress_vic.child SELECT 0, 100000 + g FROM generate_series(1, 2000) g;
CREATE INDEX ON regress_vic.child (pid);
ANALYZE regress_vic.child, regress_vic.parent;
SELECT ri_policy.declare_reference('regress_vic.child', '{pid}', 'regress_vic.parent',
								   name => 'vic');
SELECT ri_policy.track('vic');

\ir ../lib/sessions.sql

-- sequential scans of a table so far
CREATE FUNCTION pg_temp.seq_scans(schema_name name, table_name name) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	RETURN (SELECT seq_scan FROM pg_stat_user_tables
			 WHERE schemaname = schema_name AND relname = table_name);
END $$;
-- index entries of the violations read so far
CREATE FUNCTION pg_temp.violation_index_reads() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	RETURN (SELECT sum(idx_tup_read) FROM pg_stat_user_indexes
			 WHERE schemaname = 'ri_policy' AND relname = '_violation');
END $$;
CREATE VIEW pg_temp.truth AS
SELECT jsonb_build_object('pid', pid) AS key, count(*) AS child_rows FROM regress_vic.child c
 WHERE NOT EXISTS (SELECT 1 FROM regress_vic.parent p WHERE p.id = c.pid) GROUP BY 1;

-- statistics from before the violations were recorded, as they often are
ANALYZE ri_policy._violation;
SELECT pg_temp.wait_gone(pg_temp.run_alone($$CALL ri_policy.validate('vic')$$));

-- 1. 600 parent keys deleted (3,000 child rows orphaned) and 600 child rows
-- of new orphaned keys, in two batches
DELETE FROM regress_vic.parent WHERE id % 5 = 0;
INSERT INTO regress_vic.child SELECT 0, 200000 + g FROM generate_series(1, 600) g;
-- (this session's own reads, of the violations' view say, reach the
-- statistics a while after they happen: flushed first, they cannot land
-- in a measured window)
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE scans AS SELECT pg_temp.seq_scans('ri_policy', '_violation') AS before;
SELECT ok(pg_temp.wait_gone(pg_temp.run_alone(
	$$CALL ri_policy.validate('vic', batch_size => 700)$$)),
	'an incremental pass ran in a session of its own');
SELECT is((SELECT why_full FROM ri_policy.validation_progress WHERE reference = 'vic'), NULL,
		  'it was incremental');
SELECT cmp_ok(pg_temp.seq_scans('ri_policy', '_violation') - (SELECT before FROM scans), '<=', 1::bigint,
			  'it recorded 1,200 orphaned keys reading the violations whole at most once, to count them');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vic'$$,
			  $$SELECT key, child_rows FROM pg_temp.truth$$,
			  'its violations are exact');

-- 2. half of the deleted parent keys back, and more child rows of keys
-- already recorded: violations cleared and changed
INSERT INTO regress_vic.parent SELECT g FROM generate_series(10, 3000, 10) g;
INSERT INTO regress_vic.child SELECT 0, 100000 + g FROM generate_series(1, 500) g;
CREATE TEMP TABLE reads AS
SELECT NULL::bigint AS before,
	   (SELECT count(*) FROM ri_policy.violations WHERE reference = 'vic') AS violations;
SELECT pg_stat_force_next_flush();
UPDATE scans SET before = pg_temp.seq_scans('ri_policy', '_violation');
UPDATE reads SET before = pg_temp.violation_index_reads();
SELECT ok(pg_temp.wait_gone(pg_temp.run_alone(
	$$CALL ri_policy.validate('vic', batch_size => 700)$$)),
	'a second incremental pass ran');
SELECT cmp_ok(pg_temp.seq_scans('ri_policy', '_violation') - (SELECT before FROM scans), '<=', 1::bigint,
			  'it cleared and updated violations reading them whole at most once, to count them');
-- (counting them reads every one once; looking the keys up among all of
-- them, as a plan made for an empty _violation did, read them again)
SELECT cmp_ok(pg_temp.violation_index_reads() - (SELECT before FROM reads), '<',
			  (SELECT 2 * violations FROM reads),
			  'it looked up each key it cleared or changed by its own hash, not among all the violations');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vic'$$,
			  $$SELECT key, child_rows FROM pg_temp.truth$$,
			  'its violations are exact');
SELECT is((SELECT orphan_keys FROM ri_policy.validation_progress WHERE reference = 'vic'),
		  (SELECT count(*) FROM pg_temp.truth), 'its progress counts every key once');

-- 3. repair, with statistics from before the violations: it deletes each
-- repaired key's violation by its own hash too
ANALYZE ri_policy._violation;
UPDATE reads SET violations = (SELECT count(*) FROM ri_policy.violations WHERE reference = 'vic');
SELECT pg_stat_force_next_flush();
UPDATE reads SET before = pg_temp.violation_index_reads();
SELECT ok(pg_temp.wait_gone(pg_temp.run_alone(
	$$CALL ri_policy.repair('vic', 'delete', batch_size => 100)$$)),
	'a repair ran in a session of its own');
SELECT is((SELECT count(*) FROM pg_temp.truth), 0::bigint, 'it deleted every orphaned row');
-- (a batch reads up to batch_size keys and uses those that hold batch_size
-- rows: about three reads a violation; sorting all that were left at every
-- batch, as a plan made for an empty _violation did, read 15)
SELECT cmp_ok(pg_temp.violation_index_reads() - (SELECT before FROM reads), '<',
			  (SELECT 4 * violations FROM reads),
			  'it read the violations in batches and deleted each by its own hash');

-- 4. a child without an index on the key: the rows of every key that lost
-- its parent are counted in one scan of the child, not one scan a key (0.7
-- took ten times a full pass to count 50 keys of a 1M-row child)
CREATE TABLE regress_vic.nchild (id int, pid int);
INSERT INTO regress_vic.nchild SELECT g, g % 3000 + 1 FROM generate_series(1, 60000) g;
ANALYZE regress_vic.nchild;
SELECT ri_policy.declare_reference('regress_vic.nchild', '{pid}', 'regress_vic.parent',
								   name => 'vicn');
SELECT ri_policy.track('vicn');
SELECT pg_temp.wait_gone(pg_temp.run_alone($$CALL ri_policy.validate('vicn')$$));
DELETE FROM regress_vic.parent WHERE id % 75 = 1;
SELECT pg_stat_force_next_flush();
UPDATE scans SET before = pg_temp.seq_scans('regress_vic', 'nchild');
SELECT ok(pg_temp.wait_gone(pg_temp.run_alone($$CALL ri_policy.validate('vicn')$$)),
		  'an incremental pass of the unindexed child ran');
SELECT cmp_ok(pg_temp.seq_scans('regress_vic', 'nchild') - (SELECT before FROM scans), '<=', 1::bigint,
			  'it counted the rows of the 40 keys that lost their parent in one scan of the child');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'vicn'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM regress_vic.nchild c
				 WHERE NOT EXISTS (SELECT 1 FROM regress_vic.parent p WHERE p.id = c.pid)
				 GROUP BY 1$$,
			  'its violations are exact');
-- ... and repair finds their rows by one join too, not a scan a key (0.7
-- joined them on a condition no hash or index serves, comparing each child
-- row with every key: on a 1M-row child, 6 s for 100 keys, where reading
-- the child takes 0.3 s)
SELECT pg_stat_force_next_flush();
UPDATE scans SET before = pg_temp.seq_scans('regress_vic', 'nchild');
SELECT pg_temp.wait_gone(pg_temp.run_alone($$CALL ri_policy.repair('vicn', 'delete')$$));
SELECT cmp_ok(pg_temp.seq_scans('regress_vic', 'nchild') - (SELECT before FROM scans), '<=', 2::bigint,
			  'repair found the rows of the 40 keys in a scan or two of the child, not one a key');
SELECT is((SELECT count(*) FROM regress_vic.nchild c
			WHERE NOT EXISTS (SELECT 1 FROM regress_vic.parent p WHERE p.id = c.pid)),
		  0::bigint, 'and deleted them all');
SELECT ri_policy.drop_reference('vicn');

SELECT ri_policy.drop_reference('vic');
DROP SCHEMA regress_vic CASCADE;
SELECT * FROM finish();
