-- validate() and orphans() find exactly the orphans that a plain NOT EXISTS
-- query finds, for many table shapes, whatever the batch size.  (Inside a
-- transaction block validate() runs atomically, in that transaction.)
BEGIN;
SELECT plan(135);

-- validate() at batch sizes from 1 to more than the table, then orphans(),
-- each compared with the truth
CREATE FUNCTION check_ref(ref text, truth text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	bs int;
BEGIN
	FOREACH bs IN ARRAY ARRAY[1, 7, 1000, 100000000] LOOP
		CALL ri_policy.validate(ref, batch_size => bs, restart => true);
		RETURN NEXT set_eq(
			format('SELECT key, child_rows FROM ri_policy.violations WHERE reference = %L', ref),
			truth, format('%s: validate, batch_size %s', ref, bs));
	END LOOP;
	RETURN NEXT set_eq(format('SELECT key, child_rows FROM ri_policy.orphans(%L)', ref),
					   truth, ref || ': orphans()');
END $$;

-- 1. one int column, NULLs not checked
CREATE TABLE p1 (id int PRIMARY KEY);
INSERT INTO p1 SELECT generate_series(1, 50);
CREATE TABLE c1 (id serial, pid int);
INSERT INTO c1 (pid) SELECT CASE WHEN g % 11 = 0 THEN NULL ELSE g % 60 END
  FROM generate_series(1, 2000) g;
SELECT ri_policy.declare_reference('c1', '{pid}', 'p1', name => 'one_column');
SELECT check_ref('one_column', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c1
	 WHERE pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM p1 WHERE p1.id = c1.pid)
	 GROUP BY 1$$);

-- 2. and 3. two columns, MATCH SIMPLE and MATCH FULL
CREATE TABLE p2 (a int, b text, UNIQUE (a, b));
INSERT INTO p2 SELECT i, 'x' || i % 3 FROM generate_series(1, 30) i;
CREATE TABLE c2 (a int, b text);
INSERT INTO c2 SELECT CASE WHEN g % 13 = 0 THEN NULL ELSE g % 35 END,
					  CASE WHEN g % 17 = 0 THEN NULL ELSE 'x' || g % 4 END
  FROM generate_series(1, 3000) g;
SELECT ri_policy.declare_reference('c2', '{a,b}', 'p2', '{a,b}', name => 'two_simple');
SELECT ri_policy.declare_reference('c2', '{a,b}', 'p2', '{a,b}', name => 'two_full',
								   match => 'full');
SELECT check_ref('two_simple', $$
	SELECT jsonb_build_object('a', a, 'b', b), count(*) FROM c2
	 WHERE a IS NOT NULL AND b IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM p2 WHERE p2.a = c2.a AND p2.b = c2.b)
	 GROUP BY 1$$);
SELECT check_ref('two_full', $$
	SELECT jsonb_build_object('a', a, 'b', b), count(*) FROM c2
	 WHERE (a IS NULL) <> (b IS NULL)
		OR (a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM p2 WHERE p2.a = c2.a AND p2.b = c2.b))
	 GROUP BY 1$$);

-- 4. cross-type keys: int4 -> int8, int8 -> int4, varchar -> text
CREATE TABLE p4 (id bigint PRIMARY KEY, n int UNIQUE, t text UNIQUE);
INSERT INTO p4 SELECT g, g, 'k' || g FROM generate_series(1, 40) g;
CREATE TABLE c4 (i4 int, i8 bigint, vc varchar(10));
INSERT INTO c4 SELECT g % 50, CASE WHEN g % 7 = 0 THEN 5000000000 + g ELSE g % 45 END,
					  'k' || g % 47
  FROM generate_series(1, 1500) g;
SELECT ri_policy.declare_reference('c4', '{i4}', 'p4', name => 'int4_to_int8');
SELECT ri_policy.declare_reference('c4', '{i8}', 'p4', '{n}', name => 'int8_to_int4');
SELECT ri_policy.declare_reference('c4', '{vc}', 'p4', '{t}', name => 'varchar_to_text');
SELECT check_ref('int4_to_int8', $$
	SELECT jsonb_build_object('i4', i4), count(*) FROM c4
	 WHERE NOT EXISTS (SELECT 1 FROM p4 WHERE p4.id = c4.i4) GROUP BY 1$$);
