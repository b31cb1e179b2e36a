--
-- promote() and demote(): the messages.  (test/pgtap/lifecycle.sql asserts
-- the details.)
--
CREATE TABLE lc_parent (id int PRIMARY KEY);
INSERT INTO lc_parent SELECT generate_series(1, 10);
CREATE TABLE lc_child (pid int);
INSERT INTO lc_child VALUES (1), (2), (42);
SELECT ri_policy.declare_reference('lc_child', '{pid}', 'lc_parent');

-- not inside a transaction block: it commits on its own
BEGIN;
SELECT ri_policy.promote('lc_child_pid_ref');
ROLLBACK;

-- under block, the guard's error
SET ri_policy.mode = 'block';
SELECT ri_policy.promote('lc_child_pid_ref');
RESET ri_policy.mode;

-- with an orphan, a NOT VALID key and a WARNING
SELECT ri_policy.promote('lc_child_pid_ref');
SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'lc_child'::regclass;

-- and back
SELECT ri_policy.demote('lc_child', 'lc_child_pid_ref');
SELECT name, kind FROM ri_policy.references WHERE child = 'lc_child'::regclass;
SELECT ri_policy.demote('lc_child', 'lc_child_pid_ref');
SELECT ri_policy.demote('lc_parent', 'lc_parent_pkey');

SELECT ri_policy.drop_reference('lc_child_pid_ref');
DROP TABLE lc_child, lc_parent;
