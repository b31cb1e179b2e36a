-- Bad input to validate() and orphans(): a clear error with the right
-- SQLSTATE, and nothing changed.
BEGIN;
SELECT plan(12);

CREATE TABLE p (id int PRIMARY KEY);
CREATE TABLE c (pid int);
INSERT INTO p VALUES (1);
INSERT INTO c VALUES (1), (2);
SELECT ri_policy.declare_reference('c', '{pid}', 'p', name => 'r');
CALL ri_policy.validate('r');
CREATE TABLE c2 (pid int CONSTRAINT dup REFERENCES p);
CREATE TABLE c3 (pid int CONSTRAINT dup REFERENCES p);

CREATE FUNCTION state() RETURNS text LANGUAGE sql AS $$
	SELECT (SELECT string_agg(reference || ':' || status || ':' || batches, ',' ORDER BY reference)
			  FROM ri_policy._progress) || '/' ||
		   (SELECT count(*) FROM ri_policy._violation)$$;
CREATE TEMP TABLE before AS SELECT state() AS s;

SELECT throws_ok($$CALL ri_policy.validate('no_such')$$, '42704',
				 'reference "no_such" does not exist', 'validate: unknown reference');
SELECT throws_ok($$CALL ri_policy.validate('r', batch_size => 0)$$, '22023',
				 'batch_size must be greater than zero', 'validate: batch_size 0');
SELECT throws_ok($$CALL ri_policy.validate('r', batch_size => -5)$$, '22023', NULL,
				 'validate: negative batch_size');
SELECT throws_ok($$CALL ri_policy.validate('r', restart => NULL)$$, '22004',
				 'restart must not be null', 'validate: restart NULL');
SELECT throws_ok($$CALL ri_policy.validate('r', "full" => NULL)$$, '22004',
				 'full must not be null', 'validate: full NULL');
SELECT throws_ok($$CALL ri_policy.validate('dup')$$, '42P08',
				 'reference name "dup" is ambiguous', 'validate: ambiguous foreign key name');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans(NULL)$$, '22004',
				 'reference must not be null', 'orphans: NULL reference');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('no_such')$$, '42704', NULL,
				 'orphans: unknown reference');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('r', -1)$$, '22023',
				 'max_keys must not be negative', 'orphans: negative max_keys');
SELECT throws_ok($$SET ri_policy.batch_size = 0$$, '22023', NULL,
				 'ri_policy.batch_size must be positive');
SELECT is(state(), (SELECT s FROM before), 'nothing changed');

-- max_keys limits the keys, not their counts
INSERT INTO c VALUES (2), (3), (3), (3);
SELECT results_eq($$SELECT key, child_rows FROM ri_policy.orphans('r', 1)$$,
				  $$VALUES ('{"pid": 2}'::jsonb, 2::bigint)$$,
				  'orphans: max_keys keeps exact counts');

SELECT * FROM finish();
ROLLBACK;
