-- No two references share a lock: while one role's validation of its
-- reference holds that reference's lock, another role's reference of the
-- same name validates, and _is_running() tells them apart.  (In 0.4 the
-- lock was a hash of the name: equal or colliding names made the other
-- role's runs skip.)  The run happens in another session, through dblink,
-- so this file runs outside a transaction block and cleans up after itself.
SELECT plan(5);

CREATE ROLE regress_lock_a;
CREATE ROLE regress_lock_b;
CREATE SCHEMA lock_a AUTHORIZATION regress_lock_a;
CREATE SCHEMA lock_b AUTHORIZATION regress_lock_b;
CREATE TABLE lock_a.p (id int PRIMARY KEY);
CREATE TABLE lock_a.c (pid int);
INSERT INTO lock_a.c VALUES (1);
ALTER TABLE lock_a.p OWNER TO regress_lock_a;
ALTER TABLE lock_a.c OWNER TO regress_lock_a;
CREATE TABLE lock_b.p (id int PRIMARY KEY);
CREATE TABLE lock_b.c (pid int);
INSERT INTO lock_b.c VALUES (2);
ALTER TABLE lock_b.p OWNER TO regress_lock_b;
ALTER TABLE lock_b.c OWNER TO regress_lock_b;
SET ROLE regress_lock_a;
SELECT ri_policy.declare_reference('lock_a.c', '{pid}', 'lock_a.p', name => 'same');
RESET ROLE;
SET ROLE regress_lock_b;
SELECT ri_policy.declare_reference('lock_b.c', '{pid}', 'lock_b.p', name => 'same');
RESET ROLE;

CREATE FUNCTION pg_temp.conninfo() RETURNS text LANGUAGE sql AS $$
	SELECT format('host=%s port=%s dbname=%s',
				  split_part(current_setting('unix_socket_directories'), ',', 1),
				  current_setting('port'), current_database())$$;
CREATE FUNCTION pg_temp.id(text) RETURNS bigint LANGUAGE sql AS $$
	SELECT id FROM ri_policy._reference WHERE child = $1::regclass AND name = 'same'$$;

-- session "holder" keeps lock_a.c locked; session "runner" validates a's
-- reference and waits for the table, holding the reference's lock
SELECT dblink_connect('holder', pg_temp.conninfo());
SELECT dblink_exec('holder', 'BEGIN');
SELECT dblink_exec('holder', 'LOCK TABLE lock_a.c IN ACCESS EXCLUSIVE MODE');
SELECT dblink_connect('runner', pg_temp.conninfo());
SELECT dblink_exec('runner', 'SET ROLE regress_lock_a');
SELECT dblink_send_query('runner', $$CALL ri_policy.validate('lock_a.c.same')$$);
CREATE FUNCTION pg_temp.wait_running(bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..1000 LOOP
		IF ri_policy._is_running($1) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RETURN false;
END $$;
SELECT ok(pg_temp.wait_running(pg_temp.id('lock_a.c')), 'a''s validation holds its reference''s lock');
SELECT is(ri_policy._is_running(pg_temp.id('lock_b.c')), false,
		  'which is not the lock of b''s reference of the same name');

SET ROLE regress_lock_b;
CALL ri_policy.validate('lock_b.c.same');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'same'), 'done',
		  'b''s reference validates meanwhile: it does not skip');
SELECT is((SELECT string_agg(key::text, ',') FROM ri_policy.violations WHERE reference = 'same'),
		  '{"pid": 2}', 'and finds its own orphans');
RESET ROLE;

SELECT dblink_exec('holder', 'ROLLBACK');
SELECT dblink_get_result('runner') IS NOT NULL;
SELECT dblink_disconnect('runner');
SELECT dblink_disconnect('holder');
SELECT is((SELECT string_agg(status, ',' ORDER BY child::text) FROM ri_policy.validation_progress
			WHERE reference = 'same'), 'done,done', 'then a''s completes too');

SELECT ri_policy.drop_reference('lock_a.c.same');
SELECT ri_policy.drop_reference('lock_b.c.same');
DROP SCHEMA lock_a, lock_b CASCADE;
DROP ROLE regress_lock_a, regress_lock_b;
SELECT * FROM finish();
