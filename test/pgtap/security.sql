-- Who may do what with references, what each role sees, and that a
-- superuser's validation of another role's tables runs that role's code
-- with that role's rights only.  Also: a hostile search_path changes
-- nothing.  Runs in one transaction, rolled back.
BEGIN;
SELECT plan(24);

CREATE ROLE regress_sec_owner;
CREATE ROLE regress_sec_other;
CREATE ROLE regress_sec_reader;
CREATE SCHEMA sec AUTHORIZATION regress_sec_owner;
CREATE SCHEMA sec_other AUTHORIZATION regress_sec_other;
GRANT USAGE ON SCHEMA sec TO PUBLIC;

SET ROLE regress_sec_owner;
CREATE TABLE sec.parent (id int PRIMARY KEY);
INSERT INTO sec.parent SELECT generate_series(1, 10);
CREATE TABLE sec.child (pid int);
INSERT INTO sec.child SELECT g % 15 FROM generate_series(1, 100) g;
GRANT SELECT ON sec.child TO regress_sec_reader;
SELECT is(ri_policy.declare_reference('sec.child', '{pid}', 'sec.parent', name => 'sec_ref'),
		  'sec_ref', 'the owner of the child declares a reference');
CALL ri_policy.validate('sec_ref');
RESET ROLE;

-- others may not change it
SET ROLE regress_sec_other;
SELECT throws_ok($$CALL ri_policy.validate('sec_ref')$$, '42501',
				 'must be owner of table child', 'validate() needs ownership of the child');
SELECT throws_ok($$SELECT ri_policy.drop_reference('sec_ref')$$, '42501', NULL,
				 'drop_reference() needs ownership of the child');
SELECT throws_ok($$SELECT ri_policy.declare_reference('sec.child', '{pid}', 'sec.parent')$$,
				 '42501', NULL, 'declare_reference() needs ownership of the child');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('sec_ref')$$, '42501', NULL,
				 'orphans() needs SELECT on the child');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'sec_ref'), 0::bigint,
		  'violations hides references whose child one may not read');
SELECT is((SELECT count(*) FROM ri_policy.validation_progress WHERE reference = 'sec_ref'), 0::bigint,
		  'so does validation_progress');
SELECT is((SELECT orphan_keys FROM ri_policy.references WHERE name = 'sec_ref'), NULL,
		  'and the orphan counts of references');
SELECT throws_ok($$SELECT * FROM ri_policy._violation$$, '42501', NULL,
				 'the tables behind the views are not readable');
SELECT throws_ok($$DELETE FROM ri_policy._reference$$, '42501', NULL,
				 'nor writable');
-- its own child table, but no REFERENCES on the parent
CREATE TABLE sec_other.other_child (pid int);
SELECT throws_ok($$SELECT ri_policy.declare_reference('sec_other.other_child', '{pid}', 'sec.parent')$$,
				 '42501', 'permission denied for table parent',
				 'declare_reference() needs REFERENCES on the parent');
RESET ROLE;

SET ROLE regress_sec_reader;
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'sec_ref'), 5::bigint,
		  'a role that may read the child sees its violations');
SELECT is((SELECT count(*) FROM ri_policy.orphans('sec_ref')), 5::bigint,
		  'and may call orphans()');
RESET ROLE;

SELECT is((SELECT count(*) FROM ri_policy._reference WHERE name LIKE 'other%'), 0::bigint,
		  'nothing was declared by the failed attempts');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'sec_ref'), 5::bigint,
		  'nothing was dropped by the failed attempts');

-- A superuser validates tables of regress_sec_owner whose key uses an
-- equality operator that logs who runs it: it runs as the owner only.
CREATE TABLE public.who_ran (who name);
GRANT INSERT ON public.who_ran TO PUBLIC;
CREATE FUNCTION public.logged_eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.who_ran VALUES (current_user); RETURN $1 = $2; END$$;
CREATE OPERATOR public.=== (leftarg = int, rightarg = int, function = public.logged_eq,
							commutator = ===);
CREATE OPERATOR CLASS public.logged_ops FOR TYPE int USING btree AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 public.===, OPERATOR 4 >=, OPERATOR 5 >,
	FUNCTION 1 btint4cmp(int, int);
SET ROLE regress_sec_owner;
CREATE TABLE sec.lparent (id int);
CREATE UNIQUE INDEX ON sec.lparent (id public.logged_ops);
INSERT INTO sec.lparent SELECT generate_series(1, 10);
SELECT ri_policy.declare_reference('sec.child', '{pid}', 'sec.lparent', '{id}', name => 'logged_ref');
RESET ROLE;
SELECT is((SELECT eq_operators[1] FROM ri_policy._reference WHERE name = 'logged_ref'),
		  'public.===(integer,integer)', 'the reference pinned the index''s equality operator, by its qualified name');
CALL ri_policy.validate('logged_ref');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'logged_ref'), 5::bigint,
		  'validation through that operator is right');
SELECT ok((SELECT count(*) > 0 FROM public.who_ran), 'the operator ran');
SELECT is((SELECT array_agg(DISTINCT who) FROM public.who_ran), '{regress_sec_owner}'::name[],
		  'and ran as the tables'' owner, never as the superuser');

-- a hostile search_path: operators and functions that shadow pg_catalog's
CREATE SCHEMA evil;
CREATE FUNCTION evil.no_text(text, text) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN RAISE EXCEPTION 'evil text operator called'; END$$;
CREATE OPERATOR evil.= (leftarg = text, rightarg = text, function = evil.no_text);
CREATE FUNCTION evil.no_int(int, int) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN RAISE EXCEPTION 'evil int operator called'; END$$;
CREATE OPERATOR evil.= (leftarg = int, rightarg = int, function = evil.no_int);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
	$$BEGIN RAISE EXCEPTION 'evil now() called'; END$$;
CREATE FUNCTION evil.count(jsonb) RETURNS bigint LANGUAGE plpgsql AS
	$$BEGIN RAISE EXCEPTION 'evil count() called'; END$$;
-- run a statement under that search_path; pgTAP itself must not run there
CREATE FUNCTION pg_temp.under_evil(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	result text := 'ok';
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'evil, pg_catalog, public', true);
	BEGIN
		EXECUTE stmt;
	EXCEPTION WHEN OTHERS THEN
		result := SQLERRM;
	END;
	PERFORM pg_catalog.set_config('search_path', 'public', true);
	RETURN result;
END $$;
SELECT is(pg_temp.under_evil($$SELECT ri_policy.declare_reference('sec.child', '{pid}', 'sec.parent', name => 'evil_ref')$$),
		  'ok', 'declare_reference() under a hostile search_path');
SELECT is(pg_temp.under_evil($$CALL ri_policy.validate('evil_ref', batch_size => 1)$$),
		  'ok', 'validate() under a hostile search_path');
SELECT is(pg_temp.under_evil($$SELECT count(*) FROM ri_policy.orphans('evil_ref')$$),
		  'ok', 'orphans() under a hostile search_path');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'evil_ref'), 5::bigint,
		  'with the right result');
SELECT is(pg_temp.under_evil($$SELECT ri_policy.drop_reference('evil_ref')$$),
		  'ok', 'drop_reference() under a hostile search_path');
RESET search_path;

SELECT * FROM finish();
ROLLBACK;
