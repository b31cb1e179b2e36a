-- Bad input to declare_reference() and drop_reference(): a clear error with
-- the right SQLSTATE, and nothing changed.
BEGIN;
SELECT plan(37);

CREATE TABLE p (id int PRIMARY KEY, u int UNIQUE, nu int, pu int, e int,
				pt point, ci text);
CREATE UNIQUE INDEX p_pu ON p (pu) WHERE pu > 0;
CREATE UNIQUE INDEX p_e ON p ((e + 1));
CREATE TABLE c (id int, pid int, pid2 int, t text, pt point, ts timestamptz);
CREATE VIEW v AS SELECT * FROM c;
CREATE TEMP TABLE tmp (pid int);
CREATE TABLE noflat (id int);
SELECT ri_policy.declare_reference('c', '{pid}', 'p', name => 'existing');
ALTER TABLE c ADD CONSTRAINT fk_name FOREIGN KEY (pid2) REFERENCES p NOT VALID,
	ADD CONSTRAINT c_check CHECK (id > 0);

CREATE FUNCTION registry() RETURNS text LANGUAGE sql AS
	$$SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM ri_policy._reference$$;

-- NULLs
SELECT throws_ok($$SELECT ri_policy.declare_reference(NULL, '{pid}', 'p')$$,
				 '22004', 'child must not be null', 'child NULL');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', NULL, 'p')$$,
				 '22004', 'child_columns must not be null', 'child_columns NULL');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', NULL)$$,
				 '22004', 'parent must not be null', 'parent NULL');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'p', match => NULL)$$,
				 '22004', NULL, 'match NULL');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'p', on_delete => NULL)$$,
				 '22004', NULL, 'on_delete NULL');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid,NULL}', 'p', '{id,u}')$$,
				 '22004', NULL, 'a NULL column name');
SELECT throws_ok($$SELECT ri_policy.drop_reference(NULL)$$, '22004', NULL,
				 'drop_reference(NULL)');

-- unknown and wrong objects
SELECT throws_ok($$SELECT ri_policy.declare_reference('no_such', '{pid}', 'p')$$,
				 '42P01', NULL, 'unknown child');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'no_such')$$,
				 '42P01', NULL, 'unknown parent');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{nope}', 'p')$$,
				 '42703', 'column "nope" of relation "c" does not exist', 'unknown child column');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'p', '{nope}')$$,
				 '42703', NULL, 'unknown parent column');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{ctid}', 'p')$$,
				 '42P10', NULL, 'system column');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{}', 'p')$$,
				 '22023', 'child_columns must name at least one column', 'no columns');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid,pid}', 'p', '{id,u}')$$,
				 '42701', NULL, 'a column twice');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{{pid}}', 'p')$$,
				 '2202E', NULL, 'a two-dimensional array');
SELECT throws_ok($$SELECT ri_policy.declare_reference('v', '{pid}', 'p')$$,
				 '42809', 'child "v" is not a table', 'a view as child');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'v', '{pid}')$$,
				 '42809', NULL, 'a view as parent');
SELECT throws_ok($$SELECT ri_policy.declare_reference('pg_class', '{relowner}', 'pg_authid')$$,
				 '42501', NULL, 'a system catalog');
SELECT throws_ok($$SELECT ri_policy.declare_reference('tmp', '{pid}', 'p')$$,
				 '0A000', NULL, 'a temporary table');

-- keys
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid,pid2}', 'p')$$,
				 '42830', NULL, 'column counts differ');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'noflat')$$,
				 '42830', 'there is no primary key for referenced table "noflat"',
				 'parent without a primary key');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'p', '{nu}')$$,
				 '42830', NULL, 'parent column without a unique index');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'p', '{pu}')$$,
				 '42830', NULL, 'only a partial unique index');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'p', '{e}')$$,
				 '42830', NULL, 'only an expression index');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{ts}', 'p')$$,
				 '42804', NULL, 'types without an equality operator');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{t}', 'p')$$,
				 '42804', NULL, 'text against int');

-- options and names
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'p', match => 'partial')$$,
				 '22023', 'invalid match type "partial"', 'bad match');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'p', on_delete => 'delete')$$,
				 '22023', NULL, 'bad on_delete');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid}', 'p', name => '')$$,
				 '22023', NULL, 'empty name');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid2}', 'p', name => 'existing')$$,
				 '42710', 'reference "existing" of table "c" already exists', 'duplicate name');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid2}', 'p', name => 'fk_name')$$,
				 '42710', NULL, 'name of a foreign key of the child');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{pid2}', 'p', name => 'c_check')$$,
				 '42710', 'constraint "c_check" of relation "c" already exists',
				 'name of another constraint of the child');
SELECT throws_ok($$SELECT ri_policy.drop_reference('no_such')$$, '42704',
				 'reference "no_such" does not exist', 'drop an unknown reference');
SELECT throws_ok($$SELECT ri_policy.drop_reference('fk_name')$$, '42809', NULL,
				 'drop a foreign key');

-- nothing was recorded by any of the above
SELECT is(registry(), 'existing', 'the registry is unchanged');

-- mixed case is accepted for options
SELECT is(ri_policy.declare_reference('c', '{pid2}', 'p', '{u}', match => 'FULL',
									  on_delete => 'Set Null'),
		  'c_pid2_ref', 'options are case-insensitive');
SELECT is((SELECT match || '/' || on_delete FROM ri_policy._reference
			WHERE name = 'c_pid2_ref'), 'full/set null', 'and stored in lower case');

SELECT * FROM finish();
ROLLBACK;
