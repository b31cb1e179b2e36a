-- Which key types references accept.  Arrays and composites (and domains
-- over them) are refused when declared, demoted, or validated as a foreign
-- key by name: unnest() used to expand a composite key into its fields, and
-- a field value then served as an array index (a crash).  Every other type
-- validates exactly: validate(), orphans() and repair() against NOT EXISTS.
BEGIN;
SELECT plan(62);

CREATE SCHEMA kt;
CREATE TABLE kt.p (id int PRIMARY KEY);
INSERT INTO kt.p VALUES (1), (2);

-- a composite with an implicit cast to the key type: the crash of 0.4
CREATE TYPE kt.c2 AS (v int, w int);
CREATE FUNCTION kt.c2_int(kt.c2) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1.v';
CREATE CAST (kt.c2 AS int) WITH FUNCTION kt.c2_int(kt.c2) AS IMPLICIT;
CREATE TABLE kt.c (k kt.c2);
INSERT INTO kt.c VALUES (ROW(1, 5)), (ROW(7, 900000000)), (ROW(1000000, 3));
SELECT throws_ok($$SELECT ri_policy.declare_reference('kt.c', '{k}', 'kt.p', name => 'kt_comp')$$,
				 '0A000', 'reference key column "k" of table "c" has unsupported type kt.c2',
				 'a composite key with an implicit cast to the parent''s type is refused');
SELECT is((SELECT count(*) FROM ri_policy.references WHERE name = 'kt_comp'), 0::bigint,
		  'and nothing is declared');

-- the same as a foreign key (PostgreSQL accepts it through the cast)
ALTER TABLE kt.c ADD CONSTRAINT kt_comp_fk FOREIGN KEY (k) REFERENCES kt.p NOT VALID;
SELECT throws_ok($$CALL ri_policy.validate('kt_comp_fk')$$, '0A000',
				 'reference key column "k" of table "c" has unsupported type kt.c2',
				 'validating such a foreign key by name is refused');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('kt_comp_fk')$$, '0A000', NULL,
				 'so is orphans()');
SELECT throws_ok($$CALL ri_policy.repair('kt_comp_fk', 'delete')$$, '0A000', NULL,
				 'and repair()');
SELECT is((SELECT count(*) FROM ri_policy.validation_progress WHERE reference = 'kt_comp_fk'),
		  0::bigint, 'no run was recorded');
SELECT is((SELECT count(*) FROM kt.c), 3::bigint, 'no row was touched');
SELECT throws_ok($$SELECT ri_policy.demote('kt.c', 'kt_comp_fk')$$, '0A000', NULL,
				 'demote() refuses it too');
SELECT is((SELECT count(*) FROM pg_constraint WHERE conname = 'kt_comp_fk'), 1::bigint,
		  'and the foreign key is still there');
SELECT is((SELECT 1), 1, 'the backend is alive');

-- the message tells how to validate a foreign key instead
CREATE FUNCTION pg_temp.hint_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	hint text;
BEGIN
	EXECUTE stmt;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
	RETURN hint;
END $$;
SELECT is(pg_temp.hint_of($$CALL ri_policy.validate('kt_comp_fk')$$),
		  'Validate foreign key "kt_comp_fk" with ALTER TABLE ... VALIDATE CONSTRAINT.',
		  'with a hint');

-- composite keys on both sides
CREATE TABLE kt.cp (id kt.c2 PRIMARY KEY);
CREATE TABLE kt.cc (k kt.c2);
SELECT throws_ok($$SELECT ri_policy.declare_reference('kt.cc', '{k}', 'kt.cp')$$, '0A000', NULL,
				 'composite keys on both sides are refused');
ALTER TABLE kt.cc ADD CONSTRAINT kt_cc_fk FOREIGN KEY (k) REFERENCES kt.cp NOT VALID;
SELECT throws_ok($$CALL ri_policy.validate('kt_cc_fk')$$, '0A000', NULL,
				 'also as a foreign key');

-- arrays
CREATE TABLE kt.ap (id int[] PRIMARY KEY);
CREATE TABLE kt.ac (k int[]);
INSERT INTO kt.ac VALUES ('{1}');
SELECT throws_ok($$SELECT ri_policy.declare_reference('kt.ac', '{k}', 'kt.ap')$$, '0A000',
				 'reference key column "k" of table "ac" has unsupported type integer[]',
				 'array keys are refused');
