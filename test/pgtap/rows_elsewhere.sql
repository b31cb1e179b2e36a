-- Tables whose rows are not in their own heap (here foreign tables, through
-- file_fdw): validation, orphans() and tracking refuse with 0A000 naming the
-- table, rather than read nothing and report no orphans; nothing changes.
-- test/citus/ covers Citus tables and columnar.
BEGIN;
SELECT plan(14);

CREATE EXTENSION file_fdw;
CREATE SERVER regress_rows_elsewhere FOREIGN DATA WRAPPER file_fdw;

CREATE TABLE p (id int PRIMARY KEY);
INSERT INTO p SELECT generate_series(1, 10);

-- a partitioned child, one partition of which is foreign: keys 7, 8, 99
CREATE TABLE c (pid int) PARTITION BY RANGE (pid);
CREATE TABLE c_low PARTITION OF c FOR VALUES FROM (MINVALUE) TO (5);
INSERT INTO c VALUES (1), (2), (-1);
SELECT ri_policy.declare_reference('c', '{pid}', 'p', name => 'r_part');
CALL ri_policy.validate('r_part');

-- an inherited child with a foreign child table
CREATE TABLE ci (pid int);
INSERT INTO ci VALUES (3), (-2);
CREATE FOREIGN TABLE ci_far () INHERITS (ci) SERVER regress_rows_elsewhere
	OPTIONS (program 'printf "4\n98\n"', format 'csv');
SELECT ri_policy.declare_reference('ci', '{pid}', 'p', name => 'r_inh');

-- and one that is fine
CREATE TABLE ok (pid int);
INSERT INTO ok VALUES (1), (-3);
SELECT ri_policy.declare_reference('ok', '{pid}', 'p', name => 'r_ok');

CREATE FOREIGN TABLE c_far PARTITION OF c FOR VALUES FROM (5) TO (MAXVALUE)
	SERVER regress_rows_elsewhere OPTIONS (program 'printf "7\n8\n99\n"', format 'csv');
SELECT is((SELECT count(*) FROM c WHERE pid NOT IN (SELECT id FROM p)), 2::bigint,
		  'the foreign partition holds an orphan the validator cannot see');

CREATE FUNCTION state() RETURNS text LANGUAGE sql AS $$
	SELECT (SELECT string_agg(reference || ':' || status || ':' || batches, ',' ORDER BY reference)
			  FROM ri_policy._progress) || '/' ||
		   (SELECT string_agg(reference || ':' || key::text, ',' ORDER BY reference, key::text)
			  FROM ri_policy._violation) || '/' ||
		   (SELECT count(*) FROM ri_policy._reference WHERE tracked_since IS NOT NULL)$$;
CREATE TEMP TABLE before AS SELECT state() AS s;

SELECT throws_ok($$CALL ri_policy.validate('r_part')$$, '0A000',
				 'cannot validate reference "r_part": table "c_far" is a foreign table',
				 'validate: a foreign partition of the child');
SELECT throws_ok($$CALL ri_policy.validate('r_part', restart => true)$$, '0A000', NULL,
				 'validate: so does a restart');
SELECT throws_ok($$CALL ri_policy.validate('r_inh')$$, '0A000',
				 'cannot validate reference "r_inh": table "ci_far" is a foreign table',
				 'validate: a foreign table inheriting from the child');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('r_part')$$, '0A000',
				 'cannot list the orphans of reference "r_part": table "c_far" is a foreign table',
				 'orphans: a foreign partition');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('r_inh', 10)$$, '0A000', NULL,
				 'orphans: a foreign inheritor');
SELECT throws_ok($$SELECT ri_policy.track('r_part')$$, '0A000',
				 'cannot track reference "r_part": table "c_far" is a foreign table',
				 'track: a foreign partition of the child');
SELECT is(state(), (SELECT s FROM before), 'nothing changed');

-- every reference: the others are validated, with a warning for these
SELECT ri_policy.declare_reference('ok', '{pid}', 'p', name => 'r_ok2');
CALL ri_policy.validate();
SELECT is((SELECT string_agg(reference || ':' || status, ',' ORDER BY reference COLLATE "C")
			 FROM ri_policy.validation_progress),
		  'r_ok:done,r_ok2:done,r_part:done', 'validate(): the others are validated');
SELECT is((SELECT string_agg(key::text, ',' ORDER BY key::text) FROM ri_policy.violations
			WHERE reference = 'r_part'),
		  '{"pid": -1}', 'validate(): the refused reference keeps its last results');

-- a parent whose inheritor is foreign: the probe is a query, which reads it
CREATE TABLE pi (id int PRIMARY KEY);
INSERT INTO pi VALUES (1), (2);
CREATE FOREIGN TABLE pi_far () INHERITS (pi) SERVER regress_rows_elsewhere
	OPTIONS (program 'printf "3\n"', format 'csv');
CREATE TABLE cp (pid int);
INSERT INTO cp VALUES (1), (3), (5);
SELECT ri_policy.declare_reference('cp', '{pid}', 'pi', name => 'r_pi');
SELECT results_eq($$SELECT key::text FROM ri_policy.orphans('r_pi') ORDER BY 1$$,
				  $$VALUES ('{"pid": 3}'), ('{"pid": 5}')$$,
				  'a parent with a foreign inheritor: its own rows are the parents');
SELECT throws_ok($$SELECT ri_policy.track('r_pi')$$, '0A000',
				 'cannot track reference "r_pi": table "pi_far" is a foreign table',
				 'track: a foreign inheritor of the parent');

-- a tracked reference whose child gains a foreign partition later: its next
-- pass (full: a partitioned child's always is) refuses too
CREATE TABLE ct (pid int) PARTITION BY RANGE (pid);
CREATE TABLE ct_low PARTITION OF ct FOR VALUES FROM (MINVALUE) TO (5);
INSERT INTO ct VALUES (1), (-4);
SELECT ri_policy.declare_reference('ct', '{pid}', 'p', name => 'r_tracked');
SELECT ri_policy.track('r_tracked');
CALL ri_policy.validate('r_tracked');
CREATE FOREIGN TABLE ct_far PARTITION OF ct FOR VALUES FROM (5) TO (MAXVALUE)
	SERVER regress_rows_elsewhere OPTIONS (program 'printf "77\n"', format 'csv');
SELECT throws_ok($$CALL ri_policy.validate('r_tracked')$$, '0A000',
				 'cannot validate reference "r_tracked": table "ct_far" is a foreign table',
				 'validate: a tracked reference, a foreign partition attached later');
SELECT is((SELECT string_agg(key::text, ',') FROM ri_policy.violations
			WHERE reference = 'r_tracked'), '{"pid": -4}', 'and keeps the last results');

SELECT * FROM finish();
ROLLBACK;
