-- ri_policy.mode set in the configuration file (ALTER SYSTEM) applies to
-- new sessions, the DETAIL says so, and a role cannot override it with a
-- connection option.  Runs outside a transaction block (ALTER SYSTEM);
-- cleans up after itself.
SELECT plan(4);

CREATE ROLE regress_tap_cf LOGIN;
CREATE SCHEMA regress_tap_cf AUTHORIZATION regress_tap_cf;
CREATE TABLE regress_tap_cf.parent (id int PRIMARY KEY);
ALTER TABLE regress_tap_cf.parent OWNER TO regress_tap_cf;

-- run one statement in a new session of regress_tap_cf; return its
-- SQLSTATE and DETAIL, or 'ok'
CREATE FUNCTION pg_temp.try_as_role(stmt text, options text DEFAULT '')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
	detail text;
BEGIN
	PERFORM dblink_connect('cf',
		format('host=%s port=%s dbname=%s user=regress_tap_cf options=%L',
			   split_part(current_setting('unix_socket_directories'), ',', 1),
			   current_setting('port'), current_database(), options));
	BEGIN
		PERFORM dblink_exec('cf', stmt);
		state := 'ok';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL;
		state := state || ': ' || detail;
	END;
	PERFORM dblink_disconnect('cf');
	RETURN state;
END $$;

-- wait until new sessions see the reloaded file
CREATE FUNCTION pg_temp.wait_for_mode(mode text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..100 LOOP
		IF (SELECT v FROM dblink(
				format('host=%s port=%s dbname=%s',
					   split_part(current_setting('unix_socket_directories'), ',', 1),
					   current_setting('port'), current_database()),
				'LOAD ''ri_policy''; SHOW ri_policy.mode') AS t(v text)) = mode THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN false;
END $$;

ALTER SYSTEM SET ri_policy.mode = 'block';
SELECT pg_reload_conf();
SELECT ok(pg_temp.wait_for_mode('block'), 'new sessions see the file setting');

SELECT is(pg_temp.try_as_role('CREATE TABLE regress_tap_cf.c (a int REFERENCES regress_tap_cf.parent)'),
		  '42501: Parameter "ri_policy.mode" is set to "block" in the server configuration file.',
		  'block from the configuration file, and the DETAIL says so');
SELECT is(pg_temp.try_as_role('CREATE TABLE regress_tap_cf.c (a int REFERENCES regress_tap_cf.parent)',
							  '-c ri_policy.mode=allow'),
		  '42501: Parameter "ri_policy.mode" is set to "block" in the server configuration file.',
		  'a connection option cannot override the configuration file');

ALTER SYSTEM RESET ri_policy.mode;
SELECT pg_reload_conf();
SELECT ok(pg_temp.wait_for_mode('allow'), 'the file setting is gone again');

SET client_min_messages = warning;
DROP SCHEMA regress_tap_cf CASCADE;
DROP ROLE regress_tap_cf;
SELECT * FROM finish();
