-- promote() under warn records its key in ri_policy.warned, as the guard
-- records any other key: by the caller's roles and statement, in the
-- transaction (of promote()'s worker) that adds it, even when validating it
-- then fails.  Under allow and block it records nothing.  promote() commits,
-- so this file runs outside a transaction block and cleans up after itself.
SELECT plan(8);

CREATE ROLE regress_wp_owner;
CREATE SCHEMA wp;
GRANT USAGE ON SCHEMA wp TO regress_wp_owner;
CREATE TABLE wp.p (id int PRIMARY KEY);
INSERT INTO wp.p VALUES (1);
GRANT REFERENCES ON wp.p TO regress_wp_owner;
CREATE TABLE wp.c (pid int, qid int, rid int);
INSERT INTO wp.c VALUES (1, 1, 5);
ALTER TABLE wp.c OWNER TO regress_wp_owner;
SET ROLE regress_wp_owner;
SELECT ri_policy.declare_reference('wp.c', '{pid}', 'wp.p', name => 'c_pid_ref');
SELECT ri_policy.declare_reference('wp.c', '{qid}', 'wp.p', name => 'c_qid_ref');
SELECT ri_policy.declare_reference('wp.c', '{rid}', 'wp.p', name => 'c_rid_ref');
RESET ROLE;

-- allow, block: nothing
SET ri_policy.mode = 'allow';
SELECT ri_policy.promote('wp.c.c_pid_ref');
SET ri_policy.mode = 'block';
SELECT throws_ok($$SELECT ri_policy.promote('wp.c.c_qid_ref')$$, '42501', NULL,
				 'promote() under block fails');
SELECT is_empty($$SELECT * FROM ri_policy.warned WHERE table_name = 'wp.c'$$,
				'promote() under allow or block records nothing');

-- warn: the caller's roles and statement
SET ri_policy.mode = 'warn';
SET ROLE regress_wp_owner;
SELECT ri_policy.promote('wp.c.c_qid_ref');
RESET ROLE;
SELECT results_eq(
	$$SELECT database, session_role, effective_role, constraint_name, table_name,
			 referenced_table, table_owner, detail, statement
		FROM ri_policy.warned WHERE table_name = 'wp.c'$$,
	$$VALUES (current_database()::name, session_user::name, 'regress_wp_owner'::name,
			  'c_qid_ref'::name, 'wp.c', 'wp.p', 'regress_wp_owner'::name,
			  'Parameter "ri_policy.mode" is set to "warn" in the current session.',
			  'SELECT ri_policy.promote(''wp.c.c_qid_ref'');')$$,
	'promote() under warn records the key, by the caller');
SELECT is((SELECT kind FROM ri_policy.references WHERE name = 'c_qid_ref'), 'enforced',
		  'and the key is there');

-- a key that cannot be validated stays NOT VALID, and recorded
SET ROLE regress_wp_owner;
SELECT ri_policy.promote('wp.c.c_rid_ref');
RESET ROLE;
SELECT is((SELECT kind FROM ri_policy.references WHERE name = 'c_rid_ref'), 'not valid',
		  'a key left NOT VALID by an orphan');
SELECT set_eq($$SELECT constraint_name::text FROM ri_policy.warned WHERE table_name = 'wp.c'$$,
			  ARRAY['c_qid_ref', 'c_rid_ref'], 'is recorded too');

-- a promote() whose worker fails records nothing: a CHECK constraint took
-- the reference's name since the declaration, and ADD CONSTRAINT refuses it
ALTER TABLE wp.c ADD COLUMN sid int;
SET ROLE regress_wp_owner;
SELECT ri_policy.declare_reference('wp.c', '{sid}', 'wp.p', name => 'c_sid_ref');
ALTER TABLE wp.c ADD CONSTRAINT c_sid_ref CHECK (sid > 0);
SELECT throws_ok($$SELECT ri_policy.promote('wp.c.c_sid_ref')$$, '42710', NULL,
				 'a promote() that fails in its worker');
RESET ROLE;
SELECT is_empty($$SELECT * FROM ri_policy.warned WHERE constraint_name = 'c_sid_ref'$$,
				'leaves no record');

RESET ri_policy.mode;
RESET lock_timeout;
DELETE FROM ri_policy._warned WHERE table_name = 'wp.c';
SELECT ri_policy.drop_reference(name) FROM ri_policy.references
 WHERE child = 'wp.c'::regclass AND kind = 'declared';
SET client_min_messages = warning;
DROP SCHEMA wp CASCADE;
DROP ROLE regress_wp_owner;
SELECT * FROM finish();
