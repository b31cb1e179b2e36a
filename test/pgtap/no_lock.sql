-- Blocking happens before any lock is requested: while another session
-- holds ACCESS EXCLUSIVE locks on both tables, a blocked ADD FOREIGN KEY
-- fails at once with 42501, where the allowed one waits for the lock.
-- Runs outside a transaction block (the second session must see the
-- tables); cleans up after itself.
SELECT plan(4);

CREATE TABLE nl_parent (id int PRIMARY KEY);
CREATE TABLE nl_child (id int, pid int);

SELECT dblink_connect('locker',
	format('host=%s port=%s dbname=%s user=%s',
		   split_part(current_setting('unix_socket_directories'), ',', 1),
		   current_setting('port'), current_database(), current_user));
SELECT is(dblink_exec('locker',
	'BEGIN; LOCK TABLE public.nl_child, public.nl_parent IN ACCESS EXCLUSIVE MODE'),
	'LOCK TABLE', 'a second session locks both tables');

SET lock_timeout = '500ms';
SET ri_policy.mode = 'block';
SELECT throws_ok('ALTER TABLE nl_child ADD FOREIGN KEY (pid) REFERENCES nl_parent',
				 '42501', NULL, 'block: rejected without waiting for the lock');
SELECT throws_ok('CREATE TABLE nl_other (pid int REFERENCES nl_parent)',
				 '42501', NULL, 'block: CREATE TABLE rejected without waiting for the lock');
SET ri_policy.mode = 'allow';
SELECT throws_ok('ALTER TABLE nl_child ADD FOREIGN KEY (pid) REFERENCES nl_parent',
				 '55P03', NULL, 'allow: the same statement waits for the lock');
RESET lock_timeout;

SELECT dblink_exec('locker', 'ROLLBACK');
SELECT dblink_disconnect('locker');
DROP TABLE nl_child, nl_parent;

SELECT * FROM finish();
