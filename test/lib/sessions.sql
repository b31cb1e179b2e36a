-- test/lib/sessions.sql -- functions for tests that run statements in other
-- sessions of the same database, through dblink, and watch them from their
-- own.  Included by test files with \ir; the functions are pg_temp's, gone
-- with the test's session.

-- a connection string to this database
CREATE FUNCTION pg_temp.conninfo() RETURNS text LANGUAGE sql AS $$
	SELECT format('host=%s port=%s dbname=%s',
				  split_part(current_setting('unix_socket_directories'), ',', 1),
				  current_setting('port'), current_database())$$;

-- in a new session "runner": run each of the setup statements, then send
-- statement without waiting for it; return the session's pid
CREATE FUNCTION pg_temp.start_run(statement text, setup text[] DEFAULT '{}')
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	pid int;
	s text;
BEGIN
	PERFORM dblink_connect('runner', pg_temp.conninfo());
	SELECT p INTO pid FROM dblink('runner', 'SELECT pg_backend_pid()') AS t(p int);
	FOREACH s IN ARRAY setup LOOP
		PERFORM dblink_exec('runner', s);
	END LOOP;
	PERFORM dblink_send_query('runner', statement);
	PERFORM set_config('ri_policy_test.runner_pid', pid::text, false);
	RETURN pid;
END $$;

-- wait until a run of validate(ref) has committed at least n batches and is
-- still running
CREATE FUNCTION pg_temp.wait_batches(ref text, n int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..3000 LOOP
		IF EXISTS (SELECT 1 FROM ri_policy.validation_progress
					WHERE reference = ref AND status = 'running' AND batches >= n) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.005);
	END LOOP;
	RETURN false;
END $$;

-- wait until the backend of pid has exited
CREATE FUNCTION pg_temp.wait_gone(pid int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..1000 LOOP
		PERFORM pg_stat_clear_snapshot();
		IF NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = wait_gone.pid) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RETURN false;
END $$;

-- wait for the runner's statement to end, close the session and wait for
-- its backend to exit (a statement's error reaches us before its backend
-- has let go of what it held); return the statement's error, or 'ok'
CREATE FUNCTION pg_temp.finish_run() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	msg text := 'ok';
	pid int;
BEGIN
	BEGIN
		PERFORM * FROM dblink_get_result('runner') AS t(r text);
	EXCEPTION WHEN query_canceled OR OTHERS THEN
		msg := SQLERRM;
	END;
	BEGIN
		PERFORM dblink_disconnect('runner');
	EXCEPTION WHEN OTHERS THEN
		NULL;
	END;
	pid := nullif(current_setting('ri_policy_test.runner_pid', true), '')::int;
	PERFORM set_config('ri_policy_test.runner_pid', '', false);
	IF pid IS NOT NULL AND NOT pg_temp.wait_gone(pid) THEN
		RAISE EXCEPTION 'the runner''s backend did not exit';
	END IF;
	RETURN msg;
END $$;

-- run statements in a session of their own and end it; return its pid
CREATE FUNCTION pg_temp.run_alone(statements text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	pid int;
BEGIN
	PERFORM dblink_connect('alone', pg_temp.conninfo());
	SELECT p INTO pid FROM dblink('alone', 'SELECT pg_backend_pid()') AS t(p int);
	PERFORM dblink_exec('alone', statements);
	PERFORM dblink_disconnect('alone');
	RETURN pid;
END $$;