ALTER TABLE kt.ac ADD CONSTRAINT kt_ac_fk FOREIGN KEY (k) REFERENCES kt.ap NOT VALID;
SELECT throws_ok($$CALL ri_policy.validate('kt_ac_fk')$$, '0A000', NULL,
				 'also as a foreign key');
SELECT throws_ok($$SELECT ri_policy.declare_reference('kt.ac', '{k}', 'kt.p')$$, '42804', NULL,
				 'an array cannot reference a scalar key');

-- domains over them, and one column of several
CREATE DOMAIN kt.dcomp AS kt.c2;
CREATE DOMAIN kt.darr AS int[];
CREATE TABLE kt.dc (a kt.dcomp, b kt.darr, n int);
SELECT throws_ok($$SELECT ri_policy.declare_reference('kt.dc', '{a}', 'kt.cp')$$, '0A000', NULL,
				 'a domain over a composite is refused');
SELECT throws_ok($$SELECT ri_policy.declare_reference('kt.dc', '{b}', 'kt.ap')$$, '0A000', NULL,
				 'a domain over an array is refused');
CREATE TABLE kt.mp (x int, y int[], PRIMARY KEY (x, y));
SELECT throws_ok($$SELECT ri_policy.declare_reference('kt.dc', '{n, b}', 'kt.mp')$$, '0A000',
				 'reference key column "b" of table "dc" has unsupported type kt.darr',
				 'an array column among others is refused');
SELECT is((SELECT count(*) FROM ri_policy.references WHERE kind = 'declared'), 0::bigint,
		  'none of these was declared');

-- demote_all() demotes nothing when one of the keys is refused
CREATE TABLE kt.okc (pid int REFERENCES kt.p);
SELECT throws_ok($$SELECT * FROM ri_policy.demote_all('kt')$$, '0A000', NULL,
				 'demote_all() refuses a schema with such a key');
SELECT is((SELECT count(*) FROM pg_constraint WHERE contype = 'f'
			AND connamespace = 'kt'::regnamespace AND convalidated), 1::bigint,
		  'and demotes none of its keys');

-- Everything else validates exactly.  For each pair of types: a parent, a
-- child with matching, orphaned and NULL keys; validate() (two rows a
-- batch), orphans() and repair() must agree with NOT EXISTS.
CREATE EXTENSION IF NOT EXISTS citext SCHEMA kt;
CREATE TYPE kt.color AS ENUM ('red', 'green', 'blue');
CREATE DOMAIN kt.posint AS int CHECK (VALUE > 0);
CREATE DOMAIN kt.code AS text CHECK (length(VALUE) < 10);
CREATE FUNCTION kt.color_int(kt.color) RETURNS int LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_catalog.array_position(pg_catalog.enum_range(NULL::kt.color), $1)$$;
CREATE TYPE kt.shade AS ENUM ('one', 'two', 'three');
CREATE FUNCTION kt.shade_int(kt.shade) RETURNS int LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_catalog.array_position(pg_catalog.enum_range(NULL::kt.shade), $1)$$;
CREATE CAST (kt.shade AS int) WITH FUNCTION kt.shade_int(kt.shade) AS IMPLICIT;

CREATE FUNCTION pg_temp.check_types(ctype text, ptype text, pvals text, cvals text,
									 with_repair boolean)
RETURNS text LANGUAGE plpgsql SET search_path = public, kt AS $f$
DECLARE
	truth_rows bigint;
	truth_keys bigint;
	v_rows bigint;
	v_keys bigint;
	o_rows bigint;
	kept bigint;
	left_after bigint;
	total_after bigint;
	orphan_test text := 'k IS NOT NULL AND NOT EXISTS (SELECT 1 FROM kt.tp WHERE tp.id = tc.k)';
