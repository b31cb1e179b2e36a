/* ri_policy--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION ri_policy" to load this file. \quit

-- The schema is created here, not by CREATE EXTENSION (the control file
-- names pg_catalog), so that it is a member and DROP EXTENSION removes it.
CREATE SCHEMA ri_policy;
GRANT USAGE ON SCHEMA ri_policy TO PUBLIC;

-- The guard: ddl_command_start blocks, ddl_command_end warns.

CREATE FUNCTION ri_policy._guard_ddl_start()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_guard_ddl_start';

CREATE FUNCTION ri_policy._guard_ddl_end()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ri_policy_guard_ddl_end';

REVOKE ALL ON FUNCTION ri_policy._guard_ddl_start() FROM PUBLIC;
REVOKE ALL ON FUNCTION ri_policy._guard_ddl_end() FROM PUBLIC;

COMMENT ON FUNCTION ri_policy._guard_ddl_start() IS
'ri_policy guard: applies ri_policy.mode = block before a statement that creates a foreign key does any work';
COMMENT ON FUNCTION ri_policy._guard_ddl_end() IS
'ri_policy guard: applies ri_policy.mode = warn to each foreign key a statement created';

CREATE EVENT TRIGGER ri_policy_guard_ddl_start ON ddl_command_start
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE SCHEMA')
	EXECUTE FUNCTION ri_policy._guard_ddl_start();

CREATE EVENT TRIGGER ri_policy_guard_ddl_end ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE SCHEMA')
	EXECUTE FUNCTION ri_policy._guard_ddl_end();

-- Fire under session_replication_role = replica too.
ALTER EVENT TRIGGER ri_policy_guard_ddl_start ENABLE ALWAYS;
ALTER EVENT TRIGGER ri_policy_guard_ddl_end ENABLE ALWAYS;
