-- Blocking happens before any work: a blocked ADD FOREIGN KEY does not scan
-- the table, where the allowed statement does.  (no_lock.sql: nor does it
-- wait for a lock.)
BEGIN;
SELECT plan(4);

CREATE TABLE big_parent (id int PRIMARY KEY);
INSERT INTO big_parent SELECT generate_series(1, 1000);
CREATE TABLE big (id int, pid int);
INSERT INTO big SELECT g, g % 1000 + 1 FROM generate_series(1, 50000) g;

CREATE FUNCTION scans(rel regclass) RETURNS bigint LANGUAGE sql AS
	$$SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
		FROM pg_stat_xact_user_tables WHERE relid = rel$$;

SET ri_policy.mode = 'block';
CREATE TEMP TABLE before AS SELECT scans('big') AS n;
SELECT throws_ok('ALTER TABLE big ADD FOREIGN KEY (pid) REFERENCES big_parent',
				 '42501', NULL, 'blocked ADD FOREIGN KEY');
SELECT is(scans('big'), (SELECT n FROM before), 'the blocked statement did not scan big');

SET ri_policy.mode = 'allow';
SELECT lives_ok('ALTER TABLE big ADD FOREIGN KEY (pid) REFERENCES big_parent',
				'allowed ADD FOREIGN KEY');
SELECT cmp_ok(scans('big'), '>', (SELECT n FROM before), 'the allowed statement scanned big');

SELECT * FROM finish();
ROLLBACK;
