-- A repair() cancelled while it acts (here: a statement timeout while it
-- waits for a row another session has locked) leaves its session usable,
-- not stuck in an aborted transaction (found by the randomized test), and
-- changes nothing of what it had not committed.  dblink sessions; outside a
-- transaction block; cleans up after itself.
SELECT plan(4);

CREATE SCHEMA rc;
CREATE TABLE rc.p (id int PRIMARY KEY);
CREATE TABLE rc.c (id int PRIMARY KEY, pid int);
INSERT INTO rc.c VALUES (1, 10), (2, 20);
SELECT ri_policy.declare_reference('rc.c', '{pid}', 'rc.p', name => 'rc_ref');
CALL ri_policy.validate('rc_ref');

CREATE FUNCTION pg_temp.connect(name text) RETURNS text LANGUAGE sql AS $$
	SELECT dblink_connect(name, format('host=%s port=%s dbname=%s',
		split_part(current_setting('unix_socket_directories'), ',', 1),
		current_setting('port'), current_database()))
$$;
SELECT pg_temp.connect('rc_a'), pg_temp.connect('rc_b');
SELECT dblink_exec('rc_b', 'BEGIN');
SELECT * FROM dblink('rc_b', 'SELECT id FROM rc.c WHERE id = 1 FOR UPDATE') AS t(id int);
SELECT dblink_exec('rc_a', 'SET statement_timeout = 300');
SET client_min_messages = warning;
SELECT ok(dblink_exec('rc_a', $$CALL ri_policy.repair('rc_ref', 'delete', 10)$$, false) = 'ERROR'
		  AND dblink_error_message('rc_a') LIKE '%canceling statement due to statement timeout%',
		  'a repair() waiting for a locked row is cancelled');
RESET client_min_messages;
SELECT is((SELECT x FROM dblink('rc_a', 'SELECT 42') AS t(x int)), 42,
		  'its session goes on: no transaction was left open');
SELECT dblink_exec('rc_b', 'ROLLBACK');
SELECT is((SELECT count(*) FROM rc.c), 2::bigint, 'nothing was deleted');
SELECT dblink_exec('rc_a', $$CALL ri_policy.repair('rc_ref', 'delete')$$);
SELECT is((SELECT count(*) FROM rc.c), 0::bigint, 'and repair() then works in that session');

SELECT dblink_disconnect('rc_a'), dblink_disconnect('rc_b');
SET client_min_messages = warning;
SELECT ri_policy.drop_reference('rc_ref');
DROP SCHEMA rc CASCADE;
SELECT * FROM finish();
