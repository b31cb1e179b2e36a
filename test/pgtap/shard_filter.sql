-- ri_policy._int8_in_keys(key, set) and ri_policy._uuid_in_keys(key, set):
-- the tests the shards of a Citus child apply to integer and uuid keys sent
-- as a set (src/shard_filter.c).  Their answers are "key = ANY (the set's
-- keys)", whether the set is a constant (hashed once for the query) or not
-- (a column, a PL/pgSQL variable whose value changes between calls of one
-- expression); at the ends of bigint; and any bytea that is not a set in
-- their format is refused with 22P03, whatever the key, as any role calls
-- them.
BEGIN;
SELECT plan(24);

-- the set of the integers v, in the function's format: ascending, the
-- first as a varint of its distance from -2^63, each other of its
-- distance from the one before, less one
CREATE FUNCTION pg_temp.varint(d numeric) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	res bytea := '';
	b int;
BEGIN
	LOOP
		b := (d % 128)::int;
		d := div(d, 128);
		IF d = 0 THEN
			RETURN res || set_byte('\x00'::bytea, 0, b);
		END IF;
		res := res || set_byte('\x00'::bytea, 0, b + 128);
	END LOOP;
END $$;
CREATE FUNCTION pg_temp.keyset(v int8[]) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	res bytea := '';
	prev numeric;
	x numeric;
BEGIN
	FOR x IN SELECT DISTINCT u::numeric FROM unnest(v) u WHERE u IS NOT NULL ORDER BY 1 LOOP
		res := res || CASE WHEN prev IS NULL THEN pg_temp.varint(x + 9223372036854775808)
						   ELSE pg_temp.varint(x - prev - 1) END;
		prev := x;
	END LOOP;
	RETURN res;
END $$;

-- sets: scattered values (seeded), runs, both ends of bigint, one value, none
SELECT setseed(0.42);
CREATE TEMP TABLE sets (name text, v int8[]);
INSERT INTO sets VALUES
	('scattered', ARRAY(SELECT (random() * 2e6)::int8 - 1000000 FROM generate_series(1, 5000))),
	('runs', ARRAY(SELECT g FROM generate_series(1, 3000) g WHERE g % 100 <> 7
				   UNION ALL SELECT g * 1000003 FROM generate_series(1, 2000) g)),
	('ends', ARRAY[-9223372036854775808, -9223372036854775807, -1, 0, 1,
				   9223372036854775806, 9223372036854775807]),
	('only the least', ARRAY[-9223372036854775808]),
	('only the greatest', ARRAY[9223372036854775807]),
	('duplicates', ARRAY[5, 5, 5, 6, 6, -3]),
	('empty', '{}');
ALTER TABLE sets ADD COLUMN bytes bytea;
UPDATE sets SET bytes = pg_temp.keyset(v);
-- keys: every member, its neighbours, the ends of bigint, random ones
CREATE TEMP TABLE probes AS
SELECT DISTINCT k FROM (
	SELECT m + d AS k FROM sets, unnest(v) m, unnest(ARRAY[-1, 0, 1]) d
	 WHERE (d < 0 AND m > -9223372036854775808) OR d = 0 OR (d > 0 AND m < 9223372036854775807)
	UNION ALL SELECT unnest(ARRAY[-9223372036854775808, 9223372036854775807, 0])
	UNION ALL SELECT (random() * 4e6)::int8 - 2000000 FROM generate_series(1, 20000)) s;

-- the set as a constant in the query, hashed once; and as a column
CREATE FUNCTION pg_temp.wrong_const(s text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM probes WHERE ri_policy._int8_in_keys(k, %L::bytea)'
				   ' IS DISTINCT FROM (k = ANY (%L::int8[]))',
				   (SELECT bytes FROM sets WHERE name = s), (SELECT v FROM sets WHERE name = s))
	   INTO n;
	RETURN n;
END $$;
SELECT is(pg_temp.wrong_const(name), 0::bigint, name || ': a constant set answers as = ANY')
  FROM sets ORDER BY name;
SELECT is((SELECT count(*) FROM sets, probes
			WHERE ri_policy._int8_in_keys(k, bytes) IS DISTINCT FROM (k = ANY (v))),
		  0::bigint, 'a set read from a column, one a row, answers as = ANY');
SELECT is((SELECT count(*) FILTER (WHERE ri_policy._int8_in_keys(k, bytes)) FROM sets, probes
			WHERE name = 'scattered'),
		  (SELECT count(*) FROM probes, sets WHERE name = 'scattered' AND k = ANY (v)),
		  'and finds the members (not a count of zero)');

-- a PL/pgSQL variable: one simple expression, evaluated again with other
-- sets, must not answer from the first one
CREATE FUNCTION pg_temp.variable_sets() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s bytea;
	res text := '';
BEGIN
	FOR i IN 1..4 LOOP
		s := pg_temp.keyset(ARRAY[i * 10]);
		res := res || ri_policy._int8_in_keys(i * 10, s)::text || ','
			|| ri_policy._int8_in_keys(10, s)::text || ';';
	END LOOP;
	RETURN res;
END $$;
SELECT is(pg_temp.variable_sets(), 'true,true;true,false;true,false;true,false;',
		  'each call answers from the set it is given');

