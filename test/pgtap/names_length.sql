-- A reference's name is at most 63 bytes, like a constraint's: a longer
-- one could never be promoted, and is refused (42622), changing nothing.
BEGIN;
SELECT plan(4);
CREATE SCHEMA nl;
CREATE TABLE nl.parent (id int PRIMARY KEY);
CREATE TABLE nl.child (pid int);
SELECT throws_ok(format($$SELECT ri_policy.declare_reference('nl.child', '{pid}', 'nl.parent', name => %L)$$,
						repeat('x', 64)),
				 '42622', format('reference name "%s" is too long', repeat('x', 64)),
				 'declare_reference: a 64-byte name is refused');
SELECT lives_ok(format($$SELECT ri_policy.declare_reference('nl.child', '{pid}', 'nl.parent', name => %L)$$,
					   repeat('x', 63)),
				'a 63-byte name is accepted');
SELECT throws_ok(format($$SELECT ri_policy.rename_reference(%L, %L)$$, repeat('x', 63), repeat('y', 1000)),
				 '42622', NULL, 'rename_reference: a long name is refused');
SELECT is((SELECT array_agg(name) FROM ri_policy.references WHERE child = 'nl.child'::regclass),
		  ARRAY[repeat('x', 63)], 'and nothing changed');
SELECT * FROM finish();
ROLLBACK;
