--
-- An ordinary role whose mode is block cannot escape it: not with SET,
-- SET LOCAL or set_config (also before the library is loaded in its
-- backend), a function's SET clause, ALTER ROLE ... SET on itself, options
-- sent at connection start, session_replication_role, or by disabling or
-- dropping the extension's event triggers.  The SQLSTATEs are asserted in
-- test/pgtap/bypass.sql; this file shows the messages.
--
\set VERBOSITY terse
CREATE ROLE regress_bp LOGIN;
CREATE SCHEMA regress_bp AUTHORIZATION regress_bp;
CREATE TABLE regress_bp.parent (id int PRIMARY KEY);
ALTER TABLE regress_bp.parent OWNER TO regress_bp;
ALTER ROLE regress_bp SET ri_policy.mode = 'block';

-- SET as the very first statement, before the library is loaded: the value
-- is a placeholder until the guard loads the library, which then refuses it
\c - regress_bp
SET ri_policy.mode = 'allow';
CREATE TABLE regress_bp.c (a int REFERENCES regress_bp.parent);
SHOW ri_policy.mode;

-- the same with set_config() and SET LOCAL
\c - regress_bp
SELECT set_config('ri_policy.mode', 'allow', false);
CREATE TABLE regress_bp.c (a int REFERENCES regress_bp.parent);
\c - regress_bp
BEGIN;
SET LOCAL ri_policy.mode = 'allow';
CREATE TABLE regress_bp.c (a int REFERENCES regress_bp.parent);
ROLLBACK;

-- once loaded, each is refused outright
SET ri_policy.mode = 'allow';
BEGIN;
SET LOCAL ri_policy.mode = 'allow';
ROLLBACK;
SELECT set_config('ri_policy.mode', 'allow', true);
RESET ri_policy.mode;
SHOW ri_policy.mode;

-- ALTER ROLE ... SET on itself, before and after the library is loaded
\c - regress_bp
ALTER ROLE regress_bp SET ri_policy.mode = 'allow';
ALTER ROLE CURRENT_USER RESET ri_policy.mode;
-- (this loads the library)
ALTER TABLE regress_bp.parent SET (fillfactor = 100);
ALTER ROLE regress_bp SET ri_policy.mode = 'allow';
SELECT unnest(setconfig) FROM pg_db_role_setting
 WHERE setrole = 'regress_bp'::regrole;

-- a function's SET clause, before and after the library is loaded
\c - regress_bp
CREATE FUNCTION regress_bp.f() RETURNS void LANGUAGE sql
	SET ri_policy.mode = 'allow'
	AS 'CREATE TABLE regress_bp.c (a int REFERENCES regress_bp.parent)';
-- (this loads the library)
ALTER TABLE regress_bp.parent SET (fillfactor = 100);
CREATE FUNCTION regress_bp.f() RETURNS void LANGUAGE sql
	SET ri_policy.mode = 'allow'
	AS 'CREATE TABLE regress_bp.c (a int REFERENCES regress_bp.parent)';

-- options sent at connection start
\c "dbname=contrib_regression user=regress_bp options='-c ri_policy.mode=allow'"
SHOW ri_policy.mode;
CREATE TABLE regress_bp.c (a int REFERENCES regress_bp.parent);
SHOW ri_policy.mode;

-- session_replication_role is for superusers; and the event triggers fire
-- in replica mode too, since they are ENABLE ALWAYS
SET session_replication_role = replica;

-- the event triggers and the extension belong to a superuser
ALTER EVENT TRIGGER ri_policy_guard_ddl_start DISABLE;
ALTER EVENT TRIGGER ri_policy_guard_ddl_start ENABLE REPLICA;
ALTER EVENT TRIGGER ri_policy_guard_ddl_start RENAME TO x;
DROP EVENT TRIGGER ri_policy_guard_ddl_start;
ALTER EXTENSION ri_policy DROP EVENT TRIGGER ri_policy_guard_ddl_start;
DROP EXTENSION ri_policy;
CREATE OR REPLACE FUNCTION ri_policy._guard_ddl_start() RETURNS event_trigger
	LANGUAGE plpgsql AS 'BEGIN END';
CREATE FUNCTION ri_policy.anything() RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT ri_policy._guard_ddl_start();

-- after all that, still blocked; and nothing was created
CREATE TABLE regress_bp.c (a int REFERENCES regress_bp.parent);
SELECT count(*) AS tables FROM pg_class
 WHERE relnamespace = 'regress_bp'::regnamespace AND relkind = 'r';
SELECT count(*) AS functions FROM pg_proc
 WHERE pronamespace = 'regress_bp'::regnamespace;

-- a superuser in replica mode is still subject to the guard
\c - postgres
SET session_replication_role = replica;
SET ri_policy.mode = 'block';
CREATE TABLE regress_bp.c (a int REFERENCES regress_bp.parent);
RESET session_replication_role;

SET client_min_messages = warning;
DROP SCHEMA regress_bp CASCADE;
DROP ROLE regress_bp;