-- not sets: refused with 22P03, whatever the key; an ordinary role calls it
CREATE ROLE regress_ik_role;
SET ROLE regress_ik_role;
SELECT throws_ok($$SELECT ri_policy._int8_in_keys(1, '\x0180'::bytea)$$, '22P03',
				 'invalid set of integer keys', 'a set that ends inside a value is refused');
SELECT throws_ok($$SELECT ri_policy._int8_in_keys(k, '\x01ffffffffffffffffff02'::bytea)
					 FROM (VALUES (1), (2)) v(k)$$, '22P03',
				 'invalid set of integer keys', 'a value past 64 bits is refused');
-- the greatest distance there is, to 2^63 - 1, then one more value
SELECT throws_ok($$SELECT ri_policy._int8_in_keys(9223372036854775807,
												  '\xffffffffffffffffff0100'::bytea)$$, '22P03',
				 'invalid set of integer keys', 'a value past bigint''s range is refused, even after the key');
SELECT is(ri_policy._int8_in_keys(9223372036854775807, '\xffffffffffffffffff01'::bytea), true,
		  'the greatest distance there is reaches 2^63 - 1');
-- 2^22 keys, the most a set holds (consecutive from -2^63, a byte each)
SELECT is(ri_policy._int8_in_keys(k, decode(repeat('00', 4194304), 'hex')), true,
		  'a set of 2^22 keys holds its last')
  FROM (VALUES (-9223372036854775808 + 4194303)) v(k);
SELECT throws_ok($$SELECT ri_policy._int8_in_keys(k, decode(repeat('00', 4194305), 'hex'))
					 FROM (VALUES (1::int8)) v(k)$$, '54000',
				 'set of integer keys is too large', 'a set of more keys is refused');
RESET ROLE;

-- uuids: 16 bytes each, in any order, duplicates allowed
CREATE TEMP TABLE usets (name text, v uuid[]);
INSERT INTO usets VALUES
	('random', ARRAY(SELECT md5(random()::text)::uuid FROM generate_series(1, 3000))),
	('ends and duplicates', ARRAY['00000000-0000-0000-0000-000000000000'::uuid,
								  'ffffffff-ffff-ffff-ffff-ffffffffffff', '00000000-0000-0000-0000-000000000001',
								  'ffffffff-ffff-ffff-ffff-ffffffffffff']),
	('empty', '{}');
ALTER TABLE usets ADD COLUMN bytes bytea;
UPDATE usets SET bytes = coalesce((SELECT string_agg(decode(replace(u::text, '-', ''), 'hex'), ''::bytea
											ORDER BY o)
									 FROM unnest(v) WITH ORDINALITY x(u, o)), '');
CREATE TEMP TABLE uprobes AS
SELECT DISTINCT k FROM (SELECT unnest(v) AS k FROM usets
						UNION ALL SELECT md5(random()::text)::uuid FROM generate_series(1, 5000)
						UNION ALL SELECT unnest(ARRAY['00000000-0000-0000-0000-000000000002'::uuid,
													  'ffffffff-ffff-ffff-ffff-fffffffffffe'])) s;
CREATE FUNCTION pg_temp.uwrong_const(s text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM uprobes WHERE ri_policy._uuid_in_keys(k, %L::bytea)'
				   ' IS DISTINCT FROM (k = ANY (%L::uuid[]))',
				   (SELECT bytes FROM usets WHERE name = s), (SELECT v FROM usets WHERE name = s))
	   INTO n;
	RETURN n;
END $$;
SELECT is(pg_temp.uwrong_const(name), 0::bigint, name || ': a constant set of uuids answers as = ANY')
  FROM usets ORDER BY name;
SELECT is((SELECT count(*) FROM usets, uprobes
			WHERE ri_policy._uuid_in_keys(k, bytes) IS DISTINCT FROM (k = ANY (v))),
		  0::bigint, 'a set of uuids read from a column answers as = ANY');
SELECT ok((SELECT count(*) FROM usets, uprobes WHERE name = 'random' AND ri_policy._uuid_in_keys(k, bytes))
		  = 3000, 'and finds its 3,000 members');
CREATE FUNCTION pg_temp.uvariable_sets() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s bytea;
	res text := '';
	first uuid := '00000000-0000-0000-0000-00000000000a';
BEGIN
	FOR i IN 1..3 LOOP
		s := decode(lpad(to_hex(i * 10), 32, '0'), 'hex');
		res := res || ri_policy._uuid_in_keys(lpad(to_hex(i * 10), 32, '0')::uuid, s)::text || ','
			|| ri_policy._uuid_in_keys(first, s)::text || ';';
	END LOOP;
	RETURN res;
END $$;
SELECT is(pg_temp.uvariable_sets(), 'true,true;true,false;true,false;',
		  'each call answers from the set of uuids it is given');
SET ROLE regress_ik_role;
SELECT throws_ok($$SELECT ri_policy._uuid_in_keys('00000000-0000-0000-0000-000000000000',
												  '\x00000000000000000000000000000000ff'::bytea)$$, '22P03',
				 'invalid set of uuid keys', 'a set of uuids with a partial one is refused');
SELECT throws_ok($$SELECT ri_policy._uuid_in_keys(k, '\x0000'::bytea)
					 FROM (VALUES ('00000000-0000-0000-0000-000000000000'::uuid)) v(k)$$, '22P03',
				 'invalid set of uuid keys', '... whatever the key');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