SELECT check_ref('int8_to_int4', $$
	SELECT jsonb_build_object('i8', i8), count(*) FROM c4
	 WHERE NOT EXISTS (SELECT 1 FROM p4 WHERE p4.n = c4.i8) GROUP BY 1$$);
SELECT check_ref('varchar_to_text', $$
	SELECT jsonb_build_object('vc', vc), count(*) FROM c4
	 WHERE NOT EXISTS (SELECT 1 FROM p4 WHERE p4.t = c4.vc) GROUP BY 1$$);

-- 5. text keys under a case-insensitive (nondeterministic) collation: keys
-- equal under it are one key, as GROUP BY k makes them, shown as the first
-- row read (in physical order) has it
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE p5 (k text COLLATE ci PRIMARY KEY);
INSERT INTO p5 VALUES ('alpha'), ('Beta'), ('GAMMA'), ('ß');
CREATE TABLE c5 (k text COLLATE ci);
INSERT INTO c5 SELECT (ARRAY['ALPHA', 'alpha', 'beta', 'Gamma', 'delta', 'SS', 'ss', 'Delta'])[g % 8 + 1]
  FROM generate_series(1, 800) g;
SELECT ri_policy.declare_reference('c5', '{k}', 'p5', name => 'collation');
SELECT check_ref('collation', $$
	SELECT jsonb_build_object('k', (array_agg(k ORDER BY ctid))[1]), count(*) FROM c5
	 WHERE NOT EXISTS (SELECT 1 FROM p5 WHERE p5.k = c5.k) GROUP BY k$$);

-- 6. partitioned child, partitioned parent
CREATE TABLE p6 (id int PRIMARY KEY) PARTITION BY HASH (id);
CREATE TABLE p6_0 PARTITION OF p6 FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE p6_1 PARTITION OF p6 FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE p6_2 PARTITION OF p6 FOR VALUES WITH (MODULUS 3, REMAINDER 2);
INSERT INTO p6 SELECT g FROM generate_series(1, 90) g WHERE g % 4 <> 0;
CREATE TABLE c6 (id int, pid int) PARTITION BY RANGE (id);
CREATE TABLE c6_a PARTITION OF c6 FOR VALUES FROM (0) TO (1000);
CREATE TABLE c6_b PARTITION OF c6 FOR VALUES FROM (1000) TO (2000)
	PARTITION BY RANGE (id);
CREATE TABLE c6_b1 PARTITION OF c6_b FOR VALUES FROM (1000) TO (1500);
CREATE TABLE c6_b2 PARTITION OF c6_b FOR VALUES FROM (1500) TO (2000);
CREATE TABLE c6_d PARTITION OF c6 DEFAULT;
INSERT INTO c6 SELECT g, g % 100 FROM generate_series(1, 3000) g;
SELECT ri_policy.declare_reference('c6', '{pid}', 'p6', name => 'partitioned');
SELECT check_ref('partitioned', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c6
	 WHERE NOT EXISTS (SELECT 1 FROM p6 WHERE p6.id = c6.pid) GROUP BY 1$$);

-- 7. an inherited child: the rows of its inheritance children count too
CREATE TABLE c7 (pid int);
CREATE TABLE c7x (extra text) INHERITS (c7);
INSERT INTO c7 SELECT g % 70 FROM generate_series(1, 500) g;
INSERT INTO c7x SELECT g % 80, 'x' FROM generate_series(1, 500) g;
SELECT ri_policy.declare_reference('c7', '{pid}', 'p1', name => 'inherited');
SELECT check_ref('inherited', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c7
	 WHERE NOT EXISTS (SELECT 1 FROM p1 WHERE p1.id = c7.pid) GROUP BY 1$$);

-- 8. an empty child, an empty parent
CREATE TABLE c8 (pid int);
CREATE TABLE p8 (id int PRIMARY KEY);
SELECT ri_policy.declare_reference('c8', '{pid}', 'p1', name => 'empty_child');
SELECT check_ref('empty_child', $$SELECT '{}'::jsonb, 0::bigint WHERE false$$);
SELECT ri_policy.declare_reference('c1', '{pid}', 'p8', name => 'empty_parent');
SELECT check_ref('empty_parent', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c1 WHERE pid IS NOT NULL GROUP BY 1$$);

