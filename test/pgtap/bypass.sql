-- No route lets a role whose mode is block (set by ALTER ROLE) create a
-- foreign key: each attempt runs in a new session, through dblink, so that
-- the library is not yet loaded there when the attempt starts.  Asserts the
-- SQLSTATEs; sql/bypass.sql shows the messages.  Runs outside a transaction
-- block (the sessions must see the role); cleans up after itself.
SELECT plan(22);

CREATE ROLE regress_tap_bp LOGIN;
CREATE SCHEMA regress_tap_bp AUTHORIZATION regress_tap_bp;
CREATE TABLE regress_tap_bp.parent (id int PRIMARY KEY);
ALTER TABLE regress_tap_bp.parent OWNER TO regress_tap_bp;
ALTER ROLE regress_tap_bp SET ri_policy.mode = 'block';
CREATE DATABASE regress_tap_bp_db OWNER regress_tap_bp;

-- run statements in a new session of regress_tap_bp, optionally with
-- connection options; the last statement's error propagates
CREATE FUNCTION pg_temp.as_role(stmts text, options text DEFAULT '')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM dblink_connect('bp',
		format('host=%s port=%s dbname=%s user=regress_tap_bp options=%L',
			   split_part(current_setting('unix_socket_directories'), ',', 1),
			   current_setting('port'), current_database(), options));
	BEGIN
		PERFORM dblink_exec('bp', stmts);
	EXCEPTION WHEN OTHERS THEN
		PERFORM dblink_disconnect('bp');
		RAISE;
	END;
	PERFORM dblink_disconnect('bp');
END $$;

\set fk 'CREATE TABLE regress_tap_bp.c (a int REFERENCES regress_tap_bp.parent)'
\set load 'ALTER TABLE regress_tap_bp.parent SET (fillfactor = 100); '

SELECT throws_ok(format('SELECT pg_temp.as_role(%L)', :'fk'), '42501', NULL,
				 'no escape attempt: blocked');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'SET ri_policy.mode = allow; ' || :'fk'), '42501', NULL,
				 'SET before the library is loaded: still blocked');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'SELECT set_config(''ri_policy.mode'', ''allow'', false); ' || :'fk'),
				 '42501', NULL, 'set_config() before the library is loaded: still blocked');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'BEGIN; SET LOCAL ri_policy.mode = allow; ' || :'fk'), '42501', NULL,
				 'SET LOCAL before the library is loaded: still blocked');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L, %L)', :'fk', '-c ri_policy.mode=allow'),
				 '42501', NULL, 'connection option: still blocked');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)', :'load' || 'SET ri_policy.mode = allow'),
				 '42501', NULL, 'SET once loaded: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						:'load' || 'BEGIN; SET LOCAL ri_policy.mode = allow'),
				 '42501', NULL, 'SET LOCAL once loaded: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						:'load' || 'SELECT set_config(''ri_policy.mode'', ''allow'', true)'),
				 '42501', NULL, 'set_config() once loaded: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'ALTER ROLE CURRENT_USER SET ri_policy.mode = allow'),
				 '42501', NULL, 'ALTER ROLE SET on itself: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						:'load' || 'ALTER ROLE CURRENT_USER RESET ri_policy.mode'),
				 '42501', NULL, 'ALTER ROLE RESET on itself: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'ALTER DATABASE regress_tap_bp_db SET ri_policy.mode = allow'),
				 '42501', NULL, 'ALTER DATABASE SET on a database it owns: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'CREATE FUNCTION regress_tap_bp.f() RETURNS void LANGUAGE sql '
						'SET ri_policy.mode = allow AS ''SELECT 1'''),
				 '42501', NULL, 'a function SET clause: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'SET session_replication_role = replica'),
				 '42501', NULL, 'session_replication_role: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'ALTER EVENT TRIGGER ri_policy_guard_ddl_start DISABLE'),
				 '42501', NULL, 'disabling the event trigger: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'DROP EVENT TRIGGER ri_policy_guard_ddl_start'),
				 '42501', NULL, 'dropping the event trigger: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)', 'DROP EXTENSION ri_policy'),
				 '42501', NULL, 'dropping the extension: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'ALTER EXTENSION ri_policy DROP EVENT TRIGGER ri_policy_guard_ddl_start'),
				 '42501', NULL, 'removing the trigger from the extension: permission denied');
SELECT throws_ok(format('SELECT pg_temp.as_role(%L)',
						'CREATE OR REPLACE FUNCTION ri_policy._guard_ddl_start() '
						'RETURNS event_trigger LANGUAGE plpgsql AS ''BEGIN END'''),
				 '42501', NULL, 'replacing the trigger function: permission denied');

-- nothing was created, the role setting is unchanged, the guard is intact
SELECT is((SELECT count(*) FROM pg_class
			WHERE relnamespace = 'regress_tap_bp'::regnamespace AND relkind = 'r'),
		  1::bigint, 'no table was created');
SELECT is((SELECT setconfig FROM pg_db_role_setting
			WHERE setrole = 'regress_tap_bp'::regrole AND setdatabase = 0),
		  '{ri_policy.mode=block}'::text[], 'the role setting is unchanged');
SELECT is((SELECT array_agg(evtenabled::text ORDER BY evtname) FROM pg_event_trigger
			WHERE evtname LIKE 'ri_policy_guard%'),
		  '{A,A}'::text[], 'the event triggers are intact and ENABLE ALWAYS');

-- PostgreSQL 15+: a role granted SET on the parameter may change it, even
-- before the library is loaded
DO $$ BEGIN
	IF current_setting('server_version_num')::int >= 150000 THEN
		EXECUTE 'GRANT SET ON PARAMETER ri_policy.mode TO regress_tap_bp';
	END IF;
END $$;
SELECT CASE WHEN current_setting('server_version_num')::int >= 150000 THEN
	lives_ok(format('SELECT pg_temp.as_role(%L)', 'SET ri_policy.mode = allow; ' || :'fk'),
			 'a role granted SET on ri_policy.mode may change it')
	ELSE skip('GRANT SET ON PARAMETER needs PostgreSQL 15') END;
DO $$ BEGIN
	IF current_setting('server_version_num')::int >= 150000 THEN
		EXECUTE 'REVOKE SET ON PARAMETER ri_policy.mode FROM regress_tap_bp';
	END IF;
END $$;

SET client_min_messages = warning;
DROP SCHEMA regress_tap_bp CASCADE;
DROP DATABASE regress_tap_bp_db;
DROP ROLE regress_tap_bp;
SELECT * FROM finish();
