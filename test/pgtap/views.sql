-- The views that filter by privilege are security barriers: a cheap leaky
-- function in the caller's WHERE sees only the rows the filter let through,
-- never another role's orphan keys, progress or reference names.  And a
-- hostile search_path reaches none of the caller's functions or operators.
-- Runs in one transaction, rolled back.
BEGIN;
SELECT plan(12);

CREATE ROLE regress_view_owner;
CREATE ROLE regress_view_spy;
CREATE SCHEMA view_sec AUTHORIZATION regress_view_owner;
CREATE SCHEMA view_spy AUTHORIZATION regress_view_spy;

-- the owner's reference, with orphans and a pass under way
SET ROLE regress_view_owner;
CREATE TABLE view_sec.parent (id int PRIMARY KEY);
INSERT INTO view_sec.parent VALUES (1);
CREATE TABLE view_sec.child (pid int);
INSERT INTO view_sec.child VALUES (1), (424242), (434343);
SELECT ri_policy.declare_reference('view_sec.child', '{pid}', 'view_sec.parent',
								   name => 'secret_ref');
CALL ri_policy.validate('secret_ref');
RESET ROLE;
-- a second pass that seems to be running (nobody holds its lock)
UPDATE ri_policy._progress SET status = 'running'
 WHERE reference = (SELECT id FROM ri_policy._reference WHERE name = 'secret_ref');

SELECT ok((SELECT bool_and(coalesce(c.reloptions, '{}') @> '{security_barrier=true}')
			 FROM pg_class c
			WHERE c.oid IN ('ri_policy.violations'::regclass,
							'ri_policy.validation_progress'::regclass,
							'ri_policy.references'::regclass)),
		  'violations, validation_progress and references are security_barrier views');

-- the spy's own reference: it sees that one
SET ROLE regress_view_spy;
CREATE TABLE view_spy.parent (id int PRIMARY KEY);
CREATE TABLE view_spy.child (pid int);
INSERT INTO view_spy.child VALUES (7);
SELECT ri_policy.declare_reference('view_spy.child', '{pid}', 'view_spy.parent',
								   name => 'spy_ref');
CALL ri_policy.validate('spy_ref');

CREATE TABLE view_spy.leaked (what text);
CREATE FUNCTION view_spy.leak(text) RETURNS boolean
	LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	RAISE NOTICE 'leak: %', $1;
	INSERT INTO view_spy.leaked VALUES ($1);
	RETURN true;
END $$;

SELECT is((SELECT count(*) FROM ri_policy.violations WHERE view_spy.leak(key::text)),
		  1::bigint, 'violations: the spy sees its own row');
SELECT is((SELECT count(*) FROM view_spy.leaked WHERE what LIKE '%4%4%'), 0::bigint,
		  'and its function saw no other role''s key');
SELECT is((SELECT count(*) FROM ri_policy.violations
			WHERE view_spy.leak(reference) AND view_spy.leak(child::text)),
		  1::bigint, 'violations by name and table');
SELECT is((SELECT count(*) FROM ri_policy.validation_progress
			WHERE view_spy.leak(reference || ' ' || status || ' ' || rows_checked)),
		  1::bigint, 'validation_progress: only its own run');
SELECT is((SELECT count(*) FROM ri_policy.references
			WHERE view_spy.leak(name || ' ' || coalesce(orphan_keys::text, '-'))
			  AND name IN ('secret_ref', 'spy_ref')),
		  2::bigint, 'references lists every relationship');
SELECT is((SELECT count(*) FROM view_spy.leaked
			WHERE what LIKE '%secret_ref%' AND what NOT LIKE '%secret_ref -'
			   OR what LIKE '%view_sec%'
			   OR what LIKE '%running%'), 0::bigint,
		  'but no function of the spy saw the other role''s results, progress or table');

-- a hostile search_path: the views and the functions they call are bound
-- to pg_catalog's objects
CREATE FUNCTION view_spy.has_table_privilege(regclass, text) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN PERFORM view_spy.leak('has_table_privilege'); RETURN true; END $$;
CREATE FUNCTION view_spy.has_table_privilege(oid, text) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN PERFORM view_spy.leak('has_table_privilege'); RETURN true; END $$;
CREATE FUNCTION view_spy.int8eq(bigint, bigint) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN PERFORM view_spy.leak('='); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR view_spy.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = view_spy.int8eq);
CREATE FUNCTION view_spy.current_database() RETURNS name
	LANGUAGE plpgsql AS $$ BEGIN PERFORM view_spy.leak('current_database'); RETURN 'x'; END $$;
CREATE FUNCTION view_spy.round(numeric, integer) RETURNS numeric
	LANGUAGE plpgsql AS $$ BEGIN PERFORM view_spy.leak('round'); RETURN 0; END $$;
TRUNCATE view_spy.leaked;
CREATE TABLE view_spy.seen (what text, n bigint);
SET search_path = view_spy, pg_catalog, pg_temp;
INSERT INTO view_spy.seen SELECT 'violations', count(*) FROM ri_policy.violations;
INSERT INTO view_spy.seen SELECT 'progress', count(*) FROM ri_policy.validation_progress;
INSERT INTO view_spy.seen SELECT 'references', count(*) FROM ri_policy.references
 WHERE name IN ('secret_ref', 'spy_ref');
RESET search_path;
SELECT is((SELECT n FROM view_spy.seen WHERE what = 'violations'), 1::bigint,
		  'under a hostile search_path, violations');
SELECT is((SELECT n FROM view_spy.seen WHERE what = 'progress'), 1::bigint,
		  'validation_progress');
SELECT is((SELECT n FROM view_spy.seen WHERE what = 'references'), 2::bigint,
		  'and references work as before');
SELECT is((SELECT count(*) FROM view_spy.leaked), 0::bigint,
		  'without calling any of the caller''s functions or operators');
RESET ROLE;

-- the superuser sees the other run as running-but-dead: interrupted
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'secret_ref'),
		  'interrupted', 'a running status without its lock shows as interrupted');

SELECT * FROM finish();
ROLLBACK;
