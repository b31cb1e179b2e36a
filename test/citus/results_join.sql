-- The results' views joined with Citus tables in one statement, by an
-- ordinary role that may read the views but has no privilege on the tables
-- behind them (ri_policy._violation, _progress, _reference).  Citus plans
-- the views' local part apart from the distributed one; that part must run
-- with the view owner's rights, as it does without Citus.  Runs outside a
-- transaction block; cleans up.
SET client_min_messages = error;
SELECT plan(10);

CREATE ROLE regress_citus_reader LOGIN;
CREATE TABLE rj_parent (id int PRIMARY KEY);
SELECT create_distributed_table('rj_parent', 'id', shard_count => 3);
INSERT INTO rj_parent SELECT generate_series(1, 100);
CREATE TABLE rj_child (id int, pid int);
SELECT create_distributed_table('rj_child', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO rj_child SELECT g, g % 130 FROM generate_series(1, 1000) g;
CREATE TABLE rj_ref (id int PRIMARY KEY, label text);
SELECT create_reference_table('rj_ref');
INSERT INTO rj_ref SELECT g, 'k' || g FROM generate_series(100, 130) g;
SELECT ri_policy.declare_reference('rj_child', '{pid}', 'rj_parent', name => 'rj');
CALL ri_policy.validate('rj');
GRANT SELECT ON rj_child, rj_parent, rj_ref TO regress_citus_reader;

-- what the role should see: the orphans' child rows, as computed by Citus
CREATE TABLE rj_truth AS
SELECT c.pid, count(*) AS n FROM rj_child c
 WHERE c.pid NOT IN (SELECT id FROM rj_parent) GROUP BY 1;
GRANT SELECT ON rj_truth TO regress_citus_reader;

SELECT ok(NOT has_table_privilege('regress_citus_reader', 'ri_policy._violation', 'SELECT')
		  AND NOT has_table_privilege('regress_citus_reader', 'ri_policy._progress', 'SELECT')
		  AND NOT has_table_privilege('regress_citus_reader', 'ri_policy._reference', 'SELECT'),
		  'the role may not read the tables behind the views');

SET ROLE regress_citus_reader;
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'rj'),
		  (SELECT count(*) FROM rj_truth), 'the role reads the view alone');
SELECT set_eq($$SELECT (v.key->>'pid')::int, count(*) FROM ri_policy.violations v
				  JOIN rj_child c ON c.pid = (v.key->>'pid')::int
				 WHERE v.reference = 'rj' GROUP BY 1$$,
			  'SELECT pid, n FROM rj_truth',
			  'violations joined with a distributed table in one statement');
SELECT set_eq($$WITH v AS (SELECT key FROM ri_policy.violations WHERE reference = 'rj')
				SELECT (v.key->>'pid')::int, count(*) FROM v
				  JOIN rj_child c ON c.pid = (v.key->>'pid')::int GROUP BY 1$$,
			  'SELECT pid, n FROM rj_truth',
			  'the same through a CTE');
SELECT set_eq($$WITH v AS MATERIALIZED (SELECT key FROM ri_policy.violations WHERE reference = 'rj')
				SELECT (v.key->>'pid')::int, count(*) FROM v
				  JOIN rj_child c ON c.pid = (v.key->>'pid')::int GROUP BY 1$$,
			  'SELECT pid, n FROM rj_truth',
			  'the same through a materialized CTE');
SELECT set_eq($$SELECT c.pid, count(*) FROM rj_child c
				 WHERE c.pid IN (SELECT (key->>'pid')::int FROM ri_policy.violations
								  WHERE reference = 'rj') GROUP BY 1$$,
			  'SELECT pid, n FROM rj_truth',
			  'the same through a subquery');
SELECT set_eq($$SELECT (v.key->>'pid')::int, r.label, count(*) FROM ri_policy.violations v
				  JOIN rj_child c ON c.pid = (v.key->>'pid')::int
				  JOIN rj_ref r ON r.id = c.pid
				 WHERE v.reference = 'rj' GROUP BY 1, 2$$,
			  $$SELECT pid, 'k' || pid, n FROM rj_truth WHERE pid BETWEEN 100 AND 130$$,
			  'and with a reference table besides');
SELECT is((SELECT p.status FROM ri_policy.validation_progress p
			 JOIN (SELECT count(*) AS n FROM rj_child) c ON c.n > 0
			WHERE p.reference = 'rj'),
		  'done', 'validation_progress joined with a distributed table');
SELECT is((SELECT count(*) FROM ri_policy.validation_progress p
			 JOIN rj_child c ON c.id = p.rows_checked
			WHERE p.reference = 'rj'),
		  1::bigint, 'validation_progress joined with a distributed table on its rows');
RESET ROLE;

-- nothing of another's reference shows through the join
CREATE TABLE rj_hidden (id int, pid int);
SELECT create_distributed_table('rj_hidden', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO rj_hidden SELECT g, 500 + g FROM generate_series(1, 10) g;
SELECT ri_policy.declare_reference('rj_hidden', '{pid}', 'rj_parent', name => 'rj_hidden');
CALL ri_policy.validate('rj_hidden');
SET ROLE regress_citus_reader;
SELECT is((SELECT count(*) FROM ri_policy.violations v
			 JOIN rj_child c ON c.id = (v.key->>'pid')::int - 500),
		  0::bigint, 'the results of a child the role may not read stay hidden in a join');
RESET ROLE;

SELECT ri_policy.drop_reference('rj');
SELECT ri_policy.drop_reference('rj_hidden');
DROP TABLE rj_child, rj_parent, rj_ref, rj_truth, rj_hidden;
DROP ROLE regress_citus_reader;
SELECT * FROM finish();
