--
-- ri_policy.mode: values, and where it can be set (role, database, role in
-- database, session); the DETAIL says where the value came from.
--
-- Until the library is loaded in a session (the first CREATE TABLE, ALTER
-- TABLE or CREATE SCHEMA loads it, as does LOAD or *_preload_libraries),
-- an unset ri_policy.mode is unknown to SHOW.
LOAD 'ri_policy';
SHOW ri_policy.mode;
SELECT context, vartype, enumvals, boot_val FROM pg_settings
 WHERE name = 'ri_policy.mode';

-- bad values are refused, listing the valid ones
SET ri_policy.mode = 'bogus';
SET ri_policy.mode = '';
SET ri_policy.mode = 1;
SHOW ri_policy.mode;
-- the prefix is reserved
SET ri_policy.no_such_setting = 'x';

CREATE ROLE regress_set_role LOGIN;
CREATE ROLE regress_set_other LOGIN;
CREATE SCHEMA regress_set AUTHORIZATION regress_set_role;
GRANT USAGE, CREATE ON SCHEMA regress_set TO regress_set_other;
CREATE TABLE regress_set.parent (id int PRIMARY KEY);
GRANT REFERENCES ON regress_set.parent TO PUBLIC;

\set VERBOSITY default
-- per role
ALTER ROLE regress_set_role SET ri_policy.mode = 'block';
\c - regress_set_role
SHOW ri_policy.mode;
CREATE TABLE regress_set.c (a int REFERENCES regress_set.parent);
\c - regress_set_other
SHOW ri_policy.mode;
CREATE TABLE regress_set.c (a int REFERENCES regress_set.parent);
DROP TABLE regress_set.c;

-- per database
\c - postgres
SELECT format('ALTER DATABASE %I SET ri_policy.mode = %L',
			  current_database(), 'warn') \gexec
\c - regress_set_other
SHOW ri_policy.mode;
CREATE TABLE regress_set.c (a int REFERENCES regress_set.parent);
DROP TABLE regress_set.c;
-- a role setting beats the database setting
\c - regress_set_role
SHOW ri_policy.mode;

-- per role in database beats both
\c - postgres
SELECT format('ALTER ROLE regress_set_role IN DATABASE %I SET ri_policy.mode = %L',
			  current_database(), 'allow') \gexec
SELECT format('ALTER ROLE regress_set_other IN DATABASE %I SET ri_policy.mode = %L',
			  current_database(), 'block') \gexec
\c - regress_set_role
SHOW ri_policy.mode;
CREATE TABLE regress_set.c (a int REFERENCES regress_set.parent);
DROP TABLE regress_set.c;
\c - regress_set_other
SHOW ri_policy.mode;
CREATE TABLE regress_set.c (a int REFERENCES regress_set.parent);
SELECT to_regclass('regress_set.c');

-- a superuser may change it for the session; SET LOCAL ends with the
-- transaction
\c - postgres
SET ri_policy.mode = 'block';
CREATE TABLE regress_set.c (a int REFERENCES regress_set.parent);
BEGIN;
SET LOCAL ri_policy.mode = 'allow';
CREATE TABLE regress_set.c (a int REFERENCES regress_set.parent);
COMMIT;
SHOW ri_policy.mode;
DROP TABLE regress_set.c;

SELECT format('ALTER DATABASE %I RESET ri_policy.mode', current_database()) \gexec
SET client_min_messages = warning;
DROP SCHEMA regress_set CASCADE;
DROP ROLE regress_set_role, regress_set_other;
