-- The record of what warn mode let through (ri_policy.warned): one row per
-- foreign key created under warn, with who, when, where the mode came from
-- and the statement, written in the transaction of the DDL (a statement or
-- savepoint rolled back leaves none); nothing under allow or block, nor
-- for DDL that creates no key or only derived ones.  Superusers see every
-- row, table owners (and their members) their tables' rows, others none;
-- only superusers prune it.  (promote() under warn: warned_promote.sql.)
BEGIN;
SELECT plan(32);

CREATE ROLE regress_w_owner;
CREATE ROLE regress_w_member IN ROLE regress_w_owner;
CREATE ROLE regress_w_other;
CREATE SCHEMA w;
GRANT USAGE, CREATE ON SCHEMA w TO regress_w_owner;
CREATE TABLE w.p (id int PRIMARY KEY);
GRANT REFERENCES ON w.p TO regress_w_owner;
CREATE TABLE w.s (pid int, qid int);
CREATE TABLE w.c (pid int, qid int);
ALTER TABLE w.c OWNER TO regress_w_owner;

-- this file's rows (other files may have left some of their own)
CREATE FUNCTION pg_temp.rows() RETURNS TABLE (constraint_name name, table_name text)
LANGUAGE sql AS $$
	SELECT w.constraint_name, w.table_name FROM ri_policy.warned w
	 WHERE w.table_name LIKE 'w.%' ORDER BY 2, 1$$;
CREATE TEMP TABLE total AS SELECT count(*) AS n FROM ri_policy._warned;
-- a function a caller might put in WHERE, that writes down what it sees
CREATE TEMP TABLE leaked (t text);
GRANT INSERT ON leaked TO PUBLIC;
CREATE FUNCTION pg_temp.leak(t text) RETURNS boolean LANGUAGE plpgsql COST 0.000001 AS
	$$BEGIN INSERT INTO pg_temp.leaked VALUES (t); RETURN true; END$$;

SELECT is(ARRAY(SELECT attname::text FROM pg_attribute
				 WHERE attrelid = 'ri_policy.warned'::regclass AND attnum > 0 ORDER BY attnum),
		  ARRAY['at', 'database', 'session_role', 'effective_role', 'constraint_name',
				'table_name', 'referenced_table', 'table_owner', 'detail', 'statement'],
		  'ri_policy.warned has its documented columns');

-- allow: nothing
SET ri_policy.mode = 'allow';
ALTER TABLE w.s ADD CONSTRAINT s_allow FOREIGN KEY (pid) REFERENCES w.p;
SELECT is_empty($$SELECT * FROM pg_temp.rows()$$, 'allow records nothing');

-- warn: one row, every column
SET ri_policy.mode = 'warn';
ALTER TABLE w.s ADD CONSTRAINT s_warn FOREIGN KEY (pid) REFERENCES w.p;
SELECT results_eq(
	$$SELECT database, session_role, effective_role, constraint_name, table_name,
			 referenced_table, table_owner, detail, statement
		FROM ri_policy.warned WHERE table_name LIKE 'w.%'$$,
	$$VALUES (current_database()::name, session_user::name, current_user::name, 's_warn'::name,
			  'w.s', 'w.p', current_user::name,
			  'Parameter "ri_policy.mode" is set to "warn" in the current session.',
			  'ALTER TABLE w.s ADD CONSTRAINT s_warn FOREIGN KEY (pid) REFERENCES w.p;')$$,
	'warn records the key: database, roles, names, owner, the DETAIL and the statement');
SELECT ok((SELECT at BETWEEN now() AND clock_timestamp() FROM ri_policy.warned
			WHERE constraint_name = 's_warn'),
		  'and when: the start of the statement, in this transaction');

-- as another role: session and effective roles differ; one row per key
SET ROLE regress_w_owner;
ALTER TABLE w.c ADD FOREIGN KEY (pid) REFERENCES w.p, ADD FOREIGN KEY (qid) REFERENCES w.p;
CREATE TABLE w."Odd Name" (pid int REFERENCES w.p);
RESET ROLE;
SELECT results_eq(
	$$SELECT constraint_name, table_name, session_role, effective_role, table_owner, statement
		FROM ri_policy.warned WHERE table_owner = 'regress_w_owner' ORDER BY 2, 1$$,
	$$VALUES ('Odd Name_pid_fkey'::name, 'w."Odd Name"', session_user::name,
			  'regress_w_owner'::name, 'regress_w_owner'::name,
			  'CREATE TABLE w."Odd Name" (pid int REFERENCES w.p);'),
			 ('c_pid_fkey', 'w.c', session_user, 'regress_w_owner', 'regress_w_owner',
			  'ALTER TABLE w.c ADD FOREIGN KEY (pid) REFERENCES w.p, ADD FOREIGN KEY (qid) REFERENCES w.p;'),
			 ('c_qid_fkey', 'w.c', session_user, 'regress_w_owner', 'regress_w_owner',
			  'ALTER TABLE w.c ADD FOREIGN KEY (pid) REFERENCES w.p, ADD FOREIGN KEY (qid) REFERENCES w.p;')$$,
	'a role''s keys: session and effective role, each key of a statement, quoted names');