BEGIN
	EXECUTE format('CREATE TABLE kt.tp (id %s PRIMARY KEY)', ptype);
	EXECUTE format('CREATE TABLE kt.tc (k %s)', ctype);
	EXECUTE format('INSERT INTO kt.tp VALUES %s', pvals);
	EXECUTE format('INSERT INTO kt.tc VALUES %s', cvals);
	PERFORM ri_policy.declare_reference('kt.tc', '{k}', 'kt.tp', name => 'kt_ref');
	EXECUTE format('SELECT count(*), count(DISTINCT k) FROM kt.tc WHERE %s', orphan_test)
		INTO truth_rows, truth_keys;
	EXECUTE format('SELECT count(*) FROM kt.tc WHERE NOT (%s)', orphan_test) INTO kept;
	CALL ri_policy.validate('kt_ref', batch_size => 2);
	SELECT sum(child_rows), count(*) INTO v_rows, v_keys
	  FROM ri_policy.violations WHERE reference = 'kt_ref';
	SELECT sum(child_rows) INTO o_rows FROM ri_policy.orphans('kt_ref');
	IF with_repair THEN
		CALL ri_policy.repair('kt_ref', 'delete');
	ELSE
		EXECUTE format('DELETE FROM kt.tc WHERE %s', orphan_test);
	END IF;
	EXECUTE format('SELECT count(*) FILTER (WHERE %s), count(*) FROM kt.tc', orphan_test)
		INTO left_after, total_after;
	PERFORM ri_policy.drop_reference('kt_ref');
	DROP TABLE kt.tc, kt.tp;
	IF truth_rows = 0 THEN
		RETURN 'the test has no orphans';
	ELSIF v_rows IS DISTINCT FROM truth_rows OR v_keys IS DISTINCT FROM truth_keys THEN
		RETURN format('validate() found %s rows of %s keys, not %s of %s',
					  v_rows, v_keys, truth_rows, truth_keys);
	ELSIF o_rows IS DISTINCT FROM truth_rows THEN
		RETURN format('orphans() found %s rows, not %s', o_rows, truth_rows);
	ELSIF left_after <> 0 OR total_after <> kept THEN
		RETURN format('repair() left %s orphans and %s rows, not 0 and %s',
					  left_after, total_after, kept);
	END IF;
	RETURN 'exact';
END $f$;
SET client_min_messages = warning;

