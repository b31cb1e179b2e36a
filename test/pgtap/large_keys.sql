-- Any key a user can store is recordable.  An orphaned key larger than a
-- b-tree entry (about 2.7 kB) used to stop every pass for good at its
-- batch, recording nothing: the results were keyed by a b-tree on the
-- whole key.  They are now found by a hash of the key, and two keys whose
-- hashes collide stay two keys.  Keys of 3 kB, 100 kB and 1 MB go through
-- validate(), orphans(), an incremental pass and repair().
BEGIN;
SELECT plan(18);

-- text that does not compress: a key of that many bytes
CREATE FUNCTION pg_temp.blob(seed int, bytes int) RETURNS text LANGUAGE sql AS $$
	SELECT left(string_agg(rtrim(encode(sha256((seed || '.' || g)::bytea), 'base64'), '='), ''),
				bytes)
	  FROM generate_series(1, bytes / 43 + 1) g
$$;

CREATE TABLE lk_p (k text PRIMARY KEY);
INSERT INTO lk_p VALUES ('a'), ('b');
CREATE TABLE lk_c (id int, k text);
CREATE INDEX ON lk_c USING hash (k);
INSERT INTO lk_c VALUES (1, 'a'), (2, pg_temp.blob(1, 3000)), (3, pg_temp.blob(1, 3000)),
	(4, pg_temp.blob(2, 100000)), (5, 'c'), (6, pg_temp.blob(3, 1000000)), (7, 'b');
INSERT INTO lk_c SELECT 7, 'b' FROM generate_series(1, 100);
CREATE FUNCTION pg_temp.truth() RETURNS TABLE (k text, n bigint) LANGUAGE sql AS $$
	SELECT md5(k), count(*) FROM lk_c
	 WHERE k IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lk_p WHERE lk_p.k = lk_c.k)
	 GROUP BY k
$$;
SELECT ri_policy.declare_reference('lk_c', '{k}', 'lk_p', name => 'lk', on_delete => 'cascade');
SELECT is((SELECT max(length(k)) FROM lk_c), 1000000, 'a key of 1 MB');

SELECT lives_ok($$CALL ri_policy.validate('lk', batch_size => 2)$$, 'validate() records large keys');
SELECT set_eq($$SELECT md5(key ->> 'k'), child_rows FROM ri_policy.violations WHERE reference = 'lk'$$,
			  'SELECT * FROM pg_temp.truth()', 'exactly');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'lk'), 'done',
		  'and the pass is done');
SELECT set_eq($$SELECT md5(key ->> 'k'), child_rows FROM ri_policy.orphans('lk')$$,
			  'SELECT * FROM pg_temp.truth()', 'orphans() agrees');
SELECT lives_ok($$CALL ri_policy.validate('lk', batch_size => 100)$$, 'a pass in one batch');
SELECT set_eq($$SELECT md5(key ->> 'k'), child_rows FROM ri_policy.violations WHERE reference = 'lk'$$,
			  'SELECT * FROM pg_temp.truth()', 'is exact too');

-- tracked: large keys come and go
SELECT ri_policy.track('lk');
CALL ri_policy.validate('lk');
INSERT INTO lk_c VALUES (8, pg_temp.blob(1, 3000)), (9, pg_temp.blob(4, 3000)),
	(10, pg_temp.blob(5, 1000000));
DELETE FROM lk_c WHERE id = 4;
DELETE FROM lk_p WHERE k = 'a';
SELECT lives_ok($$CALL ri_policy.validate('lk')$$, 'an incremental pass records large keys');
SELECT is((SELECT rows_checked < 20 FROM ri_policy.validation_progress WHERE reference = 'lk'), true,
		  '(it was incremental)');
SELECT set_eq($$SELECT md5(key ->> 'k'), child_rows FROM ri_policy.violations WHERE reference = 'lk'$$,
			  'SELECT * FROM pg_temp.truth()', 'exactly');