-- 9. a table full of dead tuples
CREATE TABLE c9 (pid int);
INSERT INTO c9 SELECT g % 70 FROM generate_series(1, 5000) g;
DELETE FROM c9 WHERE pid % 5 <> 0;
SELECT ri_policy.declare_reference('c9', '{pid}', 'p1', name => 'dead_tuples');
SELECT check_ref('dead_tuples', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c9
	 WHERE NOT EXISTS (SELECT 1 FROM p1 WHERE p1.id = c9.pid) GROUP BY 1$$);

-- 10. identifiers with quotes, spaces, upper case, keywords, non-ASCII
CREATE SCHEMA "Odd ""Schema""";
CREATE TABLE "Odd ""Schema"""."Parent Table" ("select" int PRIMARY KEY);
INSERT INTO "Odd ""Schema"""."Parent Table" SELECT generate_series(1, 20);
CREATE TABLE "Odd ""Schema"""."Child-Tåble" ("ünï ""cødé""" int);
INSERT INTO "Odd ""Schema"""."Child-Tåble" SELECT g % 25 FROM generate_series(1, 300) g;
SELECT ri_policy.declare_reference('"Odd ""Schema"""."Child-Tåble"', '{"ünï \"cødé\""}',
								   '"Odd ""Schema"""."Parent Table"', name => 'Odd "Name" ü');
SELECT check_ref('Odd "Name" ü', $$
	SELECT jsonb_build_object('ünï "cødé"', c."ünï ""cødé"""), count(*)
	  FROM "Odd ""Schema"""."Child-Tåble" c
	 WHERE NOT EXISTS (SELECT 1 FROM "Odd ""Schema"""."Parent Table" p
						WHERE p."select" = c."ünï ""cødé""") GROUP BY 1$$);

-- 11. a key type with no hash support (varbit): every key is probed
CREATE TABLE p11 (k varbit PRIMARY KEY);
INSERT INTO p11 SELECT g::bit(6)::varbit FROM generate_series(0, 40) g;
CREATE TABLE c11 (k varbit);
INSERT INTO c11 SELECT (g % 64)::bit(6)::varbit FROM generate_series(1, 700) g;
SELECT ri_policy.declare_reference('c11', '{k}', 'p11', name => 'not_hashable');
SELECT check_ref('not_hashable', $$
	SELECT jsonb_build_object('k', k), count(*) FROM c11
	 WHERE NOT EXISTS (SELECT 1 FROM p11 WHERE p11.k = c11.k) GROUP BY 1$$);

-- 12. a parent whose keys exceed maintenance_work_mem: every key is probed
CREATE TABLE p12 (id int PRIMARY KEY);
INSERT INTO p12 SELECT generate_series(1, 60000, 2);
CREATE TABLE c12 (pid int);
INSERT INTO c12 SELECT g * 7 % 61000 FROM generate_series(1, 4000) g;
SELECT ri_policy.declare_reference('c12', '{pid}', 'p12', name => 'big_parent');
SET LOCAL maintenance_work_mem = '1MB';
SELECT check_ref('big_parent', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c12
	 WHERE NOT EXISTS (SELECT 1 FROM p12 WHERE p12.id = c12.pid) GROUP BY 1$$);
RESET maintenance_work_mem;

-- 13. a NOT VALID foreign key, by its name
CREATE TABLE c13 (pid int);
INSERT INTO c13 SELECT g % 55 FROM generate_series(1, 900) g;
ALTER TABLE c13 ADD CONSTRAINT c13_fk FOREIGN KEY (pid) REFERENCES p1 NOT VALID;
SELECT check_ref('c13_fk', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c13
	 WHERE NOT EXISTS (SELECT 1 FROM p1 WHERE p1.id = c13.pid) GROUP BY 1$$);

