--
-- ri_policy.mode = warn: the statement succeeds, with one WARNING per
-- enforced foreign key it created, naming the constraint (its real name,
-- generated or not), its table and the referenced table.
--
CREATE SCHEMA regress_gw;
SET search_path = regress_gw;
CREATE TABLE parent (id int PRIMARY KEY, code text UNIQUE);
CREATE TABLE ppart (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE ppart_1 PARTITION OF ppart FOR VALUES FROM (0) TO (100);
CREATE TABLE child (id int PRIMARY KEY, parent_id int);

SET ri_policy.mode = 'warn';

-- full message once
CREATE TABLE c1 (a int REFERENCES parent);

\set VERBOSITY terse
-- two keys, one generated name and one given
CREATE TABLE c2 (a int REFERENCES parent,
				 b text, CONSTRAINT c2_b_fk FOREIGN KEY (b) REFERENCES parent (code));
-- ALTER TABLE ADD FOREIGN KEY, NOT VALID, ADD COLUMN REFERENCES
ALTER TABLE child ADD FOREIGN KEY (parent_id) REFERENCES parent;
ALTER TABLE child ADD CONSTRAINT child_nv FOREIGN KEY (parent_id)
	REFERENCES parent NOT VALID;
ALTER TABLE child ADD COLUMN code text REFERENCES parent (code);
-- a partitioned table referencing a partitioned table: one key, one WARNING
CREATE TABLE c3 (a int REFERENCES ppart) PARTITION BY RANGE (a);
-- nested: CREATE SCHEMA, DO, a function
CREATE SCHEMA regress_gw2 CREATE TABLE t (a int REFERENCES regress_gw.parent);
DO $$ BEGIN EXECUTE 'CREATE TABLE regress_gw.c4 (a int REFERENCES regress_gw.parent)'; END $$;

-- no WARNING for keys PostgreSQL derives from existing ones
CREATE TABLE c3_1 PARTITION OF c3 FOR VALUES FROM (0) TO (10);
CREATE TABLE c3_2 (a int);
ALTER TABLE c3 ATTACH PARTITION c3_2 FOR VALUES FROM (10) TO (20);
ALTER TABLE child ALTER COLUMN parent_id TYPE bigint;
ALTER TABLE child VALIDATE CONSTRAINT child_nv;
-- nor for other constraints
CREATE TABLE plain (id int PRIMARY KEY, n int CHECK (n > 0) UNIQUE);
ALTER TABLE plain ADD CONSTRAINT plain_id_n UNIQUE (id, n);
-- nor when the statement fails after creating the key
CREATE TABLE bad (a int REFERENCES parent, b int REFERENCES no_such_table);
INSERT INTO child VALUES (1, 42);
ALTER TABLE child ADD CONSTRAINT child_bad FOREIGN KEY (parent_id) REFERENCES parent;

SELECT conrelid::regclass, conname FROM pg_constraint
 WHERE contype = 'f' AND conparentid = 0
   AND connamespace IN ('regress_gw'::regnamespace, 'regress_gw2'::regnamespace)
 ORDER BY conrelid::regclass::text, conname;

RESET ri_policy.mode;
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA regress_gw, regress_gw2 CASCADE;
