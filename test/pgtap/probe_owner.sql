-- The parent is probed as its owner on every path.  Code that the parent's
-- owner controls and the planner runs when it plans a query of the parent
-- (an immutable function in a partial index's predicate or in an extended
-- statistics expression, folded while the planner reads them; an index
-- expression too, though within one transaction its folded form is kept)
-- used to run as the child's owner in an incremental pass and in repair().
-- Each planted function logs who runs it and tries to become superuser and
-- to write a table only superusers may write: it must only ever run as the
-- parent's owner.
BEGIN;
SELECT plan(21);

CREATE ROLE regress_po_parent;
CREATE ROLE regress_po_child;
CREATE SCHEMA po_p AUTHORIZATION regress_po_parent;
CREATE SCHEMA po_c AUTHORIZATION regress_po_child;
GRANT USAGE ON SCHEMA po_p TO regress_po_child;

CREATE TABLE public.po_ran (fn text, who name);
GRANT INSERT ON public.po_ran TO PUBLIC;
CREATE TABLE public.po_secret (fn text);

SET ROLE regress_po_parent;
CREATE FUNCTION po_p.plant(fn text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.po_ran VALUES (fn, current_user);
	BEGIN
		ALTER ROLE regress_po_parent SUPERUSER;
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	BEGIN
		ALTER ROLE regress_po_child SUPERUSER;
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	BEGIN
		INSERT INTO public.po_secret VALUES (fn);
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	RETURN true;
END $$;
CREATE FUNCTION po_p.pred(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
	$$BEGIN PERFORM po_p.plant('predicate'); RETURN $1 > 0; END$$;
CREATE FUNCTION po_p.expr(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
	$$BEGIN PERFORM po_p.plant('expression'); RETURN $1; END$$;
CREATE FUNCTION po_p.stat(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
	$$BEGIN PERFORM po_p.plant('statistics'); RETURN $1; END$$;
CREATE TABLE po_p.p (id int PRIMARY KEY, x int);
CREATE INDEX po_pred ON po_p.p (x) WHERE po_p.pred(1);
CREATE INDEX po_expr ON po_p.p ((x + po_p.expr(1)));
CREATE STATISTICS po_p.po_stat ON (x + po_p.stat(1)), id FROM po_p.p;
INSERT INTO po_p.p SELECT g, g FROM generate_series(1, 5) g;
ANALYZE po_p.p;
GRANT SELECT, REFERENCES, TRIGGER ON po_p.p TO regress_po_child;
RESET ROLE;

CREATE FUNCTION pg_temp.nothing_escalated() RETURNS boolean LANGUAGE sql AS $$
	SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname LIKE 'regress\_po\_%' AND rolsuper)
	   AND NOT EXISTS (SELECT 1 FROM public.po_secret)
$$;
CREATE FUNCTION pg_temp.who_ran() RETURNS name[] LANGUAGE sql AS $$
	SELECT array_agg(DISTINCT who ORDER BY who) FROM public.po_ran
$$;
CREATE FUNCTION pg_temp.what_ran() RETURNS text[] LANGUAGE sql AS $$
	SELECT array_agg(DISTINCT fn ORDER BY fn) FROM public.po_ran
$$;
-- make the planner read the parent's indexes again, and forget who ran
CREATE FUNCTION pg_temp.replant() RETURNS void LANGUAGE sql AS $$
	ALTER INDEX po_p.po_pred SET (fillfactor = 90);
	ALTER INDEX po_p.po_expr SET (fillfactor = 90);
	TRUNCATE public.po_ran;
$$;

SET ROLE regress_po_child;
CREATE TABLE po_c.c (id serial, pid int);
CREATE INDEX ON po_c.c (pid);
INSERT INTO po_c.c (pid) SELECT g % 7 + 1 FROM generate_series(1, 70) g;
SELECT is(ri_policy.declare_reference('po_c.c', '{pid}', 'po_p.p', name => 'po_ref',
									  on_delete => 'cascade'),
		  'po_ref', 'a role references a table of another role');
SELECT ri_policy.track('po_ref');
CALL ri_policy.validate('po_ref');
RESET ROLE;
SELECT is((SELECT string_agg(key::text, ',' ORDER BY key::text) FROM ri_policy.violations
			WHERE reference = 'po_ref'), '{"pid": 6},{"pid": 7}', 'a full pass');

-- 1. an incremental pass run by the child's owner
SET ROLE regress_po_parent;
DELETE FROM po_p.p WHERE id = 2;
RESET ROLE;
SET ROLE regress_po_child;
INSERT INTO po_c.c (pid) VALUES (8), (3);
RESET ROLE;
SELECT pg_temp.replant();
SET ROLE regress_po_child;
CALL ri_policy.validate('po_ref');
RESET ROLE;
SELECT is((SELECT rows_checked < 10 FROM ri_policy.validation_progress WHERE reference = 'po_ref')
		  || ' ' || (SELECT string_agg(key::text || '=' || child_rows, ',' ORDER BY key::text)
					   FROM ri_policy.violations WHERE reference = 'po_ref'),
		  'true {"pid": 2}=10,{"pid": 6}=10,{"pid": 7}=10,{"pid": 8}=1',
		  'the child''s owner''s incremental pass is right');
SELECT is(pg_temp.who_ran(), '{regress_po_parent}'::name[],
		  'the parent''s planted functions ran, only as the parent''s owner');
SELECT is(pg_temp.what_ran(), '{predicate,statistics}'::text[],
		  '(the predicate''s and the statistics'' functions both ran)');
SELECT ok(pg_temp.nothing_escalated(), 'nothing gained');

-- 2. an incremental pass run by a superuser
SET ROLE regress_po_parent;
DELETE FROM po_p.p WHERE id = 3;
INSERT INTO po_p.p VALUES (6, 6);
RESET ROLE;
SELECT pg_temp.replant();
CALL ri_policy.validate('po_ref');
SELECT is((SELECT rows_checked < 10 FROM ri_policy.validation_progress WHERE reference = 'po_ref')
		  || ' ' || (SELECT string_agg(key::text || '=' || child_rows, ',' ORDER BY key::text)
					   FROM ri_policy.violations WHERE reference = 'po_ref'),
		  'true {"pid": 2}=10,{"pid": 3}=11,{"pid": 7}=10,{"pid": 8}=1',
		  'a superuser''s incremental pass is right');
SELECT is(pg_temp.who_ran(), '{regress_po_parent}'::name[],
		  'the planted functions ran, only as the parent''s owner');
SELECT ok(pg_temp.nothing_escalated(), 'nothing gained');

-- 3. orphans() by the child's owner, and a full pass by a superuser
SELECT pg_temp.replant();
SET ROLE regress_po_child;
SELECT is((SELECT count(*) FROM ri_policy.orphans('po_ref')), 4::bigint, 'orphans()');
RESET ROLE;
CALL ri_policy.validate('po_ref', full => true);
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'po_ref'), 4::bigint,
		  'a full pass');
SELECT is(pg_temp.who_ran(), '{regress_po_parent}'::name[],
		  'the planted functions ran, only as the parent''s owner');

-- 4. repair(), by a superuser and by the child's owner, while a parent
-- comes back
SET ROLE regress_po_parent;
INSERT INTO po_p.p VALUES (7, 7);
RESET ROLE;
SELECT pg_temp.replant();
CALL ri_policy.repair('po_ref', batch_size => 10);
SELECT is((SELECT string_agg(DISTINCT pid::text, ',' ORDER BY pid::text) FROM po_c.c),
		  '1,4,5,6,7', 'a superuser''s repair() deletes the orphans, and no row with a parent');
SELECT is((SELECT string_agg(key::text, ',' ORDER BY key::text) FROM ri_policy.violations
			WHERE reference = 'po_ref'), '{"pid": 7}',
		  'and clears the keys it repaired only');
SELECT is(pg_temp.who_ran(), '{regress_po_parent}'::name[],
		  'the planted functions ran, only as the parent''s owner');

SET ROLE regress_po_child;
INSERT INTO po_c.c (pid) VALUES (9);
CALL ri_policy.validate('po_ref');
RESET ROLE;
SELECT pg_temp.replant();
SET ROLE regress_po_child;
CALL ri_policy.repair('po_ref', 'delete');
RESET ROLE;
SELECT is((SELECT count(*) FROM po_c.c WHERE pid = 9), 0::bigint, 'the child''s owner''s repair()');
SELECT is(pg_temp.who_ran(), '{regress_po_parent}'::name[],
		  'the planted functions ran, only as the parent''s owner');

-- 5. the child's owner needs no SELECT on the parent: nothing reads it as
-- that owner any more
REVOKE SELECT ON po_p.p FROM regress_po_child;
SET ROLE regress_po_parent;
DELETE FROM po_p.p WHERE id = 4;
RESET ROLE;
SELECT pg_temp.replant();
SET ROLE regress_po_child;
CALL ri_policy.validate('po_ref');
RESET ROLE;
SELECT is((SELECT rows_checked < 10 FROM ri_policy.validation_progress WHERE reference = 'po_ref')
		  || ' ' || (SELECT string_agg(key::text || '=' || child_rows, ',' ORDER BY key::text)
					   FROM ri_policy.violations WHERE reference = 'po_ref'),
		  'true {"pid": 4}=10', 'without SELECT on the parent, an incremental pass');
SET ROLE regress_po_child;
CALL ri_policy.repair('po_ref');
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT pid::text, ',' ORDER BY pid::text) FROM po_c.c),
		  '1,5,6,7', 'and repair()');
SELECT is(pg_temp.who_ran(), '{regress_po_parent}'::name[],
		  'the planted functions ran, only as the parent''s owner');
SELECT ok(pg_temp.nothing_escalated(), 'nothing gained');

SELECT * FROM finish();
ROLLBACK;
