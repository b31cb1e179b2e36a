-- No code runs with rights it was not given.  An ordinary role plants a
-- function on each route by which comparing keys can reach code (a cast to
-- the key type, a cast to json that formats keys, a domain's CHECK when keys
-- are read back, an equality operator's function, a hash support function,
-- an index predicate); each planted function logs who runs it and tries to
-- become superuser and to write a table only superusers may write.  Either
-- it only ever runs as its owner (in a restricted context), or the
-- reference is refused with 42501 and nothing changes.  validate(),
-- orphans(), repair() and an incremental pass, run by the owner, by a
-- superuser and by a reader.
BEGIN;
SELECT plan(48);

CREATE ROLE regress_priv_att;
CREATE ROLE regress_priv_reader;
CREATE SCHEMA priv AUTHORIZATION regress_priv_att;
GRANT USAGE ON SCHEMA priv TO regress_priv_reader;
GRANT CREATE ON SCHEMA public TO regress_priv_att;

CREATE TABLE public.priv_ran (fn text, who name);
GRANT INSERT ON public.priv_ran TO PUBLIC;
CREATE TABLE public.priv_secret (fn text);

-- lookup tables of the superuser that the role may reference
CREATE TABLE public.priv_lookup (id int PRIMARY KEY);
INSERT INTO public.priv_lookup VALUES (1), (2);
CREATE TABLE public.priv_tlookup (id text PRIMARY KEY);
INSERT INTO public.priv_tlookup VALUES ('a'), ('b');
GRANT REFERENCES ON public.priv_lookup, public.priv_tlookup TO regress_priv_att;
GRANT SELECT ON public.priv_tlookup TO regress_priv_att;	-- repair() needs it

SET ROLE regress_priv_att;
CREATE FUNCTION priv.plant(fn text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.priv_ran VALUES (fn, current_user);
	BEGIN
		ALTER ROLE regress_priv_att SUPERUSER;
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	BEGIN
		INSERT INTO public.priv_secret VALUES (fn);
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	RETURN true;
END $$;
RESET ROLE;

CREATE FUNCTION pg_temp.nothing_escalated() RETURNS boolean LANGUAGE sql AS $$
	SELECT NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_priv_att')
	   AND NOT EXISTS (SELECT 1 FROM public.priv_secret)
$$;
CREATE FUNCTION pg_temp.detail_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE stmt;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN detail;
END $$;
CREATE FUNCTION pg_temp.who_ran(f text) RETURNS name[] LANGUAGE sql AS $$
	SELECT array_agg(DISTINCT who ORDER BY who) FROM public.priv_ran WHERE fn = f
$$;

-- 1. Casts: a key of the role's enum, with its own implicit cast to int,
-- references the superuser's table (the escalation of 0.4: the cast ran in
-- the probe of the parent, as its owner).  Its cast to json formats keys.
SET ROLE regress_priv_att;
CREATE TYPE priv.e AS ENUM ('1', '2', '3');
CREATE FUNCTION priv.e_int(priv.e) RETURNS int LANGUAGE plpgsql AS
	$$BEGIN PERFORM priv.plant('cast'); RETURN $1::text::int; END$$;
CREATE CAST (priv.e AS int) WITH FUNCTION priv.e_int(priv.e) AS IMPLICIT;
CREATE FUNCTION priv.e_json(priv.e) RETURNS json LANGUAGE plpgsql AS
	$$BEGIN PERFORM priv.plant('output'); RETURN pg_catalog.to_json($1::text); END$$;
CREATE CAST (priv.e AS json) WITH FUNCTION priv.e_json(priv.e);
CREATE TABLE priv.c (k priv.e);
INSERT INTO priv.c VALUES ('1'), ('3'), ('3');
GRANT SELECT ON priv.c TO regress_priv_reader;
SELECT is(ri_policy.declare_reference('priv.c', '{k}', 'public.priv_lookup', name => 'priv_cast'),
		  'priv_cast', 'a role declares a reference whose key needs its own cast');
