-- Every path compares keys exactly as a full pass does, and groups child
-- keys as GROUP BY does.  A numeric child of a float parent matches after a
-- cast that maps several child values to one parent value: an incremental
-- re-check that compared child values with the child type's own equality
-- missed some child rows of a deleted parent and left false orphans behind
-- a re-inserted one; such references stay on full passes.  Keys equal under
-- the child type's equality but different in their bytes (numeric 2.0 and
-- 2.00, citext 'abc' and 'ABC') are one key with all its rows, in
-- violations, orphans() and repair() alike, as in
-- SELECT k, count(*) ... WHERE NOT EXISTS (...) GROUP BY k.
BEGIN;
SELECT plan(38);

CREATE EXTENSION IF NOT EXISTS citext;
SET client_min_messages = warning;

-- violations, orphans() and the truth of one reference, as (key, rows)
-- with the key read back into the child's type
CREATE FUNCTION pg_temp.recorded(ref text, typ text) RETURNS TABLE (k text, n bigint)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT (key ->> %L)::%s::text, child_rows FROM ri_policy.violations'
								' WHERE reference = %L',
								(SELECT child_columns[1] FROM ri_policy.references WHERE name = ref),
								typ, ref);
END $$;
CREATE FUNCTION pg_temp.live(ref text, typ text) RETURNS TABLE (k text, n bigint)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT (key ->> %L)::%s::text, child_rows FROM ri_policy.orphans(%L)',
								(SELECT child_columns[1] FROM ri_policy.references WHERE name = ref),
								typ, ref);
END $$;
CREATE FUNCTION pg_temp.progress(ref text) RETURNS bigint LANGUAGE sql AS $$
	SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = ref
$$;

-- 1. numeric child, float8 parent, tracked
CREATE TABLE xf_p (v float8 PRIMARY KEY);
INSERT INTO xf_p VALUES (0.1), (0.2), (0.5);
CREATE TABLE xf_c (id serial, v numeric);
CREATE INDEX ON xf_c (v);
INSERT INTO xf_c (v) VALUES (0.1), (0.1000000000000000000001), (0.1000000000000000000001),
	(0.2), (0.3), (0.5), (0.50);
CREATE FUNCTION pg_temp.xf_truth() RETURNS TABLE (k text, n bigint) LANGUAGE sql AS $$
	SELECT v::text, count(*) FROM xf_c
	 WHERE v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM xf_p WHERE xf_p.v = xf_c.v)
	 GROUP BY v
$$;
SELECT ri_policy.declare_reference('xf_c', '{v}', 'xf_p', name => 'xf');
SELECT ri_policy.track('xf');
CALL ri_policy.validate('xf');
SELECT set_eq('SELECT * FROM pg_temp.recorded(''xf'', ''numeric'')', 'SELECT * FROM pg_temp.xf_truth()',
			  'numeric -> float8: the first pass is right');

DELETE FROM xf_p WHERE v = 0.1;
CALL ri_policy.validate('xf');
SELECT set_eq('SELECT * FROM pg_temp.recorded(''xf'', ''numeric'')', 'SELECT * FROM pg_temp.xf_truth()',
			  'after the parent 0.1 is deleted, every child value that casts to it is an orphan');
SELECT is(pg_temp.progress('xf'), 7::bigint, 'the pass was a full one');

-- recorded as orphans by a full pass, then the parent comes back
CALL ri_policy.validate('xf', full => true);
INSERT INTO xf_p VALUES (0.1);
CALL ri_policy.validate('xf');
SELECT set_eq('SELECT * FROM pg_temp.recorded(''xf'', ''numeric'')', 'SELECT * FROM pg_temp.xf_truth()',
			  'a re-inserted parent leaves no false orphan');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'xf'), 1::bigint,
		  '(only 0.3 is left)');
SELECT set_eq('SELECT * FROM pg_temp.live(''xf'', ''numeric'')', 'SELECT * FROM pg_temp.xf_truth()',
			  'orphans() agrees');

-- 1a. the same with float4 (compared as float4, the operator the
-- reference pinned), and the parent's key updated
CREATE TABLE xf4_p (v float4 PRIMARY KEY);
INSERT INTO xf4_p VALUES (0.1), (0.25);
CREATE TABLE xf4_c (v numeric);
INSERT INTO xf4_c VALUES (0.1), (0.10000000001), (0.25), (0.7);
CREATE FUNCTION pg_temp.xf4_truth() RETURNS TABLE (k text, n bigint) LANGUAGE sql AS $$
	SELECT v::text, count(*) FROM xf4_c
	 WHERE v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM xf4_p WHERE xf4_p.v = xf4_c.v::float4)
	 GROUP BY v