-- derived keys and DDL without keys: nothing
CREATE TABLE w.pt (pid int REFERENCES w.p) PARTITION BY LIST (pid);
CREATE TABLE w.pt1 PARTITION OF w.pt FOR VALUES IN (1);
CREATE TABLE w.pt2 (pid int);
ALTER TABLE w.pt ATTACH PARTITION w.pt2 FOR VALUES IN (2);
ALTER TABLE w.s ALTER COLUMN pid TYPE bigint;
ALTER TABLE w.s VALIDATE CONSTRAINT s_warn;
CREATE TABLE w.nokey (id int PRIMARY KEY, note text);
ALTER TABLE w.nokey ADD COLUMN extra int, ADD CONSTRAINT nokey_check CHECK (id > 0);
SELECT results_eq($$SELECT * FROM pg_temp.rows()
					 WHERE table_name LIKE 'w.pt%' OR table_name IN ('w.s', 'w.nokey')$$,
				  $$VALUES ('pt_pid_fkey'::name, 'w.pt'), ('s_warn', 'w.s')$$,
				  'partition clones, rebuilt and validated keys, DDL without keys: nothing more');

-- rolled back: nothing
SAVEPOINT sp;
ALTER TABLE w.s ADD CONSTRAINT s_savepoint FOREIGN KEY (qid) REFERENCES w.p;
ROLLBACK TO SAVEPOINT sp;
SELECT throws_ok($q$DO $do$ BEGIN
					EXECUTE 'ALTER TABLE w.s ADD CONSTRAINT s_failed FOREIGN KEY (qid) REFERENCES w.p';
					RAISE EXCEPTION 'the statement fails after the key was made';
				 END $do$$q$, 'P0001', NULL, 'a statement that fails after creating a key');
SELECT is_empty($$SELECT * FROM pg_temp.rows() WHERE constraint_name IN ('s_savepoint', 's_failed')$$,
				'leaves no record, nor does a rolled-back savepoint');

-- block: the statement fails and nothing is recorded
CREATE TEMP TABLE before_block AS SELECT count(*) AS n FROM ri_policy._warned;
SET ri_policy.mode = 'block';
SELECT throws_ok($$ALTER TABLE w.s ADD CONSTRAINT s_block FOREIGN KEY (qid) REFERENCES w.p$$,
				 '42501', NULL, 'block refuses the key');
SELECT throws_ok($$CREATE TABLE w.blocked (pid int REFERENCES w.p)$$, '42501', NULL,
				 'in CREATE TABLE too');
SELECT is((SELECT count(*) FROM ri_policy._warned), (SELECT n FROM before_block),
		  'block records nothing');
SET ri_policy.mode = 'warn';

-- a long statement: its first 8 kB, cut between characters
-- (49 bytes, then two-byte characters in UTF-8: the cut falls at 8191)
SELECT format('CREATE TABLE w.long (pid int REFERENCES w.p)  /* %s */', repeat('é', 5000)) \gexec
SELECT is((SELECT octet_length(statement) FROM ri_policy.warned WHERE table_name = 'w.long'),
		  CASE WHEN getdatabaseencoding() = 'UTF8' THEN 8191 ELSE 8192 END,
		  'a long statement is kept up to 8192 bytes, whole characters');
SELECT is((SELECT left(statement, 49) FROM ri_policy.warned WHERE table_name = 'w.long'),
		  'CREATE TABLE w.long (pid int REFERENCES w.p)  /* ', 'from its start');

-- visibility
SELECT is((SELECT count(*) FROM ri_policy.warned WHERE table_name LIKE 'w.%'), 6::bigint,
		  'a superuser sees every row');
SET ROLE regress_w_owner;
SELECT set_eq($$SELECT constraint_name::text FROM ri_policy.warned$$,
			  ARRAY['c_pid_fkey', 'c_qid_fkey', 'Odd Name_pid_fkey'],
			  'the owner sees the rows of its tables only');
SELECT throws_ok($$SELECT * FROM ri_policy._warned$$, '42501', NULL,
				 'and cannot read the table behind the view');