-- 14. sparse and negative integer keys (a hash table, not a bitmap), int2
CREATE TABLE p14 (id bigint PRIMARY KEY);
INSERT INTO p14 SELECT g * 1000003 FROM generate_series(-40, 40) g;
CREATE TABLE c14 (pid smallint, big bigint);
INSERT INTO c14 SELECT (g % 50) - 25, (g % 90 - 45) * 1000003 FROM generate_series(1, 900) g;
SELECT ri_policy.declare_reference('c14', '{big}', 'p14', name => 'sparse');
SELECT ri_policy.declare_reference('c14', '{pid}', 'p14', name => 'int2_to_int8');
SELECT check_ref('sparse', $$
	SELECT jsonb_build_object('big', big), count(*) FROM c14
	 WHERE NOT EXISTS (SELECT 1 FROM p14 WHERE p14.id = c14.big) GROUP BY 1$$);
SELECT check_ref('int2_to_int8', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c14
	 WHERE NOT EXISTS (SELECT 1 FROM p14 WHERE p14.id = c14.pid) GROUP BY 1$$);

-- 15. the hash table's own hashing and comparing of integer keys (as
-- int64) and of uuids (their bytes): int8 keys at the ends of the type and
-- around zero, too sparse for a bitmap, from an int4 child; uuid keys, from
-- a child whose column is a domain over uuid
CREATE TABLE p15 (id bigint PRIMARY KEY);
INSERT INTO p15 VALUES (-9223372036854775808), (-9223372036854775807), (-4294967296), (-1),
	(0), (1), (2147483647), (4294967295), (4294967296), (9223372036854775806), (9223372036854775807);
CREATE TABLE c15 (i int, b bigint);
INSERT INTO c15 SELECT (ARRAY[-2147483648, -1, 0, 1, 2, 2147483647, 2147483646])[1 + g % 7],
	(ARRAY[-9223372036854775808, -9223372036854775806, -4294967296, -4294967295, 0, 4294967296,
		   4294967297, 9223372036854775807, 9223372036854775805])[1 + g % 9]
  FROM generate_series(1, 630) g;
SELECT ri_policy.declare_reference('c15', '{b}', 'p15', name => 'int8_ends');
SELECT check_ref('int8_ends', $$
	SELECT jsonb_build_object('b', b), count(*) FROM c15
	 WHERE NOT EXISTS (SELECT 1 FROM p15 WHERE p15.id = c15.b) GROUP BY 1$$);
SELECT ri_policy.declare_reference('c15', '{i}', 'p15', name => 'int4_int8_ends');
SELECT check_ref('int4_int8_ends', $$
	SELECT jsonb_build_object('i', i), count(*) FROM c15
	 WHERE NOT EXISTS (SELECT 1 FROM p15 WHERE p15.id = c15.i) GROUP BY 1$$);
CREATE DOMAIN uuid_d AS uuid;
CREATE TABLE p16 (id uuid PRIMARY KEY);
INSERT INTO p16 SELECT md5(g::text)::uuid FROM generate_series(1, 300) g;
CREATE TABLE c16 (k uuid_d);
INSERT INTO c16 SELECT md5((g % 330)::text)::uuid FROM generate_series(1, 1650) g;
INSERT INTO c16 VALUES ('00000000-0000-0000-0000-000000000000'), ('ffffffff-ffff-ffff-ffff-ffffffffffff'), (NULL);
SELECT ri_policy.declare_reference('c16', '{k}', 'p16', name => 'uuid_domain');
SELECT check_ref('uuid_domain', $$
	SELECT jsonb_build_object('k', k), count(*) FROM c16
	 WHERE k IS NOT NULL AND NOT EXISTS (SELECT 1 FROM p16 WHERE p16.id = c16.k) GROUP BY 1$$);

-- 17. an integer key's bitmap, built as the parent's keys come: keys read
-- in descending order (the bitmap widens downwards); dense keys at each
-- end of bigint; a dense run, then a key far off (the bitmap becomes a
-- hash table); two keys far apart, then enough keys between them for a
-- bitmap after all; and the partitions of a parent, read high keys first,
-- then low ones, then one far off
CREATE TABLE p17 (id int PRIMARY KEY);
INSERT INTO p17 SELECT g FROM generate_series(30000, -30000, -1) g WHERE g % 7 <> 0;
CREATE TABLE c17 (pid int);
INSERT INTO c17 SELECT g % 31000 FROM generate_series(-62000, 62000, 3) g;
SELECT ri_policy.declare_reference('c17', '{pid}', 'p17', name => 'bitmap_down');
SELECT check_ref('bitmap_down', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c17
	 WHERE NOT EXISTS (SELECT 1 FROM p17 WHERE p17.id = c17.pid) GROUP BY 1$$);
