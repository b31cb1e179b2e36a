--
-- Declared references: declare_reference(), drop_reference(), the
-- ri_policy.references view, and how the registry follows renames and drops.
--
CREATE SCHEMA regress_ref;
SET search_path = regress_ref;
CREATE TABLE customers (id int PRIMARY KEY, code text UNIQUE, region int,
						UNIQUE (region, code));
CREATE TABLE orders (id int PRIMARY KEY, customer_id bigint, customer_code text,
					 region int);

-- defaults: the parent's primary key, a generated name, MATCH SIMPLE
SELECT ri_policy.declare_reference('orders', '{customer_id}', 'customers');
-- a unique constraint, columns in another order, a given name, options
SELECT ri_policy.declare_reference('orders', '{customer_code, region}',
								   'customers', '{code, region}',
								   name => 'orders_by_code', match => 'FULL',
								   on_delete => 'set null');
SELECT name, child, child_columns, parent, parent_columns, kind, match,
	   on_delete, last_validated, orphan_keys, orphan_rows
  FROM ri_policy.references ORDER BY name;
-- the equality operators were pinned at declaration (cross-type for bigint)
SELECT name, eq_operators FROM ri_policy._reference ORDER BY name;

-- enforced, NOT VALID keys appear beside declared references
CREATE TABLE invoices (id int PRIMARY KEY, customer_id int REFERENCES customers,
					   order_id int);
ALTER TABLE invoices ADD CONSTRAINT invoices_order_fk FOREIGN KEY (order_id)
	REFERENCES orders ON DELETE CASCADE NOT VALID;
SELECT name, child, child_columns, parent, parent_columns, kind, match, on_delete
  FROM ri_policy.references
 WHERE child::text LIKE '%invoices' ORDER BY name;

-- declaring reads no data and lets writers through: it takes AccessShareLock
BEGIN;
SELECT ri_policy.declare_reference('invoices', '{order_id}', 'orders',
								   name => 'invoices_order_ref');
SELECT relation::regclass, mode FROM pg_locks
 WHERE pid = pg_backend_pid() AND relation IN ('orders'::regclass, 'invoices'::regclass)
 ORDER BY relation::regclass::text, mode;
ROLLBACK;

-- renames: the registry follows tables and columns
ALTER TABLE orders RENAME TO orders2;
ALTER TABLE orders2 RENAME COLUMN customer_id TO cust_id;
ALTER TABLE customers RENAME COLUMN code TO customer_code;
SELECT name, child, child_columns, parent, parent_columns FROM ri_policy.references
 WHERE kind = 'declared' ORDER BY name;

-- drop_reference
SELECT ri_policy.drop_reference('orders_by_code');
SELECT ri_policy.drop_reference('orders_by_code');
SELECT ri_policy.drop_reference('invoices_order_fk');

-- drops: dropping a referenced column, the child or the parent drops the
-- reference, with a NOTICE
SELECT ri_policy.declare_reference('orders2', '{customer_code, region}',
								   'customers', '{customer_code, region}',
								   name => 'r_code');
SELECT ri_policy.declare_reference('invoices', '{customer_id}', 'customers',
								   name => 'r_invoices');
CREATE TABLE other (id int PRIMARY KEY, customer_id int);
SELECT ri_policy.declare_reference('other', '{customer_id}', 'customers',
								   name => 'r_other');
ALTER TABLE orders2 DROP COLUMN region;
DROP TABLE other;
ALTER TABLE customers DROP COLUMN region;
SELECT name FROM ri_policy.references WHERE kind = 'declared' ORDER BY name;
DROP TABLE customers CASCADE;
SELECT name FROM ri_policy.references ORDER BY name;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA regress_ref CASCADE;