-- repair() deletes the rows of large keys, and no row with a parent: a
-- parent key that compresses can be large too
INSERT INTO lk_p VALUES (pg_temp.blob(4, 2000));	-- not the 3 kB key 4: a prefix of it
INSERT INTO lk_p VALUES (repeat('y', 100000));
INSERT INTO lk_c VALUES (11, repeat('y', 100000)), (12, repeat('y', 100001));
CALL ri_policy.validate('lk');
SELECT set_eq($$SELECT md5(key ->> 'k'), child_rows FROM ri_policy.violations WHERE reference = 'lk'$$,
			  'SELECT * FROM pg_temp.truth()', 'a large key with a parent is none');
CALL ri_policy.repair('lk', batch_size => 1);
SELECT is((SELECT string_agg(DISTINCT id::text, ',' ORDER BY id::text) FROM lk_c), '11,7',
		  'repair() deletes the rows of every orphaned key, large or not, and no row with a parent');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'lk'), 0::bigint,
		  'and clears them');

-- Two keys whose hashes collide stay two keys: two integers with the same
-- hash, both orphans, read in different batches.
CREATE TEMP TABLE hc_pair AS
	SELECT min(g) AS a, max(g) AS b
	  FROM generate_series(1, 300000) g GROUP BY hashint4(g) HAVING count(*) > 1
	 ORDER BY 1 LIMIT 1;
CREATE TABLE hc_p (id int PRIMARY KEY);
INSERT INTO hc_p VALUES (0);
CREATE TABLE hc_c (id int, pid int);
CREATE INDEX ON hc_c (pid);
INSERT INTO hc_c SELECT 1, a FROM hc_pair;
INSERT INTO hc_c SELECT 2, b FROM hc_pair;
INSERT INTO hc_c SELECT 3, a FROM hc_pair;
INSERT INTO hc_c SELECT 4, b FROM hc_pair;
INSERT INTO hc_c SELECT 5, b FROM hc_pair;
CREATE FUNCTION pg_temp.hc_truth() RETURNS TABLE (k int, n bigint) LANGUAGE sql AS $$
	SELECT pid, count(*) FROM hc_c
	 WHERE pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM hc_p WHERE hc_p.id = hc_c.pid)
	 GROUP BY pid
$$;
SELECT ri_policy.declare_reference('hc_c', '{pid}', 'hc_p', name => 'hc', on_delete => 'cascade');
SELECT ri_policy.track('hc');
CALL ri_policy.validate('hc', batch_size => 1);
SELECT set_eq($$SELECT (key ->> 'pid')::int, child_rows FROM ri_policy.violations WHERE reference = 'hc'$$,
			  'SELECT * FROM pg_temp.hc_truth()', 'two keys of one hash stay two keys');
SELECT is((SELECT count(DISTINCT key_hash) FROM ri_policy._violation
			WHERE reference = (SELECT id FROM ri_policy._reference WHERE name = 'hc')), 1::bigint,
		  '(their hashes are the same)');
SELECT set_eq($$SELECT (key ->> 'pid')::int, child_rows FROM ri_policy.orphans('hc')$$,
			  'SELECT * FROM pg_temp.hc_truth()', 'orphans() agrees');
-- one of them gets its parent: an incremental pass clears it alone
INSERT INTO hc_p SELECT a FROM hc_pair;
INSERT INTO hc_c SELECT 6, b FROM hc_pair;
CALL ri_policy.validate('hc');
SELECT set_eq($$SELECT (key ->> 'pid')::int, child_rows FROM ri_policy.violations WHERE reference = 'hc'$$,
			  'SELECT * FROM pg_temp.hc_truth()', 'an incremental pass tells them apart');
CALL ri_policy.repair('hc');
SELECT is((SELECT string_agg(id::text, ',' ORDER BY id) FROM hc_c), '1,3',
		  'and so does repair()');

SELECT * FROM finish();
ROLLBACK;
