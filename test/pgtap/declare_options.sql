-- declare_reference()'s options beyond match and on_delete: on_update,
-- is_deferrable, initially_deferred, on_delete_columns and not_valid.  What
-- is accepted is recorded and shown by ri_policy.references; bad input gets
-- the right SQLSTATE and changes nothing; calls written for 0.4 (positional
-- or named) keep working; repair() acts on ON DELETE only.
BEGIN;
SELECT plan(34);

CREATE TABLE p (a int, b int, PRIMARY KEY (a, b));
INSERT INTO p VALUES (1, 1);
CREATE TABLE c (a int DEFAULT 0, b int DEFAULT 0, x int);
INSERT INTO c VALUES (1, 1, 0), (2, 2, 0);

CREATE FUNCTION registry() RETURNS text LANGUAGE sql AS
	$$SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM ri_policy._reference$$;
CREATE FUNCTION shown(ref text) RETURNS text LANGUAGE sql AS
	$$SELECT concat_ws(' ', match, on_delete, on_update, is_deferrable, initially_deferred,
					   on_delete_columns, not_valid)
		FROM ri_policy.references WHERE name = ref$$;

-- defaults, and calls written for 0.4
SELECT is(ri_policy.declare_reference('c', '{a,b}', 'p', '{a,b}', 'pos7', 'full', 'cascade'),
		  'pos7', 'a positional call with the seven arguments of 0.4');
SELECT is(shown('pos7'), 'full cascade no action f f f',
		  'the new options default to what a foreign key defaults to');
SELECT is(ri_policy.declare_reference('c', '{a,b}', 'p', name => 'named', on_delete => 'set null'),
		  'named', 'a named call of 0.4');
SELECT is(shown('named'), 'simple set null no action f f f', 'recorded');

-- every option
SELECT is(ri_policy.declare_reference('c', '{a,b}', 'p', name => 'all', match => 'full',
									  on_delete => 'Set Default', on_update => 'CASCADE',
									  is_deferrable => true, initially_deferred => true,
									  on_delete_columns => '{b}', not_valid => true),
		  'all', 'every option, by name');
SELECT is(shown('all'), 'full set default cascade t t {b} t',
		  'recorded and shown (case-insensitive actions, lower case)');
SELECT is(ri_policy.declare_reference('c', '{a,b}', 'p', '{a,b}', 'pos12', 'simple', 'restrict',
									  'set null', true, false, NULL, false),
		  'pos12', 'every option, by position');
SELECT is(shown('pos12'), 'simple restrict set null t f f',
		  'RESTRICT is kept for both actions');
SELECT is(ri_policy.declare_reference('c', '{a,b}', 'p', name => 'dups', on_delete => 'set null',
									  on_delete_columns => '{b,a,b}'),
		  'dups', 'a column list with a repeated column');
SELECT is((SELECT on_delete_columns FROM ri_policy.references WHERE name = 'dups'),
		  '{b,a}'::name[], 'keeps each column once, in order, as PostgreSQL does');
SELECT is((SELECT on_delete_columns FROM ri_policy._reference WHERE name = 'dups'),
		  '{2,1}'::smallint[], 'recorded by position');