CREATE TABLE p18 (id bigint PRIMARY KEY);
INSERT INTO p18 SELECT 9223372036854775807 - g FROM generate_series(3000, 0, -1) g WHERE g % 5 <> 1;
CREATE TABLE p18_low (id bigint PRIMARY KEY);
INSERT INTO p18_low SELECT -9223372036854775808 + g FROM generate_series(3000, 0, -1) g WHERE g % 5 <> 2;
CREATE TABLE c18 (pid bigint);
INSERT INTO c18 SELECT 9223372036854775807 - g % 3100 FROM generate_series(1, 7000) g;
INSERT INTO c18 SELECT -9223372036854775808 + g % 3100 FROM generate_series(1, 7000) g;
INSERT INTO c18 VALUES (0), (-1), (1);
SELECT ri_policy.declare_reference('c18', '{pid}', 'p18', name => 'bitmap_top');
SELECT check_ref('bitmap_top', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c18
	 WHERE NOT EXISTS (SELECT 1 FROM p18 WHERE p18.id = c18.pid) GROUP BY 1$$);
SELECT ri_policy.declare_reference('c18', '{pid}', 'p18_low', name => 'bitmap_bottom');
SELECT check_ref('bitmap_bottom', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c18
	 WHERE NOT EXISTS (SELECT 1 FROM p18_low p WHERE p.id = c18.pid) GROUP BY 1$$);
CREATE TABLE p19 (id bigint PRIMARY KEY);
INSERT INTO p19 SELECT g FROM generate_series(1, 20000) g WHERE g % 3 <> 0;
INSERT INTO p19 VALUES (5000000000000), (-77);
CREATE TABLE c19 (pid bigint);
INSERT INTO c19 SELECT CASE WHEN g % 101 = 0 THEN 5000000000000 + g % 3 ELSE g % 20100 - 80 END
  FROM generate_series(1, 30000) g;
SELECT ri_policy.declare_reference('c19', '{pid}', 'p19', name => 'bitmap_to_hash');
SELECT check_ref('bitmap_to_hash', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c19
	 WHERE NOT EXISTS (SELECT 1 FROM p19 WHERE p19.id = c19.pid) GROUP BY 1$$);
CREATE TABLE p20 (id int PRIMARY KEY);
INSERT INTO p20 VALUES (0), (10000000);
INSERT INTO p20 SELECT g FROM generate_series(1, 160000) g WHERE g % 1000 <> 0;
CREATE TABLE c20 (pid int);
INSERT INTO c20 SELECT g * 37 % 160100 FROM generate_series(1, 20000) g;
INSERT INTO c20 VALUES (10000000), (9999999), (10000001);
SELECT ri_policy.declare_reference('c20', '{pid}', 'p20', name => 'ints_to_bitmap');
SELECT check_ref('ints_to_bitmap', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c20
	 WHERE NOT EXISTS (SELECT 1 FROM p20 WHERE p20.id = c20.pid) GROUP BY 1$$);
CREATE TABLE p21 (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE p21_high PARTITION OF p21 FOR VALUES FROM (1000) TO (2000);
CREATE TABLE p21_low PARTITION OF p21 FOR VALUES FROM (MINVALUE) TO (1000);
CREATE TABLE p21_far PARTITION OF p21 FOR VALUES FROM (2000) TO (MAXVALUE);
INSERT INTO p21 SELECT g FROM generate_series(1, 1999) g WHERE g % 4 <> 0;
INSERT INTO p21 VALUES (2000000000);
CREATE TABLE c21 (pid int);
INSERT INTO c21 SELECT g % 2020 FROM generate_series(1, 9000) g;
INSERT INTO c21 VALUES (2000000000), (1999999999);
SELECT ri_policy.declare_reference('c21', '{pid}', 'p21', name => 'bitmap_parts');
SELECT check_ref('bitmap_parts', $$
	SELECT jsonb_build_object('pid', pid), count(*) FROM c21
	 WHERE NOT EXISTS (SELECT 1 FROM p21 WHERE p21.id = c21.pid) GROUP BY 1$$);

SELECT * FROM finish();
ROLLBACK;