$$;
SELECT ri_policy.declare_reference('xf4_c', '{v}', 'xf4_p', name => 'xf4');
SELECT ri_policy.track('xf4');
CALL ri_policy.validate('xf4');
UPDATE xf4_p SET v = 0.7 WHERE v = 0.1::float4;
CALL ri_policy.validate('xf4');
SELECT set_eq('SELECT * FROM pg_temp.recorded(''xf4'', ''numeric'')', 'SELECT * FROM pg_temp.xf4_truth()',
			  'numeric -> float4: a parent key updated away orphans every child value of it');
UPDATE xf4_p SET v = 0.1 WHERE v = 0.7::float4;
CALL ri_policy.validate('xf4');
SELECT set_eq('SELECT * FROM pg_temp.recorded(''xf4'', ''numeric'')', 'SELECT * FROM pg_temp.xf4_truth()',
			  'and updated back, none');

-- 1b. repair() compares as the pass did: it deletes both child values of
-- the missing 0.3, and touches neither of 0.7, whose parent came back
CREATE TABLE xr_p (v float8 PRIMARY KEY);
INSERT INTO xr_p VALUES (0.1);
CREATE TABLE xr_c (v numeric);
INSERT INTO xr_c VALUES (0.1), (0.1000000000000000000001), (0.3), (0.3000000000000000000001),
	(0.7), (0.7000000000000000000001);
SELECT ri_policy.declare_reference('xr_c', '{v}', 'xr_p', name => 'xr', on_delete => 'cascade');
CALL ri_policy.validate('xr');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'xr'), 4::bigint,
		  'four orphaned keys');
INSERT INTO xr_p VALUES (0.7);
CALL ri_policy.repair('xr', batch_size => 1);
SELECT is((SELECT string_agg(v::text, ',' ORDER BY v) FROM xr_c),
		  '0.1,0.1000000000000000000001,0.7,0.7000000000000000000001',
		  'repair() deletes the rows of 0.3, and no row whose parent exists');
SELECT is((SELECT string_agg(key ->> 'v', ',' ORDER BY key ->> 'v') FROM ri_policy.violations
			WHERE reference = 'xr'),
		  '0.7,0.7000000000000000000001', 'and clears only the keys it repaired');

-- 2. numeric keys that differ only in scale are one key
CREATE TABLE xn_p (v numeric PRIMARY KEY);
INSERT INTO xn_p VALUES (1);
CREATE TABLE xn_c (v numeric);
INSERT INTO xn_c VALUES (2.0), (1), (2.00), (2), (3.10), (3.1);
CREATE FUNCTION pg_temp.xn_truth() RETURNS TABLE (k numeric, n bigint) LANGUAGE sql AS $$
	SELECT v, count(*) FROM xn_c
	 WHERE v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM xn_p WHERE xn_p.v = xn_c.v)
	 GROUP BY v
$$;
SELECT ri_policy.declare_reference('xn_c', '{v}', 'xn_p', name => 'xn');
SELECT set_eq('SELECT (key ->> ''v'')::numeric, child_rows FROM ri_policy.orphans(''xn'')',
			  'SELECT * FROM pg_temp.xn_truth()', 'orphans(): 2.0, 2.00 and 2 are one key of three rows');
SELECT is((SELECT string_agg(key::text, ',' ORDER BY key::text) FROM ri_policy.orphans('xn')),
		  '{"v": 2.0},{"v": 3.10}', 'shown as the first row read has it');
CALL ri_policy.validate('xn', batch_size => 1);
SELECT set_eq('SELECT (key ->> ''v'')::numeric, child_rows FROM ri_policy.violations WHERE reference = ''xn''',
			  'SELECT * FROM pg_temp.xn_truth()', 'validate() agrees, one row a batch');
CALL ri_policy.validate('xn', batch_size => 100);
SELECT set_eq('SELECT (key ->> ''v'')::numeric, child_rows FROM ri_policy.violations WHERE reference = ''xn''',
			  'SELECT * FROM pg_temp.xn_truth()', 'and in one batch');

-- 3. citext: case variants are one key, across batches too
CREATE TABLE xc_p (v citext PRIMARY KEY);
INSERT INTO xc_p VALUES ('Known');
CREATE TABLE xc_c (id int, v citext);
INSERT INTO xc_c VALUES (1, 'abc'), (2, 'known'), (3, 'ABC'), (4, 'KNOWN'), (5, 'Abc'), (6, 'x'), (7, 'X');
CREATE FUNCTION pg_temp.xc_truth() RETURNS TABLE (k citext, n bigint) LANGUAGE sql AS $$
	SELECT v, count(*) FROM xc_c
	 WHERE v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM xc_p WHERE xc_p.v = xc_c.v)
	 GROUP BY v