CALL ri_policy.validate('priv_cast', batch_size => 1);
SELECT is((SELECT count(*) FROM ri_policy.orphans('priv_cast')), 1::bigint,
		  'its owner calls orphans()');
RESET ROLE;
CALL ri_policy.validate('priv_cast', full => true);
SELECT is((SELECT count(*) FROM ri_policy.orphans('priv_cast')), 1::bigint,
		  'a superuser calls orphans()');
SET ROLE regress_priv_reader;
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',') FROM ri_policy.orphans('priv_cast')),
		  '{"k": "3"} 2', 'a role that may read the child calls orphans()');
RESET ROLE;
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',') FROM ri_policy.violations
			WHERE reference = 'priv_cast'),
		  '{"k": "3"} 2', 'validate() is right, as its owner and as a superuser');
SELECT ok(pg_temp.nothing_escalated(), 'the planted cast gained nothing');
SELECT is(pg_temp.who_ran('cast'), '{regress_priv_att}'::name[],
		  'the cast to the key type ran, only as its owner');
SELECT is(pg_temp.who_ran('output'), '{regress_priv_att}'::name[],
		  'the cast to json that formats keys ran, only as its owner');

-- (repair() cannot compare two values of such an enum: "=" is ambiguous
-- once it has an implicit cast to int, as in PostgreSQL's own cascades.
-- Whatever it does, it gains nothing.)
DO $$BEGIN CALL ri_policy.repair('priv_cast', 'delete'); EXCEPTION WHEN OTHERS THEN NULL; END$$;
SELECT ok(pg_temp.nothing_escalated(), 'repair() gained the planted cast nothing');

-- A cast that the role replaces after the declaration still runs as the
-- role; one it drops leaves a reference that is refused, not run otherwise.
SET ROLE regress_priv_att;
DROP CAST (priv.e AS int);
CREATE FUNCTION priv.e_int2(priv.e) RETURNS int LANGUAGE plpgsql AS
	$$BEGIN PERFORM priv.plant('new cast'); RETURN $1::text::int; END$$;
CREATE CAST (priv.e AS int) WITH FUNCTION priv.e_int2(priv.e) AS IMPLICIT;
RESET ROLE;
CALL ri_policy.validate('priv_cast', full => true);
SELECT is(pg_temp.who_ran('new cast'), '{regress_priv_att}'::name[],
		  'a cast created after the declaration runs only as its owner');
SET ROLE regress_priv_att;
DROP CAST (priv.e AS int);
RESET ROLE;
SELECT throws_ok($$CALL ri_policy.validate('priv_cast', full => true)$$, '42804',
				 'reference "priv_cast" cannot be implemented',
				 'without its cast, the reference is refused');
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',') FROM ri_policy.violations
			WHERE reference = 'priv_cast'),
		  '{"k": "3"} 2', 'and its results stay as they were');
SELECT ok(pg_temp.nothing_escalated(), 'nothing gained');

-- 2. Input: a key of the role's domain over text, whose CHECK calls its
-- function, is read back from its recorded form by repair().
SET ROLE regress_priv_att;
CREATE FUNCTION priv.short(text) RETURNS boolean LANGUAGE plpgsql AS
	$$BEGIN PERFORM priv.plant('input'); RETURN pg_catalog.length($1) < 10; END$$;
CREATE DOMAIN priv.code AS text CHECK (priv.short(VALUE));
CREATE TABLE priv.tc (k priv.code);
INSERT INTO priv.tc VALUES ('a'), ('x'), (NULL);
SELECT is(ri_policy.declare_reference('priv.tc', '{k}', 'public.priv_tlookup', name => 'priv_input',
									  on_delete => 'set null'),
		  'priv_input', 'a role declares a reference from a column of its domain');
RESET ROLE;
TRUNCATE public.priv_ran;
CALL ri_policy.validate('priv_input');
CALL ri_policy.repair('priv_input');
SELECT is((SELECT string_agg(coalesce(k, '-'), ',' ORDER BY k) FROM priv.tc), 'a,-,-',
		  'a superuser''s repair() sets the orphan to NULL');
