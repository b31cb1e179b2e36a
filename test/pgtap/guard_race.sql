-- In a transaction block a backend answers name lookups from its caches
-- until it next accepts invalidations.  The guard must not: another session
-- drops or creates the table between this session's statements, and
-- CREATE TABLE IF NOT EXISTS / ALTER TABLE IF EXISTS are still judged on the
-- catalog as it is now.  Two sessions of a role whose mode is block, through
-- dblink; runs outside a transaction block and cleans up after itself.
SELECT plan(6);

CREATE ROLE regress_tap_race LOGIN;
CREATE SCHEMA regress_race AUTHORIZATION regress_tap_race;
CREATE TABLE regress_race.parent (id int PRIMARY KEY);
CREATE TABLE regress_race.t (id int);
ALTER TABLE regress_race.parent OWNER TO regress_tap_race;
ALTER TABLE regress_race.t OWNER TO regress_tap_race;
ALTER ROLE regress_tap_race SET ri_policy.mode = 'block';

SELECT dblink_connect('race',
	format('host=%s port=%s dbname=%s user=regress_tap_race',
		   split_part(current_setting('unix_socket_directories'), ',', 1),
		   current_setting('port'), current_database()));

-- the session knows t; t is dropped; CREATE TABLE IF NOT EXISTS t must not
-- be taken for a no-op
SELECT dblink_exec('race', 'BEGIN');
SELECT * FROM dblink('race', $$SELECT to_regclass('regress_race.t')::text$$) AS x(r text);
DROP TABLE regress_race.t;
SELECT throws_ok($$SELECT dblink_exec('race',
	'CREATE TABLE IF NOT EXISTS regress_race.t (id int, pid int REFERENCES regress_race.parent)')$$,
	'42501', NULL, 'CREATE TABLE IF NOT EXISTS of a table dropped meanwhile: blocked');
SELECT dblink_exec('race', 'ROLLBACK');

-- the session knows "late" is missing; it is created; ALTER TABLE IF EXISTS
-- late ADD FOREIGN KEY must not be taken for a no-op
SELECT dblink_exec('race', 'BEGIN');
SELECT is((SELECT r FROM dblink('race', $$SELECT to_regclass('regress_race.late')::text$$) AS x(r text)),
		  NULL, 'the session looked for "late" and did not find it');
CREATE TABLE regress_race.late (id int);
ALTER TABLE regress_race.late OWNER TO regress_tap_race;
SELECT throws_ok($$SELECT dblink_exec('race',
	'ALTER TABLE IF EXISTS regress_race.late ADD FOREIGN KEY (id) REFERENCES regress_race.parent NOT VALID')$$,
	'42501', NULL, 'ALTER TABLE IF EXISTS of a table created meanwhile: blocked');
SELECT dblink_exec('race', 'ROLLBACK');

-- the same for a column: ADD COLUMN IF NOT EXISTS of a column dropped meanwhile
CREATE TABLE regress_race.t (id int, c int);
ALTER TABLE regress_race.t OWNER TO regress_tap_race;
SELECT dblink_exec('race', 'BEGIN');
SELECT * FROM dblink('race', $$SELECT has_column_privilege('regress_race.t', 'c', 'SELECT')$$) AS x(b boolean);
ALTER TABLE regress_race.t DROP COLUMN c;
SELECT throws_ok($$SELECT dblink_exec('race',
	'ALTER TABLE regress_race.t ADD COLUMN IF NOT EXISTS c int REFERENCES regress_race.parent')$$,
	'42501', NULL, 'ADD COLUMN IF NOT EXISTS of a column dropped meanwhile: blocked');
SELECT dblink_exec('race', 'ROLLBACK');
SELECT dblink_disconnect('race');

SELECT is((SELECT count(*) FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
			WHERE c.contype = 'f' AND r.relnamespace = 'regress_race'::regnamespace),
		  0::bigint, 'no foreign key was created');
SELECT is((SELECT count(*) FROM pg_attribute
			WHERE attrelid = 'regress_race.t'::regclass AND attname = 'c' AND NOT attisdropped),
		  0::bigint, 'no column was added');

SET client_min_messages = warning;
DROP SCHEMA regress_race CASCADE;
DROP ROLE regress_tap_race;
SELECT * FROM finish();