$$;
SELECT ri_policy.declare_reference('xc_c', '{v}', 'xc_p', name => 'xc', on_delete => 'cascade');
CALL ri_policy.validate('xc', batch_size => 1);
SELECT set_eq('SELECT (key ->> ''v'')::citext, child_rows FROM ri_policy.violations WHERE reference = ''xc''',
			  'SELECT * FROM pg_temp.xc_truth()', 'citext: validate() finds one key of three rows');
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',' ORDER BY key::text) FROM ri_policy.violations
			WHERE reference = 'xc'),
		  '{"v": "abc"} 3,{"v": "x"} 2', 'each shown as the first row read has it');
SELECT set_eq('SELECT (key ->> ''v'')::citext, child_rows FROM ri_policy.orphans(''xc'')',
			  'SELECT * FROM pg_temp.xc_truth()', 'orphans() agrees');
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',' ORDER BY key::text) FROM ri_policy.orphans('xc')),
		  '{"v": "abc"} 3,{"v": "x"} 2', 'and shows the same keys');

-- a later pass keeps the form a key was first recorded in
DELETE FROM xc_c WHERE id = 1;
INSERT INTO xc_c VALUES (8, 'aBC');
CALL ri_policy.validate('xc', batch_size => 2);
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',' ORDER BY key::text) FROM ri_policy.violations
			WHERE reference = 'xc'),
		  '{"v": "abc"} 3,{"v": "x"} 2', 'a later pass keeps the recorded form of a key');

-- repair() acts on every row of the key, and on no row with a parent
INSERT INTO xc_p VALUES ('X');
CALL ri_policy.repair('xc');
SELECT is((SELECT string_agg(v, ',' ORDER BY id) FROM xc_c), 'known,KNOWN,x,X',
		  'repair() deletes every case variant of an orphaned key, and nothing else');
SELECT is((SELECT string_agg(key::text, ',') FROM ri_policy.violations WHERE reference = 'xc'),
		  '{"v": "x"}', 'and clears the key it repaired only');
CALL ri_policy.validate('xc');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'xc'), 0::bigint,
		  'the next pass finds nothing left');

-- 3a. a citext child of a text parent: the comparison (text's) is finer than
-- the child's grouping (citext's), so each row is judged by its own value,
-- then the orphans are grouped as GROUP BY groups them
CREATE TABLE xt_p (v text PRIMARY KEY);
INSERT INTO xt_p VALUES ('abc');
CREATE TABLE xt_c (id int, v citext);
INSERT INTO xt_c VALUES (1, 'abc'), (2, 'ABC'), (3, 'Abc'), (4, 'abc');
CREATE FUNCTION pg_temp.xt_truth() RETURNS TABLE (k citext, n bigint) LANGUAGE sql AS $$
	SELECT v, count(*) FROM xt_c
	 WHERE v IS NOT NULL AND NOT EXISTS (SELECT 1 FROM xt_p WHERE xt_p.v = xt_c.v::text)
	 GROUP BY v
$$;
SELECT ri_policy.declare_reference('xt_c', '{v}', 'xt_p', name => 'xt', on_delete => 'cascade');
CALL ri_policy.validate('xt', batch_size => 1);
SELECT set_eq('SELECT (key ->> ''v'')::citext, child_rows FROM ri_policy.violations WHERE reference = ''xt''',
			  'SELECT * FROM pg_temp.xt_truth()', 'citext -> text: validate() judges each row by its value');
SELECT set_eq('SELECT (key ->> ''v'')::citext, child_rows FROM ri_policy.orphans(''xt'')',
			  'SELECT * FROM pg_temp.xt_truth()', 'so does orphans()');
CALL ri_policy.repair('xt');
SELECT is((SELECT string_agg(id::text, ',' ORDER BY id) FROM xt_c), '1,4',
		  'repair() deletes ''ABC'' and ''Abc'', not the rows of ''abc'', whose parent exists');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'xt'), 0::bigint,
		  'and clears the key it repaired');

-- 4. two columns, numeric and citext, MATCH FULL with a partly NULL key
CREATE TABLE x2_p (a numeric, b citext, PRIMARY KEY (a, b));
INSERT INTO x2_p VALUES (1, 'one');
CREATE TABLE x2_c (a numeric, b citext);
INSERT INTO x2_c VALUES (1.0, 'ONE'), (2.0, 'two'), (2, 'TWO'), (2.00, 'Two'), (1, 'uno'),
	(1.00, 'UNO'), (NULL, 'z'), (NULL, 'Z'), (NULL, NULL);