SELECT is(pg_temp.who_ran('input'), '{regress_priv_att}'::name[],
		  'the domain''s check ran, only as its owner');
SELECT ok(pg_temp.nothing_escalated(), 'nothing gained');

-- 3. An equality operator's function.  Declared while a superuser owns it;
-- then the role gets it and replaces its body.
CREATE FUNCTION public.priv_eq(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE
	AS 'SELECT $1 = $2';
CREATE OPERATOR public.=== (leftarg = int, rightarg = int, function = public.priv_eq,
							commutator = ===);
CREATE OPERATOR CLASS public.priv_ops FOR TYPE int USING btree AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 public.===, OPERATOR 4 >=, OPERATOR 5 >,
	FUNCTION 1 btint4cmp(int, int);
CREATE TABLE public.priv_olookup (id int);
CREATE UNIQUE INDEX ON public.priv_olookup (id public.priv_ops);
INSERT INTO public.priv_olookup VALUES (1), (2);
GRANT REFERENCES ON public.priv_olookup TO regress_priv_att;
SET ROLE regress_priv_att;
CREATE TABLE priv.oc (k int);
INSERT INTO priv.oc VALUES (1), (3);
SELECT is(ri_policy.declare_reference('priv.oc', '{k}', 'public.priv_olookup', '{id}',
									  name => 'priv_op', on_delete => 'cascade'),
		  'priv_op', 'declared while a superuser owns the operator''s function');
CALL ri_policy.validate('priv_op');
RESET ROLE;
ALTER FUNCTION public.priv_eq(int, int) OWNER TO regress_priv_att;
SET ROLE regress_priv_att;
CREATE OR REPLACE FUNCTION public.priv_eq(int, int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
	AS $$BEGIN PERFORM priv.plant('operator'); RETURN $1 = $2; END$$;
RESET ROLE;
TRUNCATE public.priv_ran;
SELECT throws_ok($$CALL ri_policy.validate('priv_op', full => true)$$, '42501',
				 'permission denied to compare the keys of reference "priv_op"',
				 'then a superuser''s validate() refuses it');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('priv_op')$$, '42501', NULL,
				 'so does orphans()');
SELECT throws_ok($$CALL ri_policy.repair('priv_op')$$, '42501', NULL,
				 'and repair()');
SET ROLE regress_priv_att;
SELECT throws_ok($$CALL ri_policy.validate('priv_op', full => true)$$, '42501', NULL,
				 'and so does its owner''s validate()');
SELECT throws_ok($$SELECT ri_policy.declare_reference('priv.oc', '{k}', 'public.priv_olookup',
													   '{id}', name => 'priv_op2')$$,
				 '42501', 'permission denied to compare the keys of reference "priv_op2"',
				 'declaring such a reference is refused');
RESET ROLE;
SELECT is((SELECT count(*) FROM public.priv_ran), 0::bigint, 'the planted operator never ran');
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',') FROM ri_policy.violations
			WHERE reference = 'priv_op'),
		  '{"k": 3} 1', 'the results are unchanged');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'priv_op'),
		  'done', 'so is the progress');
SELECT is((SELECT count(*) FROM priv.oc), 2::bigint, 'no row was repaired');
SELECT is((SELECT count(*) FROM ri_policy.references WHERE name = 'priv_op2'), 0::bigint,
		  'nothing was declared');

-- The error says which function and whose.
SELECT is(pg_temp.detail_of($$CALL ri_policy.validate('priv_op')$$),
		  'The comparison runs function priv_eq(integer,integer), owned by role "regress_priv_att", which is neither a superuser nor the owner of both tables.',
		  'with the function and its owner in the detail');

