-- advise() does not wait long for a table someone else holds locked: it
-- reports the relationship without the sizes that need the lock, and says
-- so; discover() waits no longer than its budget.  A second session through dblink holds the lock; runs outside a
-- transaction block and cleans up after itself.
SELECT plan(6);

CREATE SCHEMA regress_adv_lock;
CREATE TABLE regress_adv_lock.parent (id int PRIMARY KEY);
CREATE TABLE regress_adv_lock.child (parent_id int REFERENCES regress_adv_lock.parent, other_parent_id int)
	PARTITION BY RANGE (parent_id);
CREATE TABLE regress_adv_lock.child_1 PARTITION OF regress_adv_lock.child FOR VALUES FROM (0) TO (100);

CREATE FUNCTION pg_temp.connect(name text) RETURNS text LANGUAGE sql AS $$
	SELECT dblink_connect(name, format('host=%s port=%s dbname=%s',
		split_part(current_setting('unix_socket_directories'), ',', 1),
		current_setting('port'), current_database()))
$$;
SELECT pg_temp.connect('adv_lock');
SELECT dblink_exec('adv_lock', 'BEGIN');
SELECT dblink_exec('adv_lock', 'LOCK regress_adv_lock.child_1 IN ACCESS EXCLUSIVE MODE');

SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE a AS SELECT * FROM ri_policy.advise() WHERE child = 'regress_adv_lock.child'::regclass;
SELECT ok(clock_timestamp() - :'t0'::timestamptz < '20 s', 'advise() returns while a partition is locked');
SELECT is((SELECT (child_bytes, child_rows) FROM a), (NULL::bigint, NULL::bigint),
		  'the child''s sizes, which need the lock, are not shown');
SELECT is((SELECT cost_note FROM a) LIKE 'regress_adv_lock.child was locked: its size and writes are not shown%',
		  true, 'and the note says why');
SELECT is((SELECT parent_bytes > 0 FROM a), true, 'the parent''s are');

-- discover() waits for it no longer than its budget, and says it could not
-- verify the candidate
SELECT clock_timestamp() AS t0 \gset
SET client_min_messages = warning;
CREATE TEMP TABLE d AS SELECT * FROM ri_policy.discover(time_budget => '2 s', schema_name => 'regress_adv_lock',
														all_candidates => true);
RESET client_min_messages;
SELECT ok(clock_timestamp() - :'t0'::timestamptz < '20 s', 'discover() returns while a partition is locked');
SELECT is((SELECT array_agg(child_column::text || ' ' || verdict) FROM d), '{"other_parent_id not verified"}',
		  'the candidate on the locked table is not verified');

SELECT dblink_exec('adv_lock', 'ROLLBACK');
SELECT dblink_disconnect('adv_lock');
DROP SCHEMA regress_adv_lock CASCADE;
SELECT * FROM finish();
