--
-- ri_policy.mode = block: every statement that creates an enforced foreign
-- key fails with SQLSTATE 42501 before doing any work; nothing is created.
--
\set VERBOSITY default
CREATE SCHEMA regress_gb;
SET search_path = regress_gb;
CREATE TABLE parent (id int PRIMARY KEY, code text UNIQUE);
CREATE TABLE child (id int PRIMARY KEY, parent_id int);
CREATE TABLE ppart (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE ppart_1 PARTITION OF ppart FOR VALUES FROM (0) TO (100);
CREATE TABLE fkparted (id int, parent_id int REFERENCES parent)
	PARTITION BY RANGE (id);

SET ri_policy.mode = 'block';

-- CREATE TABLE, column REFERENCES
CREATE TABLE c1 (a int REFERENCES parent);
-- CREATE TABLE, table FOREIGN KEY, named
CREATE TABLE c1 (a int, CONSTRAINT c1_fk FOREIGN KEY (a) REFERENCES parent (id));
\set VERBOSITY terse
-- any persistence
CREATE TEMP TABLE c1 (a int REFERENCES parent);
CREATE UNLOGGED TABLE c1 (a int REFERENCES parent);
-- partitioned, and a partition with its own FK clause
CREATE TABLE c1 (a int REFERENCES parent) PARTITION BY RANGE (a);
CREATE TABLE c1 PARTITION OF ppart (FOREIGN KEY (id) REFERENCES parent)
	FOR VALUES FROM (100) TO (200);
-- referencing a partitioned table
CREATE TABLE c1 (a int REFERENCES ppart);
-- a self reference
CREATE TABLE c1 (a int PRIMARY KEY, up int REFERENCES c1);
-- the FK is not the first constraint of its column
CREATE TABLE c1 (a int NOT NULL UNIQUE REFERENCES parent DEFERRABLE);
SELECT to_regclass('c1') AS c1, to_regclass('ppart_2') AS part;

-- ALTER TABLE ... ADD [CONSTRAINT] FOREIGN KEY, valid or NOT VALID
ALTER TABLE child ADD FOREIGN KEY (parent_id) REFERENCES parent;
ALTER TABLE child ADD CONSTRAINT child_fk FOREIGN KEY (parent_id) REFERENCES parent;
ALTER TABLE child ADD FOREIGN KEY (parent_id) REFERENCES parent NOT VALID;
ALTER TABLE ONLY child ADD FOREIGN KEY (parent_id) REFERENCES parent;
-- among other subcommands: none of them happens
ALTER TABLE child ADD COLUMN note text,
	ADD FOREIGN KEY (parent_id) REFERENCES parent;
-- ALTER TABLE ... ADD [COLUMN] ... REFERENCES
ALTER TABLE child ADD COLUMN code text REFERENCES parent (code);
ALTER TABLE child ADD code text DEFAULT 'x' REFERENCES parent (code);
SELECT attname FROM pg_attribute
 WHERE attrelid = 'child'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) AS fks FROM pg_constraint
 WHERE contype = 'f' AND connamespace = 'regress_gb'::regnamespace;

-- CREATE SCHEMA ... CREATE TABLE
CREATE SCHEMA regress_gb2 CREATE TABLE t (a int REFERENCES regress_gb.parent);
SELECT count(*) FROM pg_namespace WHERE nspname = 'regress_gb2';

-- a multi-statement query string is one transaction: nothing of it survives
CREATE TABLE ok1 (a int)\; CREATE TABLE c1 (a int REFERENCES parent);
SELECT to_regclass('ok1') AS ok1, to_regclass('c1') AS c1;

-- functions, procedures, DO blocks, EXECUTE
CREATE FUNCTION make_fk() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'ALTER TABLE regress_gb.child ADD FOREIGN KEY (parent_id) REFERENCES regress_gb.parent';
END $$;
SELECT make_fk();
CREATE PROCEDURE make_fk_proc() LANGUAGE sql AS 'SELECT 1';
CREATE OR REPLACE PROCEDURE make_fk_proc() LANGUAGE plpgsql AS $$
BEGIN
	CREATE TABLE regress_gb.c1 (a int REFERENCES regress_gb.parent);
