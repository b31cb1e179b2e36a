-- What the child's owner can do to a validation through Citus, or learn
-- from one.
--
-- 1. What validation reads through Citus cannot be changed by the child's
-- owner's search_path on the workers.  Citus writes the shards' queries with
-- pg_catalog's functions unqualified (count(*), current_schema()) and runs
-- them as the child's owner, under that role's settings on each worker: a
-- role that put a schema of its own, with functions of those names, before
-- pg_catalog made another role's pass report no orphans, or its own row
-- counts.  validate() and orphans() (outside a transaction block too) now
-- pin search_path on the workers for their reads; the caller's own
-- search_path is the same after them.
--
-- 2. The parent's keys go to the workers in the child's queries, which the
-- child's owner can read back (Citus's log of remote commands, its own
-- sessions on the workers): only where that role may read them, with
-- SELECT on the parent's key columns; REFERENCES alone tests keys one at a
-- time, as a foreign key does, and does not list them.  Cleans up.
SET client_min_messages = error;
SELECT plan(12);

CREATE ROLE regress_sp_child LOGIN;
CREATE ROLE regress_sp_parent LOGIN;
GRANT CREATE ON SCHEMA public TO regress_sp_child, regress_sp_parent;
GRANT USAGE ON SCHEMA ri_policy TO regress_sp_child, regress_sp_parent;
-- (before the role opens any connection to the workers: Citus keeps them)
CREATE SCHEMA regress_sp AUTHORIZATION regress_sp_child;
ALTER ROLE regress_sp_child SET search_path = regress_sp, pg_catalog;

SET ROLE regress_sp_parent;
CREATE TABLE sp_parent (id bigint PRIMARY KEY);
SELECT create_distributed_table('sp_parent', 'id', shard_count => 3);
INSERT INTO sp_parent SELECT g * 1000003 FROM generate_series(1, 20) g;
GRANT REFERENCES ON sp_parent TO regress_sp_child;
RESET ROLE;

SET ROLE regress_sp_child;
CREATE FUNCTION regress_sp.current_schema() RETURNS name LANGUAGE sql VOLATILE
	AS $$ SELECT pg_catalog.random()::pg_catalog.text::pg_catalog.name $$;
CREATE FUNCTION regress_sp.plus_1000(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
	AS $$ SELECT $1 OPERATOR(pg_catalog.+) 1000 $$;
CREATE AGGREGATE regress_sp.count(*) (sfunc = regress_sp.plus_1000, stype = bigint, initcond = '0');
CREATE TABLE public.sp_child (id bigint, pid bigint);
SELECT create_distributed_table('public.sp_child', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO public.sp_child SELECT g, CASE WHEN g <= 10 THEN g ELSE 1000003 END
  FROM generate_series(1, 30) g;
SELECT ri_policy.declare_reference('public.sp_child', '{pid}', 'public.sp_parent', name => 'sp_ref');
RESET ROLE;

CREATE TEMP TABLE sp_truth AS
SELECT jsonb_build_object('pid', pid) AS key, count(*) AS child_rows FROM sp_child
 WHERE pid NOT IN (SELECT id FROM sp_parent) GROUP BY 1;
SELECT is((SELECT count(*) FROM sp_truth), 10::bigint, 'ten orphaned keys');
CREATE TEMP TABLE sp_path AS SELECT current_setting('search_path') AS before;

CALL ri_policy.validate('sp_ref', restart => true);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'sp_ref'$$,
			  $$SELECT key, child_rows FROM sp_truth$$,
			  'validate(): every orphan, counted once, whatever the child owner''s search_path on the workers');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'sp_ref'),
		  30::bigint, 'validate(): every row checked once');
SELECT is(current_setting('search_path'), (SELECT before FROM sp_path),
		  'the caller''s search_path is its own again after validate()');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.orphans('sp_ref')$$,
			  $$SELECT key, child_rows FROM sp_truth$$,
			  'orphans(), outside a transaction block, the same');
SELECT is(current_setting('search_path'), (SELECT before FROM sp_path),
		  'the caller''s search_path is its own again after orphans()');
BEGIN;
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.orphans('sp_ref')$$,
			  $$SELECT key, child_rows FROM sp_truth$$,
			  'orphans() in a transaction block, the same');
-- a later distributed query of the same transaction resolves names as before
SELECT is((SELECT count(*) FROM sp_child), 30::bigint,
		  'a later query of the caller''s transaction on the workers is unaffected');
COMMIT;

-- 2. the child's owner, with REFERENCES on the parent but not SELECT, calls
-- orphans() with Citus's log of remote commands on: no parent key is in it
\set q 'SET citus.log_remote_commands = on; SET client_min_messages = notice; SELECT pg_catalog.count(*) FROM ri_policy.orphans(''sp_ref'')'
\set leaked `psql -X -At -U regress_sp_child -c :'q' 2>&1 | grep -c 2000006`
SELECT is(:leaked, 0, 'the child''s owner, without SELECT on the parent, is sent none of its keys');
\set ran `psql -X -At -U regress_sp_child -c :'q' 2>&1 | grep -c -x 10`
SELECT is(:ran, 1, 'and its orphans() finds the ten orphaned keys all the same');
GRANT SELECT (id) ON sp_parent TO regress_sp_child;
\set leaked `psql -X -At -U regress_sp_child -c :'q' 2>&1 | grep -c 2000006`
SELECT cmp_ok(:leaked, '>', 0, 'with SELECT on the parent''s key column, the keys go to the workers');
\set ran `psql -X -At -U regress_sp_child -c :'q' 2>&1 | grep -c -x 10`
SELECT is(:ran, 1, 'and its orphans() finds the same keys');

SELECT ri_policy.drop_reference('sp_ref');
DROP TABLE sp_child, sp_parent;
DROP SCHEMA regress_sp CASCADE;
REVOKE CREATE ON SCHEMA public FROM regress_sp_child, regress_sp_parent;
REVOKE USAGE ON SCHEMA ri_policy FROM regress_sp_child, regress_sp_parent;
DROP ROLE regress_sp_child;
DROP ROLE regress_sp_parent;
SELECT * FROM finish();