-- 4. A hash support function: another operator, whose function a superuser
-- owns, with a hash operator class whose function the role owns.
CREATE FUNCTION public.priv_eq2(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE
	AS 'SELECT $1 = $2';
CREATE OPERATOR public.=#= (leftarg = int, rightarg = int, function = public.priv_eq2,
							commutator = =#=, hashes);
CREATE OPERATOR CLASS public.priv_ops2 FOR TYPE int USING btree AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 public.=#=, OPERATOR 4 >=, OPERATOR 5 >,
	FUNCTION 1 btint4cmp(int, int);
CREATE FUNCTION public.priv_hash(int) RETURNS int LANGUAGE sql IMMUTABLE
	AS 'SELECT pg_catalog.hashint4($1)';
CREATE OPERATOR CLASS public.priv_hash_ops FOR TYPE int USING hash AS
	OPERATOR 1 public.=#=, FUNCTION 1 public.priv_hash(int);
ALTER FUNCTION public.priv_hash(int) OWNER TO regress_priv_att;
CREATE TABLE public.priv_hlookup (id int);
CREATE UNIQUE INDEX ON public.priv_hlookup (id public.priv_ops2);
INSERT INTO public.priv_hlookup VALUES (1), (2);
GRANT REFERENCES ON public.priv_hlookup TO regress_priv_att;
SET ROLE regress_priv_att;
CREATE OR REPLACE FUNCTION public.priv_hash(int) RETURNS int LANGUAGE plpgsql IMMUTABLE
	AS $$BEGIN PERFORM priv.plant('hash'); RETURN pg_catalog.hashint4($1); END$$;
CREATE TABLE priv.hc (k int);
INSERT INTO priv.hc VALUES (1), (3), (3);
SELECT throws_ok($$SELECT ri_policy.declare_reference('priv.hc', '{k}', 'public.priv_hlookup', '{id}')$$,
				 '42501', NULL, 'a reference whose hash function its declarer owns is refused');

-- The role may use its own functions between its own tables: they run as
-- the role, also when a superuser validates.
CREATE TABLE priv.hp (id int);
CREATE UNIQUE INDEX ON priv.hp (id public.priv_ops2);
INSERT INTO priv.hp VALUES (1), (2);
SELECT is(ri_policy.declare_reference('priv.hc', '{k}', 'priv.hp', '{id}', name => 'priv_own',
									  on_delete => 'cascade'),
		  'priv_own', 'between its own tables, a role may compare with its own hash function');
RESET ROLE;
TRUNCATE public.priv_ran;
CALL ri_policy.validate('priv_own');
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',') FROM ri_policy.orphans('priv_own')),
		  '{"k": 3} 2', 'a superuser calls orphans()');
CALL ri_policy.repair('priv_own');
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',') FROM ri_policy.violations
			WHERE reference = 'priv_own'), NULL, 'a superuser validates and repairs');
SELECT is((SELECT count(*) FROM priv.hc), 1::bigint, 'the orphans are deleted');
SELECT is(pg_temp.who_ran('hash'), '{regress_priv_att}'::name[],
		  'the hash function ran, only as its owner');
SELECT ok(pg_temp.nothing_escalated(), 'nothing gained');

-- A table changing hands after the declaration is seen at the next pass.
ALTER TABLE priv.hp OWNER TO CURRENT_USER;
TRUNCATE public.priv_ran;
SELECT throws_ok($$CALL ri_policy.validate('priv_own')$$, '42501', NULL,
				 'once the parent is the superuser''s, validate() refuses');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('priv_own')$$, '42501', NULL,
				 'so does orphans()');
SELECT throws_ok($$CALL ri_policy.repair('priv_own', 'delete')$$, '42501', NULL,
				 'and repair()');
SELECT is((SELECT count(*) FROM public.priv_ran), 0::bigint, 'the hash function did not run');
ALTER TABLE priv.hp OWNER TO regress_priv_att;

-- 5. A range key, whose built-in equality compares its bounds with the
-- subtype's b-tree function: the role owns that function.
CREATE FUNCTION public.priv_cmp(int, int) RETURNS int LANGUAGE plpgsql IMMUTABLE
	AS $$BEGIN RETURN pg_catalog.btint4cmp($1, $2); END$$;
