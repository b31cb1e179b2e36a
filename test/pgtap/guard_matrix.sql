-- Every path that creates an enforced foreign key, in every mode:
-- block fails with 42501 and creates nothing; warn and allow create exactly
-- one foreign key.
BEGIN;
SELECT plan(67);

CREATE SCHEMA tap;
CREATE TABLE tap.parent (id int PRIMARY KEY);
CREATE TEMP TABLE tparent (id int PRIMARY KEY);
CREATE TABLE tap.ppart (id int PRIMARY KEY) PARTITION BY LIST (id);
CREATE TABLE tap.child_allow (id int);
CREATE TABLE tap.child_warn (id int);
CREATE TABLE tap.child_block (id int);

-- %1$s: a suffix unique to the mode; %2$s: a number unique to the mode
CREATE TEMP TABLE paths (label text, sql text);
INSERT INTO paths VALUES
 ('CREATE TABLE, column REFERENCES',
  'CREATE TABLE tap.c1_%1$s (a int REFERENCES tap.parent)'),
 ('CREATE TABLE, table FOREIGN KEY',
  'CREATE TABLE tap.c2_%1$s (a int, CONSTRAINT fk_%1$s FOREIGN KEY (a) REFERENCES tap.parent (id))'),
 ('CREATE TEMP TABLE',
  'CREATE TEMP TABLE c3_%1$s (a int REFERENCES tparent)'),
 ('CREATE UNLOGGED TABLE',
  'CREATE UNLOGGED TABLE tap.c4_%1$s (a int REFERENCES tap.parent)'),
 ('CREATE TABLE ... PARTITION BY',
  'CREATE TABLE tap.c5_%1$s (a int REFERENCES tap.parent) PARTITION BY RANGE (a)'),
 ('CREATE TABLE ... PARTITION OF with its own FOREIGN KEY',
  'CREATE TABLE tap.c6_%1$s PARTITION OF tap.ppart (FOREIGN KEY (id) REFERENCES tap.parent) FOR VALUES IN (%2$s)'),
 ('ALTER TABLE ADD FOREIGN KEY',
  'ALTER TABLE tap.child_%1$s ADD FOREIGN KEY (id) REFERENCES tap.parent'),
 ('ALTER TABLE ADD CONSTRAINT ... NOT VALID',
  'ALTER TABLE tap.child_%1$s ADD CONSTRAINT nv_%1$s FOREIGN KEY (id) REFERENCES tap.parent NOT VALID'),
 ('ALTER TABLE ONLY ADD FOREIGN KEY',
  'ALTER TABLE ONLY tap.child_%1$s ADD FOREIGN KEY (id) REFERENCES tap.parent'),
 ('ALTER TABLE ADD COLUMN ... REFERENCES',
  'ALTER TABLE tap.child_%1$s ADD COLUMN x int REFERENCES tap.parent'),
 ('CREATE SCHEMA ... CREATE TABLE',
  'CREATE SCHEMA tap_%1$s CREATE TABLE t (a int REFERENCES tap.parent)'),
 ('DO block, EXECUTE',
  'DO $do$ BEGIN EXECUTE ''CREATE TABLE tap.c7_%1$s (a int REFERENCES tap.parent)''; END $do$'),
 ('SQL function',
  'SELECT tap.run(''CREATE TABLE tap.c8_%1$s (a int REFERENCES tap.parent)'')'),
 ('procedure',
  'CALL tap.run_proc(''ALTER TABLE tap.child_%1$s ADD CONSTRAINT p_%1$s FOREIGN KEY (id) REFERENCES tap.parent'')'),
 ('ALTER TABLE with several subcommands',
  'ALTER TABLE tap.child_%1$s ADD COLUMN y int, ADD CONSTRAINT m_%1$s FOREIGN KEY (y) REFERENCES tap.parent');

CREATE FUNCTION tap.run(text) RETURNS void LANGUAGE plpgsql AS
	'BEGIN EXECUTE $1; END';
CREATE PROCEDURE tap.run_proc(text) LANGUAGE plpgsql AS
	'BEGIN EXECUTE $1; END';

