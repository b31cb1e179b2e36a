-- The guard in a Citus cluster: ALTER ROLE ... SET ri_policy.mode reaches
-- the workers, a foreign key between co-located tables is decided once on
-- the coordinator (blocked there, with no worker involved; in warn mode one
-- warning), a session's mode reaches the workers only through Citus's SET
-- LOCAL propagation, and a worker's own guard still holds for an ordinary
-- role connecting to it directly, whatever application_name it claims.
-- Runs outside a transaction block; cleans up.
SET client_min_messages = error;
SELECT plan(7);

CREATE ROLE regress_citus_guard LOGIN;
GRANT CREATE ON SCHEMA public TO regress_citus_guard;
ALTER ROLE regress_citus_guard SET ri_policy.mode = 'block';
CREATE FUNCTION pg_temp.worker_conninfo(extra text) RETURNS text LANGUAGE sql AS $$
	SELECT format('host=%s port=%s dbname=%s user=regress_citus_guard %s',
				  split_part(current_setting('unix_socket_directories'), ',', 1),
				  (SELECT nodeport FROM pg_dist_node WHERE groupid > 0 ORDER BY nodeport LIMIT 1),
				  current_database(), extra)$$;

SELECT is((SELECT r FROM dblink(pg_temp.worker_conninfo(''),
								'SELECT current_setting(''ri_policy.mode'')') AS t(r text)),
		  'block', 'ALTER ROLE ... SET ri_policy.mode reached the worker');

SET ROLE regress_citus_guard;
CREATE TABLE gd_parent (id int PRIMARY KEY);
CREATE TABLE gd_child (id int, pid int);
SELECT create_distributed_table('gd_parent', 'id', shard_count => 4);
SELECT create_distributed_table('gd_child', 'pid', colocate_with => 'gd_parent');
RESET ROLE;

-- a new session of the role: its settings, as on the workers
CREATE FUNCTION pg_temp.as_role(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	msg text;
BEGIN
	PERFORM dblink_exec(format('host=%s port=%s dbname=%s user=regress_citus_guard',
							   split_part(current_setting('unix_socket_directories'), ',', 1),
							   current_setting('port'), current_database()), sql);
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
	RETURN SQLSTATE || ': ' || msg;
END $$;

SELECT is(pg_temp.as_role('ALTER TABLE gd_child ADD CONSTRAINT gd_fk FOREIGN KEY (pid) REFERENCES gd_parent (id)'),
		  '42501: foreign key constraint "gd_fk" on table "gd_child" referencing table "gd_parent" is not allowed',
		  'block: refused once, on the coordinator');
SELECT is((SELECT count(*) FROM pg_constraint WHERE conname LIKE 'gd_fk%'), 0::bigint,
		  'block: no key anywhere on the coordinator');

SELECT is(pg_temp.as_role('SET ri_policy.mode = ''warn''; ALTER TABLE gd_child ADD CONSTRAINT gd_fk FOREIGN KEY (pid) REFERENCES gd_parent (id)'),
		  '42501: foreign key constraint "gd_fk" on table "gd_child" referencing table "gd_parent" is not allowed',
		  'an ordinary role''s SET does not lift its mode');

ALTER ROLE regress_citus_guard SET ri_policy.mode = 'warn';
SELECT is(pg_temp.as_role('ALTER TABLE gd_child ADD CONSTRAINT gd_fk FOREIGN KEY (pid) REFERENCES gd_parent (id)'),
		  'ok', 'warn: the key is created through Citus');
SELECT is((SELECT count(*) FROM ri_policy.warned WHERE constraint_name = 'gd_fk'), 1::bigint,
		  'warn: one record on the coordinator');
ALTER ROLE regress_citus_guard SET ri_policy.mode = 'block';

-- directly on a worker, claiming to be Citus
SELECT throws_like($$SELECT dblink_exec(pg_temp.worker_conninfo('application_name=''citus_internal gpid=10000000001'''),
	'CREATE TABLE gd_w_parent (id int PRIMARY KEY); CREATE TABLE gd_w_child (pid int REFERENCES gd_w_parent)')$$,
	'%foreign key constraint on table "gd_w_child" referencing table "gd_w_parent" is not allowed%',
	'a worker''s guard holds for a role claiming to be Citus');

DROP TABLE gd_child, gd_parent;
ALTER ROLE regress_citus_guard RESET ri_policy.mode;
REVOKE CREATE ON SCHEMA public FROM regress_citus_guard;
DELETE FROM ri_policy._warned WHERE constraint_name LIKE 'gd_fk%';
DROP ROLE regress_citus_guard;
SELECT * FROM finish();