CREATE OPERATOR CLASS public.priv_ops3 FOR TYPE int USING btree AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
	FUNCTION 1 public.priv_cmp(int, int);
CREATE TYPE public.priv_range AS RANGE (subtype = int, subtype_opclass = public.priv_ops3);
CREATE TABLE public.priv_rlookup (id public.priv_range PRIMARY KEY);
INSERT INTO public.priv_rlookup VALUES ('[1,2)');
GRANT REFERENCES ON public.priv_rlookup TO regress_priv_att;
ALTER FUNCTION public.priv_cmp(int, int) OWNER TO regress_priv_att;
SET ROLE regress_priv_att;
CREATE OR REPLACE FUNCTION public.priv_cmp(int, int) RETURNS int LANGUAGE plpgsql IMMUTABLE
	AS $$BEGIN PERFORM priv.plant('range'); RETURN pg_catalog.btint4cmp($1, $2); END$$;
CREATE TABLE priv.rc (k public.priv_range);
INSERT INTO priv.rc VALUES ('[1,2)'), ('[5,6)');
RESET ROLE;
TRUNCATE public.priv_ran;
SET ROLE regress_priv_att;
SELECT is(pg_temp.detail_of($$SELECT ri_policy.declare_reference('priv.rc', '{k}', 'public.priv_rlookup')$$),
		  'The comparison runs function priv_cmp(integer,integer), owned by role "regress_priv_att", which is neither a superuser nor the owner of both tables.',
		  'a range key whose subtype''s comparison function its declarer owns is refused');
RESET ROLE;
SELECT is((SELECT count(*) FROM public.priv_ran), 0::bigint, 'and that function did not run');

-- 6. A tracked reference between the role's tables, validated incrementally
-- by a superuser: the child's index predicate calls the role's function,
-- which the planner evaluates.
SET ROLE regress_priv_att;
CREATE TABLE priv.ip (id int PRIMARY KEY);
INSERT INTO priv.ip VALUES (1), (2);
CREATE TABLE priv.ic (k int);
CREATE FUNCTION priv.pred(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
	$$BEGIN PERFORM priv.plant('predicate'); RETURN $1 > 0; END$$;
CREATE INDEX priv_ic_k ON priv.ic (k) WHERE priv.pred(1);
INSERT INTO priv.ic SELECT 1 FROM generate_series(1, 100);
INSERT INTO priv.ic VALUES (3);
SELECT is(ri_policy.declare_reference('priv.ic', '{k}', 'priv.ip', name => 'priv_inc'),
		  'priv_inc', 'a tracked reference between the role''s tables');
SELECT ri_policy.track('priv_inc');
RESET ROLE;
CALL ri_policy.validate('priv_inc');
SET ROLE regress_priv_att;
INSERT INTO priv.ic VALUES (4), (2);
DELETE FROM priv.ip WHERE id = 2;
ALTER INDEX priv.priv_ic_k SET (fillfactor = 90);	-- the predicate is evaluated again
RESET ROLE;
TRUNCATE public.priv_ran;
CALL ri_policy.validate('priv_inc');
SELECT is((SELECT rows_checked < 10 FROM ri_policy.validation_progress WHERE reference = 'priv_inc')
		  || ' ' || (SELECT string_agg(key::text, ',' ORDER BY key) FROM ri_policy.violations
					  WHERE reference = 'priv_inc'),
		  'true {"k": 2},{"k": 3},{"k": 4}', 'a superuser''s incremental pass is right');
SELECT is(pg_temp.who_ran('predicate'), '{regress_priv_att}'::name[],
		  'the index predicate''s function ran, only as its owner');
SELECT ok(pg_temp.nothing_escalated(), 'nothing gained');

-- 7. Nothing above left the role superuser or wrote the superuser's table.
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_priv_att'), false,
		  'the role is not a superuser');
SELECT is((SELECT count(*) FROM public.priv_secret), 0::bigint,
		  'and wrote nothing only a superuser may write');

SELECT * FROM finish();
ROLLBACK;
