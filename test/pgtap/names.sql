-- How references are named and addressed: a name is unique per child
-- table, like a constraint's; every function takes name, table.name or
-- schema.table.name (PostgreSQL's rules for identifiers; the table found
-- along search_path); a bare name must be unique in the database, or the
-- call fails with 42P08 and a hint naming the qualified forms.  Runs in one
-- transaction, rolled back.
BEGIN;
SELECT plan(39);

CREATE SCHEMA n1;
CREATE SCHEMA n2;
CREATE TABLE n1.customers (id int PRIMARY KEY);
CREATE TABLE n2.customers (id int PRIMARY KEY);
INSERT INTO n1.customers VALUES (1), (2);
INSERT INTO n2.customers VALUES (1), (2);
CREATE TABLE n1.orders (id int, customer_id int, customer2 int);
CREATE TABLE n2.orders (id int, customer_id int, customer2 int);
INSERT INTO n1.orders VALUES (1, 1, 1), (2, 11, 1), (3, 12, 1);
INSERT INTO n2.orders VALUES (1, 1, 1), (2, 21, 1);

-- the hint of an error, or 'ok'
CREATE FUNCTION pg_temp.hint_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	h text;
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || h;
END $$;
CREATE FUNCTION pg_temp.violations(text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(child::text || ' ' || key::text, ', ' ORDER BY child::text, key), '')
	  FROM ri_policy.violations WHERE reference = $1$$;

-- 1. one name, a table in each schema (schema-per-tenant)
SELECT is(ri_policy.declare_reference('n1.orders', '{customer_id}', 'n1.customers',
									  name => 'orders_ref'), 'orders_ref',
		  'a reference name');
SELECT is(ri_policy.declare_reference('n2.orders', '{customer_id}', 'n2.customers',
									  name => 'orders_ref'), 'orders_ref',
		  'the same name on a table of another schema');
SELECT throws_ok($$SELECT ri_policy.declare_reference('n1.orders', '{customer2}', 'n1.customers',
														name => 'orders_ref')$$,
				 '42710', 'reference "orders_ref" of table "orders" already exists',
				 'but not twice on one table');
SELECT is((SELECT count(*) FROM (SELECT child, name FROM ri_policy.references
								  GROUP BY 1, 2 HAVING count(*) > 1) d), 0::bigint,
		  'ri_policy.references lists no table''s name twice');

-- 2. a bare name that is not unique: 42P08, with the qualified forms
SELECT throws_ok($$CALL ri_policy.validate('orders_ref')$$, '42P08',
				 'reference name "orders_ref" is ambiguous', 'an ambiguous bare name fails');
SELECT is(pg_temp.hint_of($$CALL ri_policy.validate('orders_ref')$$),
		  '42P08: Name one of them with its table: n1.orders.orders_ref, n2.orders.orders_ref.',
		  'the hint names each qualified form');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('orders_ref')$$, '42P08', NULL,
				 'orphans() too');
SELECT throws_ok($$SELECT ri_policy.track('orders_ref')$$, '42P08', NULL, 'track() too');
SELECT throws_ok($$CALL ri_policy.repair('orders_ref', 'delete')$$, '42P08', NULL, 'repair() too');
SELECT throws_ok($$SELECT ri_policy.drop_reference('orders_ref')$$, '42P08', NULL,
				 'drop_reference() too');
SELECT throws_ok($$SELECT ri_policy.rename_reference('orders_ref', 'x')$$, '42P08', NULL,
				 'rename_reference() too');
SELECT is((SELECT count(*) FROM ri_policy.validation_progress), 0::bigint, 'nothing ran');

-- 3. qualified, each form reaches one reference
CALL ri_policy.validate('n1.orders.orders_ref');
SELECT is(pg_temp.violations('orders_ref'), 'n1.orders {"customer_id": 11}, n1.orders {"customer_id": 12}',
		  'schema.table.name');
SET search_path = n2, public;
CALL ri_policy.validate('orders.orders_ref');
RESET search_path;
SELECT is(pg_temp.violations('orders_ref'),
		  'n1.orders {"customer_id": 11}, n1.orders {"customer_id": 12}, n2.orders {"customer_id": 21}',
		  'table.name, the table found along search_path');
SELECT is((SELECT count(*) FROM ri_policy.orphans('n2.orders.orders_ref')), 1::bigint,
		  'orphans() by schema.table.name');
SELECT lives_ok($$SELECT ri_policy.track('n1.orders.orders_ref')$$, 'track() by schema.table.name');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'n2.orders'::regclass), 0::bigint,
		  'which tracks that one only');
SELECT lives_ok($$CALL ri_policy.repair('n2.orders.orders_ref', 'delete')$$,
				'repair() by schema.table.name');