CREATE FUNCTION pg_temp.x2_truth() RETURNS TABLE (a numeric, b citext, n bigint) LANGUAGE sql AS $$
	SELECT a, b, count(*) FROM x2_c
	 WHERE (a IS NOT NULL OR b IS NOT NULL)
	   AND NOT EXISTS (SELECT 1 FROM x2_p WHERE x2_p.a = x2_c.a AND x2_p.b = x2_c.b)
	 GROUP BY a, b
$$;
SELECT ri_policy.declare_reference('x2_c', '{a,b}', 'x2_p', '{a,b}', name => 'x2', match => 'full',
								   on_delete => 'set null');
CALL ri_policy.validate('x2', batch_size => 1);
SELECT set_eq('SELECT (key ->> ''a'')::numeric, (key ->> ''b'')::citext, child_rows'
			  '  FROM ri_policy.violations WHERE reference = ''x2''',
			  'SELECT * FROM pg_temp.x2_truth()', 'two columns: validate() groups as GROUP BY does');
SELECT set_eq('SELECT (key ->> ''a'')::numeric, (key ->> ''b'')::citext, child_rows FROM ri_policy.orphans(''x2'')',
			  'SELECT * FROM pg_temp.x2_truth()', 'so does orphans()');
CALL ri_policy.repair('x2');
SELECT is((SELECT count(*) FROM x2_c WHERE a IS NULL AND b IS NULL), 8::bigint,
		  'repair() sets every orphaned row to NULL');
SELECT is((SELECT string_agg(a || ' ' || b, ',') FROM x2_c WHERE a IS NOT NULL), '1.0 ONE',
		  'and leaves the row with a parent');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'x2'), 0::bigint,
		  'and clears the keys');

-- 5. the child's type without a hash function (money): grouped by equality
-- all the same (its b-tree equality, here the same as the bytes)
CREATE TABLE xm_p (v money PRIMARY KEY);
CREATE TABLE xm_c (v money);
INSERT INTO xm_c VALUES ('1.00'), ('1'), ('2');
SELECT ri_policy.declare_reference('xm_c', '{v}', 'xm_p', name => 'xm');
CALL ri_policy.validate('xm', batch_size => 1);
SELECT is((SELECT string_agg(child_rows::text, ',' ORDER BY child_rows) FROM ri_policy.violations
			WHERE reference = 'xm'), '1,2', 'money: one key of two rows, and one of one');
SELECT is((SELECT string_agg(child_rows::text, ',' ORDER BY child_rows) FROM ri_policy.orphans('xm')),
		  '1,2', 'orphans() agrees');

-- 6. interval: '1 day' and '24 hours' are equal
CREATE TABLE xi_p (v interval PRIMARY KEY);
CREATE TABLE xi_c (v interval);
INSERT INTO xi_c VALUES ('1 day'), ('24 hours'), ('2 days');
SELECT ri_policy.declare_reference('xi_c', '{v}', 'xi_p', name => 'xi');
CALL ri_policy.validate('xi', batch_size => 1);
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',' ORDER BY key::text) FROM ri_policy.violations
			WHERE reference = 'xi'), '{"v": "1 day"} 2,{"v": "2 days"} 1',
		  'interval: equal values are one key');

-- 7. hstore: its key shows its cast to json, which cannot be read back;
-- keys of one value are one key across batches all the same (by their
-- bytes), and repair() leaves them alone rather than failing
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TABLE xh_p (v hstore PRIMARY KEY);
CREATE TABLE xh_c (v hstore);
INSERT INTO xh_c SELECT 'a=>1' FROM generate_series(1, 5);
INSERT INTO xh_c VALUES ('b=>2');
SELECT ri_policy.declare_reference('xh_c', '{v}', 'xh_p', name => 'xh', on_delete => 'cascade');
CALL ri_policy.validate('xh', batch_size => 1);
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ',' ORDER BY key::text) FROM ri_policy.violations
			WHERE reference = 'xh'), '{"v": {"a": "1"}} 5,{"v": {"b": "2"}} 1',
		  'hstore: one key of five rows, read in five batches');
SELECT lives_ok($$CALL ri_policy.repair('xh')$$, 'repair() of keys it cannot read back does not fail');
SELECT is((SELECT count(*) FROM xh_c), 6::bigint, 'and changes nothing');

RESET client_min_messages;
SELECT * FROM finish();
ROLLBACK;