-- bad input: the SQLSTATE, and nothing recorded
CREATE TEMP TABLE before AS SELECT registry() AS r;
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_update => NULL)$$,
				 '22004', 'on_update must not be null', 'on_update NULL');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', is_deferrable => NULL)$$,
				 '22004', 'is_deferrable must not be null', 'is_deferrable NULL');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', initially_deferred => NULL)$$,
				 '22004', 'initially_deferred must not be null', 'initially_deferred NULL');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', not_valid => NULL)$$,
				 '22004', 'not_valid must not be null', 'not_valid NULL');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_update => 'delete')$$,
				 '22023', 'invalid on_update action "delete"', 'bad on_update');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', initially_deferred => true)$$,
				 '22023', 'a reference that is initially deferred must be deferrable',
				 'initially_deferred without is_deferrable');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_delete => 'cascade',
													  on_delete_columns => '{b}')$$,
				 '22023', 'on_delete_columns is only supported with on_delete "set null" or "set default"',
				 'a column list with ON DELETE CASCADE');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_delete_columns => '{b}')$$,
				 '22023', NULL, 'a column list with ON DELETE NO ACTION');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_delete => 'set null',
													  on_delete_columns => '{}')$$,
				 '22023', 'on_delete_columns must name at least one column', 'an empty column list');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_delete => 'set null',
													  on_delete_columns => '{nope}')$$,
				 '42703', 'column "nope" of relation "c" does not exist', 'an unknown column');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_delete => 'set null',
													  on_delete_columns => '{x}')$$,
				 '42P10', 'column "x" referenced in ON DELETE SET action must be part of the reference',
				 'a column that is not part of the reference');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_delete => 'set null',
													  on_delete_columns => '{b,NULL}')$$,
				 '22004', 'on_delete_columns must not contain nulls', 'a NULL in the column list');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_delete => 'set null',
													  on_delete_columns => '{{a},{b}}')$$,
				 '2202E', 'on_delete_columns must be a one-dimensional array', 'a two-dimensional list');
SELECT throws_ok($$SELECT ri_policy.declare_reference('c', '{a,b}', 'p', on_delete => 'set null',
													  on_delete_columns => array_fill('a'::name, ARRAY[33]))$$,
				 '54011', NULL, 'a list longer than a key may be');
SELECT is(registry(), (SELECT r FROM before), 'nothing was recorded by any of the above');

-- the registry refuses rows that break these rules, whoever writes them
SELECT throws_ok($$UPDATE ri_policy._reference SET initially_deferred = true WHERE name = 'pos7'$$,
				 '23514', NULL, 'the registry: initially deferred needs deferrable');
SELECT throws_ok($$UPDATE ri_policy._reference SET on_delete_columns = '{3}' WHERE name = 'named'$$,
				 '23514', NULL, 'the registry: a position beyond the key');
SELECT throws_ok($$UPDATE ri_policy._reference SET on_update = 'delete' WHERE name = 'named'$$,
				 '23514', NULL, 'the registry: an unknown action');

-- the foreign-key half of ri_policy.references reads pg_constraint
CREATE TABLE c2 (a int, b int);
ALTER TABLE c2 ADD CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES p MATCH FULL
	ON UPDATE SET DEFAULT ON DELETE SET NULL (a) DEFERRABLE INITIALLY DEFERRED NOT VALID;
SELECT is(shown('fk'), 'full set null set default t t {a} t', 'a foreign key');
ALTER TABLE c2 VALIDATE CONSTRAINT fk;
SELECT is(shown('fk'), 'full set null set default t t {a} f', 'validated');

-- repair() acts on ON DELETE only: RESTRICT is skipped like NO ACTION, and
-- SET NULL with a column list sets every reference column (see README)
DELETE FROM ri_policy._reference;
SELECT ri_policy.declare_reference('c', '{a,b}', 'p', name => 'r', on_delete => 'restrict',
								   on_update => 'cascade');
CALL ri_policy.validate('r');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'r'), 1::bigint,
		  'one orphaned key');
CALL ri_policy.repair('r');
SELECT is((SELECT count(*) FROM c WHERE a = 2), 1::bigint,
		  'repair() with ON DELETE RESTRICT changes nothing (whatever ON UPDATE says)');
SELECT ri_policy.drop_reference('r');
SELECT ri_policy.declare_reference('c', '{a,b}', 'p', name => 'r', on_delete => 'set null',
								   on_delete_columns => '{b}');
CALL ri_policy.validate('r');
CALL ri_policy.repair('r');
SELECT is((SELECT a IS NULL AND b IS NULL FROM c WHERE x = 0 AND a IS DISTINCT FROM 1), true,
		  'repair() with ON DELETE SET NULL (b) sets every reference column to NULL');

SELECT * FROM finish();
ROLLBACK;
