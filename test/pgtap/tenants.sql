-- A schema-per-tenant database (as Rails and Django make them: every
-- tenant's foreign keys have the same names): demote_all(schema), demote,
-- promote and validate work tenant by tenant, addressed by
-- schema.table.name; promote keeps a reference's results with the new key.
-- promote() commits in a background worker, so this file runs outside a
-- transaction block and cleans up after itself.
SELECT plan(13);

DO $$
BEGIN
	FOR t IN 1..3 LOOP
		EXECUTE format('CREATE SCHEMA tenant%s', t);
		EXECUTE format('CREATE TABLE tenant%s.customers (id int PRIMARY KEY)', t);
		EXECUTE format('INSERT INTO tenant%s.customers VALUES (1), (2)', t);
		EXECUTE format('CREATE TABLE tenant%s.orders (id int, customer_id int'
					   ' REFERENCES tenant%s.customers ON DELETE CASCADE)', t, t);
		EXECUTE format('INSERT INTO tenant%s.orders VALUES (1, 1), (2, 2)', t);
	END LOOP;
END $$;
CREATE FUNCTION pg_temp.kinds() RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(child::text || ' ' || kind, ', ' ORDER BY child::text)
	  FROM ri_policy.references WHERE name = 'orders_customer_id_fkey'$$;

SELECT is(pg_temp.kinds(),
		  'tenant1.orders enforced, tenant2.orders enforced, tenant3.orders enforced',
		  'three tenants, one foreign key name');
SELECT is(ARRAY(SELECT ri_policy.demote_all('tenant1')), '{orders_customer_id_fkey}',
		  'demote_all(schema) demotes the keys of one tenant');
SELECT is(ri_policy.demote('tenant2.orders', 'orders_customer_id_fkey'), 'orders_customer_id_fkey',
		  'demote one of another tenant');
SELECT is(pg_temp.kinds(),
		  'tenant1.orders declared, tenant2.orders declared, tenant3.orders enforced',
		  'each tenant''s relationship is listed once');

-- the declared ones, tenant by tenant
INSERT INTO tenant1.orders VALUES (3, 9);
CALL ri_policy.validate('tenant1.orders.orders_customer_id_fkey');
CALL ri_policy.validate('tenant2.orders.orders_customer_id_fkey');
SELECT is((SELECT string_agg(child::text || ' ' || key::text, ', ' ORDER BY child::text)
			 FROM ri_policy.violations WHERE reference = 'orders_customer_id_fkey'),
		  'tenant1.orders {"customer_id": 9}', 'each validated by its qualified name');

-- promote: the key takes the reference's results with it
SELECT lives_ok($$SELECT ri_policy.promote('tenant1.orders.orders_customer_id_fkey')$$,
				'promote one tenant''s reference, with an orphan');
SELECT lives_ok($$SELECT ri_policy.promote('tenant2.orders.orders_customer_id_fkey')$$,
				'and the other''s');
SELECT is(pg_temp.kinds(),
		  'tenant1.orders not valid, tenant2.orders enforced, tenant3.orders enforced',
		  'both are foreign keys again');
SELECT is((SELECT string_agg(child::text || ' ' || key::text, ', ' ORDER BY child::text)
			 FROM ri_policy.violations WHERE reference = 'orders_customer_id_fkey'),
		  'tenant1.orders {"customer_id": 9}', 'the not valid one keeps its results');
SELECT is((SELECT count(*) FROM ri_policy.references WHERE name = 'orders_customer_id_fkey'
			AND last_validated IS NOT NULL), 2::bigint, 'and both their last validation');
DELETE FROM tenant1.orders WHERE id = 3;
ALTER TABLE tenant1.orders VALIDATE CONSTRAINT orders_customer_id_fkey;
CALL ri_policy.validate('tenant1.orders.orders_customer_id_fkey');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'orders_customer_id_fkey'),
		  0::bigint, 'a foreign key is validated by its qualified name');

-- and demote_all() of the whole database
SELECT is((SELECT count(*) FROM ri_policy.demote_all() d WHERE d = 'orders_customer_id_fkey'),
		  3::bigint, 'demote_all() demotes every tenant''s key');
SELECT is(pg_temp.kinds(),
		  'tenant1.orders declared, tenant2.orders declared, tenant3.orders declared',
		  'declared, each once');

SET client_min_messages = warning;
DROP SCHEMA tenant1, tenant2, tenant3 CASCADE;
RESET client_min_messages;
SELECT * FROM finish();