-- top-level foreign keys in the database
CREATE FUNCTION fk_count() RETURNS bigint LANGUAGE sql AS
	$$SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0$$;

-- run a statement, return how many foreign keys it created
CREATE FUNCTION fk_delta(stmt text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	before bigint := fk_count();
BEGIN
	EXECUTE stmt;
	RETURN fk_count() - before;
END $$;

SET client_min_messages = error;

SET ri_policy.mode = 'block';
SELECT throws_ok(format(sql, 'block', 3), '42501', NULL, 'block: ' || label)
  FROM paths ORDER BY label;
SELECT is(fk_count(), 0::bigint, 'block: no foreign key was created');
SELECT is((SELECT count(*) FROM pg_class WHERE relname ~ '_block$'), 1::bigint,
		  'block: no table was created');
SELECT is((SELECT count(*) FROM pg_attribute
			WHERE attrelid = 'tap.child_block'::regclass AND attnum > 0), 1::bigint,
		  'block: no column was added');

SET ri_policy.mode = 'warn';
SELECT is(fk_delta(format(sql, 'warn', 2)), 1::bigint, 'warn: ' || label)
  FROM paths ORDER BY label;

SET ri_policy.mode = 'allow';
SELECT is(fk_delta(format(sql, 'allow', 1)), 1::bigint, 'allow: ' || label)
  FROM paths ORDER BY label;

-- the same statements run again under block, each now on existing objects
SET ri_policy.mode = 'block';
SELECT throws_ok(format(sql, 'allow', 1), '42501', NULL, 'block, again: ' || label)
  FROM paths WHERE sql ~ '^ALTER' ORDER BY label;
SELECT is(fk_count(), 30::bigint, 'block: foreign keys unchanged');

-- exemptions pass under block: partition clones, ALTER COLUMN TYPE,
-- VALIDATE CONSTRAINT
SELECT lives_ok('CREATE TABLE tap.c5_allow_1 PARTITION OF tap.c5_allow FOR VALUES FROM (0) TO (10)',
				'block: PARTITION OF a table with a foreign key');
SELECT lives_ok('CREATE TABLE tap.c5_allow_2 (a int)', 'block: plain table');
SELECT lives_ok('ALTER TABLE tap.c5_allow ATTACH PARTITION tap.c5_allow_2 FOR VALUES FROM (10) TO (20)',
				'block: ATTACH PARTITION');
SELECT lives_ok('ALTER TABLE tap.child_allow ALTER COLUMN id TYPE bigint',
				'block: ALTER COLUMN TYPE rebuilds foreign keys');
SELECT lives_ok('ALTER TABLE tap.child_allow VALIDATE CONSTRAINT nv_allow',
				'block: VALIDATE CONSTRAINT');
SELECT is(fk_count(), 30::bigint, 'block: exemptions create no top-level key');
SELECT is((SELECT count(*) FROM pg_constraint
			WHERE contype = 'f' AND conrelid IN ('tap.c5_allow_1'::regclass,
												 'tap.c5_allow_2'::regclass)),
		  2::bigint, 'block: partitions got their clones');

-- DDL that creates no foreign key
SELECT lives_ok('CREATE TABLE tap.plain (id int PRIMARY KEY, u int UNIQUE, c int CHECK (c > 0))',
				'block: keys and checks');
SELECT lives_ok('ALTER TABLE tap.plain ADD CONSTRAINT plain_uc UNIQUE (u, c)',
				'block: ALTER TABLE ADD UNIQUE');
SELECT lives_ok('CREATE INDEX ON tap.plain (c)', 'block: CREATE INDEX');
SELECT lives_ok('CREATE TABLE tap.plain_p (id int) PARTITION BY RANGE (id)',
				'block: partitioned table');
SELECT lives_ok('CREATE TABLE tap.plain_p1 PARTITION OF tap.plain_p FOR VALUES FROM (0) TO (1)',
				'block: partition of an FK-free table');
SELECT lives_ok('CREATE TABLE tap.plain_like (LIKE tap.child_allow INCLUDING ALL)',
				'block: LIKE copies no foreign key');

SELECT * FROM finish();
ROLLBACK;