SELECT throws_ok($$DELETE FROM ri_policy.warned$$, '42501', NULL, 'nor delete');
SELECT throws_ok($$UPDATE ri_policy.warned SET statement = 'x'$$, '42501', NULL, 'nor update');
SELECT throws_ok($$INSERT INTO ri_policy.warned (at) VALUES (now())$$, '42501', NULL, 'nor insert');
SET ROLE regress_w_member;
SELECT is((SELECT count(*) FROM ri_policy.warned), 3::bigint,
		  'a member of the owner role sees them too');
SET ROLE regress_w_other;
SELECT is_empty($$SELECT * FROM ri_policy.warned$$, 'another role sees none');
SELECT is_empty($$SELECT * FROM ri_policy.warned WHERE pg_temp.leak(statement)$$,
				'nor with a function of its own in WHERE');
RESET ROLE;
SELECT is_empty($$SELECT * FROM leaked$$, 'which sees no row (a security barrier)');

-- rows outlive their tables, and their owners
DROP TABLE w.c;
SET ROLE regress_w_owner;
SELECT is((SELECT count(*) FROM ri_policy.warned WHERE table_name = 'w.c'), 2::bigint,
		  'the rows of a dropped table stay, for its owner');
RESET ROLE;
CREATE ROLE regress_w_gone;
CREATE TABLE w.gp (id int PRIMARY KEY);
CREATE TABLE w.gc (pid int);
ALTER TABLE w.gp OWNER TO regress_w_gone;
ALTER TABLE w.gc OWNER TO regress_w_gone;
ALTER TABLE w.gc ADD CONSTRAINT gc_fk FOREIGN KEY (pid) REFERENCES w.gp;
DROP TABLE w.gc, w.gp;
DROP ROLE regress_w_gone;
SELECT is((SELECT table_owner FROM ri_policy.warned WHERE constraint_name = 'gc_fk'),
		  'regress_w_gone'::name, 'a superuser sees the rows of a dropped owner');

-- pruning, as a superuser
INSERT INTO ri_policy._warned (at, database, session_role, effective_role, constraint_name,
							   table_name, referenced_table, table_owner, detail, statement)
VALUES (now() - interval '100 days', current_database(), 'x', 'x', 'old_fk', 'w.old', 'w.p',
		'x', 'Parameter "ri_policy.mode" is set to "warn" by default.', NULL);
CREATE TEMP TABLE before_prune AS SELECT count(*) AS n FROM ri_policy._warned;
DELETE FROM ri_policy.warned WHERE at < now() - interval '90 days';
SELECT is_empty($$SELECT * FROM ri_policy._warned WHERE at < now() - interval '90 days'$$,
				'DELETE FROM ri_policy.warned WHERE at < ... prunes old rows');
SELECT is((SELECT count(*) FROM ri_policy._warned), (SELECT n - 1 FROM before_prune),
		  'and only those');

-- a configuration table: pg_dump keeps its rows
SELECT ok(EXISTS (SELECT 1 FROM pg_extension
				   WHERE extname = 'ri_policy'
					 AND 'ri_policy._warned'::regclass = ANY (extconfig)),
		  'ri_policy._warned is dumped with the data');

-- the view and the table are commented
SELECT isnt(obj_description('ri_policy.warned'::regclass, 'pg_class'), NULL, 'the view is commented');
SELECT isnt(obj_description('ri_policy._warned'::regclass, 'pg_class'), NULL, 'the table is commented');
-- without Citus, the same key created again in one transaction is a new
-- decision, recorded again (no copies are merged); and so is a key of the
-- same name on other columns
CREATE TABLE w.rc (pid int, qid int);
ALTER TABLE w.rc ADD CONSTRAINT rc_fk FOREIGN KEY (pid) REFERENCES w.p;
ALTER TABLE w.rc DROP CONSTRAINT rc_fk;
ALTER TABLE w.rc ADD CONSTRAINT rc_fk FOREIGN KEY (pid) REFERENCES w.p;
ALTER TABLE w.rc DROP CONSTRAINT rc_fk;
ALTER TABLE w.rc ADD CONSTRAINT rc_fk FOREIGN KEY (qid) REFERENCES w.p;
SELECT is((SELECT count(*) FROM ri_policy.warned WHERE constraint_name = 'rc_fk'), 3::bigint,
		  'a key dropped and created again in one transaction is recorded each time');
SELECT is((SELECT count(*) FROM ri_policy._warned), (SELECT n FROM total) + 10,
		  'this file wrote ten rows in all');

SELECT * FROM finish();
ROLLBACK;
