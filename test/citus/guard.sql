-- The guard in a Citus cluster: ALTER ROLE ... SET ri_policy.mode reaches
-- the workers, a foreign key between co-located tables is decided once on
-- the coordinator (blocked there, with no worker involved; in warn mode one
-- warning), a session's own mode goes with the statement to the workers when
-- the role may set the parameter (and fails closed when it may not), and a
-- worker's own guard still holds for an ordinary role connecting to it
-- directly, whatever application_name it claims.
-- Runs outside a transaction block; cleans up.
SET client_min_messages = error;
SELECT plan(19);

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
SELECT is((SELECT string_agg(result, ',') FROM run_command_on_workers(
			   $$SELECT count(*) FILTER (WHERE detail NOT LIKE '%for role "regress_citus_guard"%')
				   FROM ri_policy.warned WHERE constraint_name LIKE 'gd_fk%'$$)),
		  '0,0', 'warn: the workers decided by the role''s own setting (nothing carried)');
ALTER ROLE regress_citus_guard SET ri_policy.mode = 'block';
ALTER TABLE gd_child DROP CONSTRAINT gd_fk;

-- A session's own mode, set by a role that may set the parameter, goes with
-- the statement to the workers (whose setting for the role is block): one
-- decision, the coordinator's.
-- statements run in one new session of a role: the values of its queries,
-- joined by ' | ', or the first error
CREATE FUNCTION pg_temp.session_get(who name, VARIADIC sqls text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
	v text;
	msg text;
BEGIN
	PERFORM dblink_connect('gd', format('host=%s port=%s dbname=%s user=%s',
									   split_part(current_setting('unix_socket_directories'), ',', 1),
									   current_setting('port'), current_database(), who));
	BEGIN
		FOREACH v IN ARRAY sqls LOOP
			IF v LIKE 'SELECT%' THEN
				r := concat_ws(' | ', r, (SELECT t.r FROM dblink('gd', v) AS t(r text)));
			ELSE
				PERFORM dblink_exec('gd', v);
			END IF;
		END LOOP;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
		r := SQLSTATE || ': ' || msg;
	END;
	PERFORM dblink_disconnect('gd');
	RETURN r;
END $$;
CREATE FUNCTION pg_temp.worker_keys(pattern text) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(result, ',' ORDER BY nodeport)
	  FROM run_command_on_workers(format('SELECT count(*) FROM pg_constraint WHERE conname LIKE %L', pattern))$$;
GRANT SET ON PARAMETER ri_policy.mode TO regress_citus_guard;
SELECT run_command_on_workers('GRANT SET ON PARAMETER ri_policy.mode TO regress_citus_guard');

SELECT is(pg_temp.session_get('regress_citus_guard', $$SET ri_policy.mode = 'allow'$$,
	'ALTER TABLE gd_child ADD CONSTRAINT gd_fk2 FOREIGN KEY (pid) REFERENCES gd_parent (id)',
	$$SELECT current_setting('ri_policy.mode') || ' ' || current_setting('citus.propagate_set_commands')$$),
		  'allow none', 'allow set in the session: the key is created through Citus; this node''s settings are as they were');
SELECT is(pg_temp.worker_keys('gd_fk2%'), '3,3', 'allow set in the session: the key is on every shard (and the workers'' shells)');
SELECT is(pg_temp.session_get('regress_citus_guard', 'BEGIN', $$SET LOCAL ri_policy.mode = 'allow'$$,
	'ALTER TABLE gd_child DROP CONSTRAINT gd_fk2',
	'ALTER TABLE gd_child ADD CONSTRAINT gd_fk3 FOREIGN KEY (pid) REFERENCES gd_parent (id)',
	$$SELECT current_setting('ri_policy.mode') || ' ' || current_setting('citus.propagate_set_commands')$$,
	'COMMIT', $$SELECT current_setting('ri_policy.mode')$$),
		  'allow none | block', 'SET LOCAL, then a drop and an add in one transaction: carried too; this node''s settings are as they were');
SELECT is(pg_temp.worker_keys('gd_fk2%') || ' ' || pg_temp.worker_keys('gd_fk3%'), '0,0 3,3',
		  'SET LOCAL: the dropped key is gone from every shard, the added one on every shard and shell');

-- warn carried: one warning, and the workers warn rather than block
ALTER TABLE gd_child DROP CONSTRAINT IF EXISTS gd_fk3;
SELECT is(pg_temp.session_get('regress_citus_guard', $$SET ri_policy.mode = 'warn'$$,
	'ALTER TABLE gd_child ADD CONSTRAINT gd_fk4 FOREIGN KEY (pid) REFERENCES gd_parent (id)',
	$$SELECT 'ok'$$), 'ok', 'warn set in the session: the key is created through Citus');
SELECT is((SELECT count(*) FROM ri_policy.warned WHERE constraint_name = 'gd_fk4'
			  AND detail LIKE '%in the current session%'), 1::bigint,
		  'warn set in the session: one record on the coordinator');
SELECT is((SELECT string_agg(result, ',') FROM run_command_on_workers(
			   $$SELECT count(*) > 0 AND bool_and(detail LIKE '%in the current session%')
				   FROM ri_policy.warned WHERE constraint_name LIKE 'gd_fk4%'$$)),
		  't,t', 'warn set in the session: each worker decided by it');
ALTER TABLE gd_child DROP CONSTRAINT IF EXISTS gd_fk4;

-- a role that may not set the parameter on a worker: refused there, nothing created
SELECT run_command_on_workers('REVOKE SET ON PARAMETER ri_policy.mode FROM regress_citus_guard');
SELECT matches(pg_temp.session_get('regress_citus_guard', $$SET ri_policy.mode = 'allow'$$,
	'ALTER TABLE gd_child ADD CONSTRAINT gd_fk5 FOREIGN KEY (pid) REFERENCES gd_parent (id)',
	$$SELECT 'ok'$$),
	'^42501: (permission denied to set parameter "ri_policy.mode"|foreign key constraint "gd_fk5" on table "gd_child" referencing table "gd_parent" is not allowed)$',
	'no privilege on the workers: the carried mode is refused there, and so is the key');
SELECT is((SELECT count(*) FROM pg_constraint WHERE conname LIKE 'gd_fk5%')::text || ' ' ||
		  pg_temp.worker_keys('gd_fk5%'), '0 0,0', '... and no key anywhere');

-- a session's mode that the current role may not set (after SET ROLE) is
-- not carried: the workers decide by that role's own setting
REVOKE SET ON PARAMETER ri_policy.mode FROM regress_citus_guard;
SELECT matches(pg_temp.session_get(current_user, $$SET ri_policy.mode = 'allow'$$,
	'SET ROLE regress_citus_guard',
	'ALTER TABLE gd_child ADD CONSTRAINT gd_fk6 FOREIGN KEY (pid) REFERENCES gd_parent (id)',
	$$SELECT 'ok'$$),
	'^42501: foreign key constraint "gd_fk6" on table "gd_child" referencing table "gd_parent" is not allowed',
	'after SET ROLE to a role that may not set the parameter: not carried; a worker refuses');
SELECT is((SELECT count(*) FROM pg_constraint WHERE conname LIKE 'gd_fk6%')::text || ' ' ||
		  pg_temp.worker_keys('gd_fk6%'), '0 0,0', '... and no key anywhere');

-- directly on a worker, claiming to be Citus
SELECT throws_like($$SELECT dblink_exec(pg_temp.worker_conninfo('application_name=''citus_internal gpid=10000000001'''),
	'CREATE TABLE gd_w_parent (id int PRIMARY KEY); CREATE TABLE gd_w_child (pid int REFERENCES gd_w_parent)')$$,
	'%foreign key constraint on table "gd_w_child" referencing table "gd_w_parent" is not allowed%',
	'a worker''s guard holds for a role claiming to be Citus');

DROP TABLE gd_child, gd_parent;
ALTER ROLE regress_citus_guard RESET ri_policy.mode;
REVOKE CREATE ON SCHEMA public FROM regress_citus_guard;
DELETE FROM ri_policy._warned WHERE constraint_name LIKE 'gd_fk%';
SELECT run_command_on_workers($$DELETE FROM ri_policy._warned WHERE constraint_name LIKE 'gd_fk%'$$);
DROP ROLE regress_citus_guard;
SELECT * FROM finish();