SELECT is((SELECT count(*) FROM n2.orders), 1::bigint, 'which repairs that one only');
SELECT is((SELECT count(*) FROM n1.orders), 3::bigint, 'and not the other');
SELECT lives_ok($$SELECT ri_policy.rename_reference('n2.orders.orders_ref', 'orders_ref2')$$,
				'rename_reference() by schema.table.name');
CALL ri_policy.validate('orders_ref');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress
			WHERE reference = 'orders_ref'), 3::bigint,
		  'a bare name works again once it is unique');

-- 4. foreign keys are addressed the same way
ALTER TABLE n1.orders ADD CONSTRAINT fk_same FOREIGN KEY (customer2) REFERENCES n1.customers;
ALTER TABLE n2.orders ADD CONSTRAINT fk_same FOREIGN KEY (customer2) REFERENCES n2.customers;
SELECT throws_ok($$CALL ri_policy.validate('fk_same')$$, '42P08', NULL,
				 'a foreign key name in two schemas is ambiguous');
SELECT lives_ok($$CALL ri_policy.validate('n2.orders.fk_same')$$,
				'and addressed with its table');
SELECT is((SELECT string_agg(child::text, ',') FROM ri_policy.validation_progress
			WHERE reference = 'fk_same'), 'n2.orders', 'which validates that one');
SELECT throws_ok($$SELECT ri_policy.drop_reference('n2.orders.fk_same')$$, '42809', NULL,
				 'drop_reference() of a foreign key');

-- 5. no constraint takes a declared reference's name on its table
SELECT throws_ok($$ALTER TABLE n1.orders RENAME CONSTRAINT fk_same TO orders_ref$$, '42710', NULL,
				 'renaming a constraint to the name of a declared reference of its table fails');
SELECT lives_ok($$ALTER TABLE n2.orders RENAME CONSTRAINT fk_same TO orders_ref$$,
				'to the name of another table''s reference it works');
SELECT is((SELECT string_agg(name || ' ' || kind || ' ' || (last_validated IS NOT NULL), ', '
							 ORDER BY name)
			 FROM ri_policy.references WHERE child = 'n2.orders'::regclass),
		  'orders_ref enforced true, orders_ref2 declared true',
		  'and the foreign key keeps its results under its new name');

-- 6. identifiers: quotes, case folding, and 0.4's literal names
CREATE SCHEMA "N3";
CREATE TABLE "N3"."Orders" ("Customer" int);
INSERT INTO "N3"."Orders" VALUES (5);
SELECT ri_policy.declare_reference('"N3"."Orders"', '{Customer}', 'n1.customers', name => 'MyRef');
SELECT lives_ok($$CALL ri_policy.validate('"N3"."Orders"."MyRef"')$$, 'quoted identifiers');
SELECT lives_ok($$CALL ri_policy.validate('"MyRef"')$$, 'a quoted bare name');
SELECT lives_ok($$CALL ri_policy.validate('MyRef')$$, 'a bare name as written, as in 0.4');
SELECT throws_ok($$CALL ri_policy.validate('N3.Orders.MyRef')$$, '42P01',
				 'relation "n3.orders" does not exist', 'unquoted identifiers are folded to lower case');
SELECT throws_ok($$CALL ri_policy.validate('n1.orders.nope')$$, '42704',
				 'reference "n1.orders.nope" does not exist', 'an unknown name of a table');
SELECT throws_ok($$CALL ri_policy.validate('a.b.c.d')$$, '42601', NULL, 'too many dotted names');
SELECT ri_policy.declare_reference('"N3"."Orders"', '{Customer}', 'n1.customers', name => 'odd name.x');
SELECT lives_ok($$CALL ri_policy.validate('odd name.x')$$,
				'a text that is no list of identifiers is a bare name as written');

-- names are found by plans kept for the session: after the extension is
-- dropped and created again (new tables under the same names), they find
-- the new references, not an error or the old ones
SELECT lives_ok($$CALL ri_policy.validate('n1.orders.orders_ref')$$, 'resolved before');
DROP EXTENSION ri_policy CASCADE;
CREATE EXTENSION ri_policy;
SELECT ri_policy.declare_reference('n2.orders', '{customer_id}', 'n2.customers', name => 'again');
SELECT lives_ok($$CALL ri_policy.validate('again')$$, 'a bare name, after CREATE EXTENSION');
SELECT throws_ok($$CALL ri_policy.validate('n1.orders.orders_ref')$$, '42704',
				 'reference "n1.orders.orders_ref" does not exist',
				 'a name of the dropped registry is gone');

SELECT * FROM finish();
ROLLBACK;
