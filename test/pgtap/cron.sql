-- Scheduling with pg_cron: a validation scheduled through pg_cron runs, and
-- its completed run shows in ri_policy.validation_progress.  pg_cron is
-- preloaded in the test cluster with cron.database_name = postgres; the job
-- runs here through cron.schedule_in_database.  pg_cron 1.4 schedules by
-- the minute, so this waits up to 90 seconds.  Runs outside a transaction
-- block; cleans up after itself.
SELECT plan(4);

CREATE TABLE cron_parent (id int PRIMARY KEY);
INSERT INTO cron_parent SELECT generate_series(1, 100);
CREATE TABLE cron_child (pid int);
INSERT INTO cron_child SELECT g % 110 FROM generate_series(1, 5000) g;
SELECT ri_policy.declare_reference('cron_child', '{pid}', 'cron_parent', name => 'cron_ref');

SELECT dblink_connect('cron',
	format('host=%s port=%s dbname=postgres',
		   split_part(current_setting('unix_socket_directories'), ',', 1),
		   current_setting('port')));
SELECT dblink_exec('cron', 'CREATE EXTENSION IF NOT EXISTS pg_cron');
SELECT ok(jobid > 0, 'a validation is scheduled every minute')
  FROM dblink('cron', format($$SELECT cron.schedule_in_database('ri_policy_cron_test',
		'* * * * *', 'CALL ri_policy.validate(''cron_ref'')', %L)$$, current_database()))
	   AS t(jobid bigint);

CREATE FUNCTION pg_temp.wait_for_run() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..900 LOOP
		IF EXISTS (SELECT 1 FROM ri_policy.validation_progress
					WHERE reference = 'cron_ref' AND status = 'done') THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN false;
END $$;

SELECT ok(pg_temp.wait_for_run(), 'pg_cron ran it: validation_progress shows a completed run');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'cron_ref'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM cron_child c
				 WHERE NOT EXISTS (SELECT 1 FROM cron_parent p WHERE p.id = c.pid) GROUP BY 1$$,
			  'with the right violations');
SELECT is(status, 'succeeded', 'pg_cron recorded the run as succeeded')
  FROM dblink('cron', $$SELECT status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
						 WHERE j.jobname = 'ri_policy_cron_test' ORDER BY runid DESC LIMIT 1$$)
	   AS t(status text);

SELECT * FROM dblink('cron', $$SELECT cron.unschedule('ri_policy_cron_test')$$) AS t(done boolean);
SELECT dblink_disconnect('cron');
SELECT ri_policy.drop_reference('cron_ref');
DROP TABLE cron_child, cron_parent;
SELECT * FROM finish();
