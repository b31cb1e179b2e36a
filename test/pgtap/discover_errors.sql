-- discover() refuses bad arguments with their SQLSTATE, before any work.
-- Runs in one transaction, rolled back.
BEGIN;
SELECT plan(12);

SELECT throws_ok('SELECT * FROM ri_policy.discover(sample_rows => 0)', '22023',
				 'sample_rows must be positive', 'sample_rows 0');
SELECT throws_ok('SELECT * FROM ri_policy.discover(sample_rows => -5)', '22023',
				 'sample_rows must be positive', 'sample_rows below 0');
SELECT throws_ok($$SELECT * FROM ri_policy.discover(time_budget => '0 s')$$, '22023',
				 'time_budget must be positive', 'time_budget 0');
SELECT throws_ok($$SELECT * FROM ri_policy.discover(time_budget => '-1 min')$$, '22023',
				 'time_budget must be positive', 'a negative time_budget');
SELECT throws_ok('SELECT * FROM ri_policy.discover(row_budget => 0)', '22023',
				 'row_budget must be positive', 'row_budget 0');
SELECT throws_ok('SELECT * FROM ri_policy.discover(min_fraction => 0)', '22023',
				 'min_fraction must be above 0 and at most 1', 'min_fraction 0');
SELECT throws_ok('SELECT * FROM ri_policy.discover(min_fraction => 1.5)', '22023',
				 'min_fraction must be above 0 and at most 1', 'min_fraction above 1');
SELECT throws_ok($$SELECT * FROM ri_policy.discover(min_fraction => 'NaN')$$, '22023',
				 'min_fraction must be above 0 and at most 1', 'min_fraction NaN');
SELECT throws_ok('SELECT * FROM ri_policy.discover(min_sample => 0)', '22023',
				 'min_sample must be positive', 'min_sample 0');
SELECT throws_ok('SELECT * FROM ri_policy.discover(sample_rows => NULL)', '22004',
				 'only schema_name may be null', 'a NULL budget');
SELECT throws_ok('SELECT * FROM ri_policy.discover(all_candidates => NULL)', '22004',
				 'only schema_name may be null', 'a NULL flag');
SELECT throws_ok($$SELECT * FROM ri_policy.discover(schema_name => 'regress_no_such_schema')$$, '3F000',
				 'schema "regress_no_such_schema" does not exist', 'an unknown schema');

SELECT * FROM finish();
ROLLBACK;