-- (An enum with an implicit cast to int makes "=" between two of its values
-- ambiguous: PostgreSQL's own cascades fail on it, and so does repair().)
SELECT is(pg_temp.check_types(c, p, pv, cv, c <> 'kt.shade'), 'exact', format('%s -> %s', c, p))
  FROM (VALUES
	('int2', 'int2', '(1), (2)', '(1), (3), (3), (NULL)'),
	('int4', 'int4', '(1), (2)', '(1), (3), (3), (-4), (NULL)'),
	('int8', 'int8', '(1), (2)', '(1), (3), (3), (9000000000), (NULL)'),
	('int4', 'int8', '(1), (2)', '(1), (3), (2), (NULL)'),
	('int2', 'int8', '(1), (2)', '(1), (3), (NULL)'),
	('int8', 'int4', '(1), (2)', '(1), (3), (30000000000), (NULL)'),
	('numeric', 'numeric', '(1), (2.0)', '(1.00), (2), (2.00), (3), (3.0), (NULL)'),
	('numeric', 'float8', '(0.1), (2)', '(0.1), (2.00), (3), (0.30000000000000000001), (NULL)'),
	('int4', 'float8', '(1), (2)', '(1), (3), (NULL)'),
	('float8', 'float8', '(0.1), (2)', '(0.1), (2), (3), (''NaN''), (''Infinity''), (NULL)'),
	('float4', 'float8', '(0.5), (2)', '(0.5), (2), (0.1), (NULL)'),
	('float4', 'float4', '(0.1), (2)', '(0.1), (2), (3.5), (NULL)'),
	('text', 'text', '(''a''), (''b'')', '(''a''), (''c''), (''c''), (''''), (NULL)'),
	('varchar(5)', 'text', '(''a''), (''b'')', '(''a''), (''c''), (NULL)'),
	('text', 'varchar(5)', '(''a''), (''b'')', '(''a''), (''c''), (NULL)'),
	('char(3)', 'char(3)', '(''a''), (''b'')', '(''a''), (''a  ''), (''c''), (NULL)'),
	('kt.citext', 'kt.citext', '(''Ab''), (''b'')', '(''aB''), (''c''), (''C''), (NULL)'),
	('kt.code', 'text', '(''a'')', '(''a''), (''b''), (NULL)'),
	('uuid', 'uuid', '(''00000000-0000-0000-0000-000000000001'')',
	 '(''00000000-0000-0000-0000-000000000001''), (''00000000-0000-0000-0000-000000000002''), (NULL)'),
	('date', 'date', '(''2024-01-01'')', '(''2024-01-01''), (''2024-01-02''), (''infinity''), (NULL)'),
	('date', 'timestamp', '(''2024-01-01'')', '(''2024-01-01''), (''2024-01-02''), (NULL)'),
	('timestamp', 'timestamp', '(''2024-01-01 10:00'')',
	 '(''2024-01-01 10:00''), (''2024-01-02 10:00:00.5''), (NULL)'),
	('timestamptz', 'timestamptz', '(''2024-01-01 10:00+02'')',
	 '(''2024-01-01 08:00+00''), (''2024-01-02 10:00+05''), (NULL)'),
	('time', 'time', '(''10:00'')', '(''10:00''), (''11:00:00.25''), (NULL)'),
	('name', 'name', '(''a'')', '(''a''), (''c''), (NULL)'),
	('interval', 'interval', '(''1 day'')', '(''1 day''), (''2 days''), (NULL)'),
	('bool', 'bool', '(true)', '(true), (false), (NULL)'),
	('bytea', 'bytea', '(''\x01'')', '(''\x01''), (''\x0203''), (NULL)'),
	('inet', 'inet', '(''10.0.0.1'')', '(''10.0.0.1''), (''10.0.0.2/8''), (NULL)'),
	('jsonb', 'jsonb', '(''{"a": 1}'')', '(''{"a": 1}''), (''{"a": [2]}''), (NULL)'),
	('kt.color', 'kt.color', '(''red'')', '(''red''), (''blue''), (NULL)'),
	('kt.shade', 'int', '(1), (2)', '(''one''), (''three''), (''three''), (NULL)'),
	('kt.posint', 'int', '(1), (2)', '(1), (3), (NULL)'),
	('int', 'kt.posint', '(1), (2)', '(1), (3), (0), (NULL)'),
	('int4range', 'int4range', '(''[1,5)'')', '(''[1,4]''), (''[2,3)''), (''empty''), (NULL)'),
	('tstzrange', 'tstzrange', '(''[2024-01-01,2024-02-01)'')',
	 '(''[2024-01-01,2024-02-01)''), (''[2024-01-01,2024-03-01)''), (NULL)'),
	('int4multirange', 'int4multirange', '(''{[1,5)}'')',
	 '(''{[1,5)}''), (''{[1,2),[3,4)}''), (NULL)')
  ) AS t(c, p, pv, cv);
RESET client_min_messages;

-- a child value that its cast to the operator's type cannot convert (too
-- large for float8) equals no parent key: it is an orphan, not an error
CREATE TABLE kt.fp (id float8 PRIMARY KEY);
INSERT INTO kt.fp VALUES (0.1), (2);
CREATE TABLE kt.fc (k numeric);
INSERT INTO kt.fc VALUES (0.1), (1e400), (1e400), (-1e400), (2);
SELECT ri_policy.declare_reference('kt.fc', '{k}', 'kt.fp', name => 'kt_big');
CALL ri_policy.validate('kt_big', batch_size => 2);
SELECT is((SELECT array_agg(child_rows ORDER BY key) FROM ri_policy.violations
			WHERE reference = 'kt_big'), '{1,2}'::bigint[],
		  'validate() records values out of the parent type''s range as orphans');
SELECT is((SELECT array_agg(child_rows ORDER BY key) FROM ri_policy.orphans('kt_big')),
		  '{1,2}'::bigint[], 'so does orphans()');

-- two columns of different types, MATCH FULL
CREATE TABLE kt.tp2 (a kt.color, b numeric, PRIMARY KEY (a, b));
INSERT INTO kt.tp2 VALUES ('red', 1), ('green', 2);
CREATE TABLE kt.tc2 (a kt.color, b int);
INSERT INTO kt.tc2 VALUES ('red', 1), ('red', 2), ('blue', NULL), (NULL, NULL), ('green', 2);
SELECT ri_policy.declare_reference('kt.tc2', '{a, b}', 'kt.tp2', name => 'kt_two', match => 'full');
CALL ri_policy.validate('kt_two', batch_size => 1);
SELECT is((SELECT string_agg(key::text || ' ' || child_rows, ', ' ORDER BY key::text)
			 FROM ri_policy.violations WHERE reference = 'kt_two'),
		  '{"a": "blue", "b": null} 1, {"a": "red", "b": 2} 1',
		  'a two-column key of an enum and a cross-type number validates exactly');

SELECT * FROM finish();
ROLLBACK;