END $$;
CALL make_fk_proc();
DO $$ BEGIN EXECUTE 'CREATE TABLE regress_gb.c1 (a int REFERENCES regress_gb.parent)'; END $$;
CREATE FUNCTION make_fk_sql() RETURNS void LANGUAGE sql AS
	'ALTER TABLE regress_gb.child ADD FOREIGN KEY (parent_id) REFERENCES regress_gb.parent';
SELECT make_fk_sql();
SELECT to_regclass('c1') AS c1,
	   (SELECT count(*) FROM pg_constraint
		 WHERE contype = 'f' AND conrelid = 'child'::regclass) AS child_fks;

-- IF [NOT] EXISTS that makes the statement a no-op is not blocked
CREATE TABLE IF NOT EXISTS child (a int REFERENCES parent);
ALTER TABLE IF EXISTS no_such ADD FOREIGN KEY (a) REFERENCES parent;
-- ... but one that creates the table is
CREATE TABLE IF NOT EXISTS c1 (a int REFERENCES parent);

-- DDL that creates no foreign key is untouched
CREATE TABLE plain (id int PRIMARY KEY, code text UNIQUE, n int CHECK (n > 0));
ALTER TABLE plain ADD CONSTRAINT plain_n_key UNIQUE (n);
ALTER TABLE plain ADD COLUMN extra int DEFAULT 0 NOT NULL;
CREATE INDEX ON plain (extra);
CREATE TABLE plain_parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE plain_parted_1 PARTITION OF plain_parted FOR VALUES FROM (0) TO (10);
CREATE TABLE plain_like (LIKE parent INCLUDING ALL);
CREATE SCHEMA regress_gb3 CREATE TABLE t (a int PRIMARY KEY);
DROP SCHEMA regress_gb3 CASCADE;

-- foreign keys PostgreSQL derives from existing ones pass in every mode:
-- partition clones (PARTITION OF, ATTACH PARTITION), ALTER COLUMN TYPE
-- rebuilds, and VALIDATE CONSTRAINT
RESET ri_policy.mode;
ALTER TABLE child ADD CONSTRAINT child_nv FOREIGN KEY (parent_id)
	REFERENCES parent NOT VALID;
SET ri_policy.mode = 'block';
CREATE TABLE fkparted_1 PARTITION OF fkparted FOR VALUES FROM (0) TO (10);
CREATE TABLE fkparted_2 (id int, parent_id int);
ALTER TABLE fkparted ATTACH PARTITION fkparted_2 FOR VALUES FROM (10) TO (20);
ALTER TABLE fkparted DETACH PARTITION fkparted_2;
ALTER TABLE child ALTER COLUMN parent_id TYPE bigint;
ALTER TABLE child VALIDATE CONSTRAINT child_nv;
SELECT conrelid::regclass, conname, convalidated FROM pg_constraint
 WHERE contype = 'f' AND connamespace = 'regress_gb'::regnamespace
 ORDER BY conrelid::regclass::text, conname;

-- allow: the same statements just work, silently
SET ri_policy.mode = 'allow';
CREATE TABLE c1 (a int REFERENCES parent);
ALTER TABLE child ADD FOREIGN KEY (parent_id) REFERENCES parent;
CREATE SCHEMA regress_gb2 CREATE TABLE t (a int REFERENCES regress_gb.parent);
SELECT count(*) AS fks FROM pg_constraint
 WHERE contype = 'f' AND conrelid IN ('c1'::regclass, 'child'::regclass,
									 'regress_gb2.t'::regclass);

RESET ri_policy.mode;
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA regress_gb, regress_gb2 CASCADE;
