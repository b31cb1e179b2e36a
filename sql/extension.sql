--
-- Creating the extension needs a superuser; dropping it leaves nothing
-- behind, and DDL afterwards behaves as without it.
--
\set VERBOSITY terse
CREATE ROLE regress_ext LOGIN;
CREATE SCHEMA regress_ext AUTHORIZATION regress_ext;
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger
 ORDER BY evtname;

-- not relocatable, and only in schema ri_policy
ALTER EXTENSION ri_policy SET SCHEMA public;

DROP EXTENSION ri_policy;
SELECT count(*) AS event_triggers FROM pg_event_trigger;
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'ri_policy';

-- the setting stays defined in this backend, but nothing acts on it
SET ri_policy.mode = 'block';
CREATE TABLE regress_ext.parent (id int PRIMARY KEY);
CREATE TABLE regress_ext.child (a int REFERENCES regress_ext.parent);
RESET ri_policy.mode;

-- an ordinary role cannot create it
\c - regress_ext
CREATE EXTENSION ri_policy;
SELECT count(*) AS event_triggers FROM pg_event_trigger;

\c - postgres
CREATE EXTENSION ri_policy;
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace
  FROM pg_extension WHERE extname = 'ri_policy';
SELECT count(*) AS event_triggers FROM pg_event_trigger;

-- upgrade from every released version
DROP EXTENSION ri_policy;
CREATE EXTENSION ri_policy VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'ri_policy';
ALTER EXTENSION ri_policy UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'ri_policy';
SELECT pg_describe_object(classid, objid, 0) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ri_policy')
   -- 18 also lists the row and array types of the tables and views
   AND classid <> 'pg_type'::regclass
 ORDER BY 1;

-- from 0.3 with a tracked reference and changes waiting (its rows made as
-- 0.3 made them: this library runs only 0.5's objects): until the update,
-- validation refuses but the old triggers keep recording; the update tracks
-- the reference again, with a trigger for deletes from the child too, and
-- its next pass is full
DROP EXTENSION ri_policy;
CREATE EXTENSION ri_policy VERSION '0.3';
CREATE TABLE regress_ext.p (id int PRIMARY KEY);
INSERT INTO regress_ext.p VALUES (1), (2);
CREATE TABLE regress_ext.c (pid int);
INSERT INTO ri_policy._reference (name, child, child_columns, parent, parent_columns,
								  eq_operators, match, on_delete, tracked_since)
VALUES ('up', 'regress_ext.c', '{pid}', 'regress_ext.p', '{id}',
		'{"=(integer,integer)"}', 'simple', 'no action', now());
CREATE TRIGGER ri_policy_track_0_ci AFTER INSERT ON regress_ext.c
	REFERENCING NEW TABLE AS ri_new FOR EACH STATEMENT
	EXECUTE FUNCTION ri_policy._track_trigger('up', 'simple', '1', 'pid');
CREATE TRIGGER ri_policy_track_0_pd AFTER DELETE ON regress_ext.p
	REFERENCING OLD TABLE AS ri_old FOR EACH STATEMENT
	EXECUTE FUNCTION ri_policy._track_trigger('up', 'simple', '1', 'pid');
INSERT INTO regress_ext.c VALUES (1), (2), (3);
DELETE FROM regress_ext.p WHERE id = 2;
SELECT count(*) AS changes FROM ri_policy._changed;
DO $$ BEGIN CALL ri_policy.validate('up');
EXCEPTION WHEN object_not_in_prerequisite_state THEN RAISE NOTICE '55000: %', SQLERRM; END $$;
SELECT count(*) AS runs FROM ri_policy.validation_progress;
ALTER EXTENSION ri_policy UPDATE;
SELECT count(*) AS changes FROM ri_policy._changed;
SELECT tgrelid::regclass, right(tgname, 2) AS tracks FROM pg_trigger
 WHERE tgfoid = 'ri_policy._track_trigger'::regproc ORDER BY 1, 2;
CALL ri_policy.validate('up');
SELECT status, rows_checked FROM ri_policy.validation_progress;
INSERT INTO regress_ext.c VALUES (4);
DELETE FROM regress_ext.c WHERE pid = 3;
SELECT reference = (SELECT id FROM ri_policy._reference WHERE name = 'up') AS up,
	   ARRAY(SELECT k FROM unnest(keys) k ORDER BY k) AS keys, from_parent
  FROM ri_policy._changed ORDER BY 2;
CALL ri_policy.validate('up');
SELECT status, rows_checked FROM ri_policy.validation_progress;
SELECT key, child_rows FROM ri_policy.violations ORDER BY 1;

SET client_min_messages = warning;
DROP SCHEMA regress_ext CASCADE;
DROP ROLE regress_ext;
