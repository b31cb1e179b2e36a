-- discover() on a planted schema: every true undeclared relationship whose
-- child holds at least min_sample non-null values is proposed, with its
-- fraction and a declare_reference() call that works; none of the false
-- ones (names that mislead, wrong types, coincidental values, keys already
-- enforced or declared, too few values) is.  Its budgets are respected.
-- Runs in one transaction, rolled back.
BEGIN;
SELECT plan(21);

CREATE SCHEMA regress_disc;
SET LOCAL search_path = regress_disc, public;
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 500) g;
CREATE TABLE region (id int PRIMARY KEY);
INSERT INTO region SELECT generate_series(1, 20);
CREATE TABLE countries (code text PRIMARY KEY);
INSERT INTO countries SELECT 'C' || g FROM generate_series(1, 50) g;
CREATE TABLE statuses (id int PRIMARY KEY);
INSERT INTO statuses SELECT generate_series(100, 110);
CREATE TABLE products (id int PRIMARY KEY);
INSERT INTO products SELECT generate_series(1, 100);

-- true: a conventional name, a suffixed one; misleading: status_id (no
-- value is a status), product_id (text: the wrong type)
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, billing_customer_id bigint,
					 status_id int, product_id text, referrer_customer_id bigint);
INSERT INTO orders SELECT g, 1 + g % 500, 1 + (g * 7) % 500, g % 5, (g % 100)::text
  FROM generate_series(1, 4000) g;
-- true: an abbreviation (custid -> customers.id)
CREATE TABLE invoices (id int PRIMARY KEY, custid bigint);
INSERT INTO invoices SELECT g, 1 + g % 500 FROM generate_series(1, 1000) g;
-- true: a singular parent (region_id -> region.id), int4 -> int4
CREATE TABLE stores (id int PRIMARY KEY, region_id int);
INSERT INTO stores SELECT g, 1 + g % 20 FROM generate_series(1, 300) g;
-- true: self references by convention
CREATE TABLE categories (id int PRIMARY KEY, parent_id int);
INSERT INTO categories SELECT g, CASE WHEN g > 10 THEN 1 + g % 10 END FROM generate_series(1, 400) g;
CREATE TABLE employees (id int PRIMARY KEY, manager_id int);
INSERT INTO employees SELECT g, CASE WHEN g > 1 THEN g / 2 END FROM generate_series(1, 400) g;
-- true: a text key not called id
CREATE TABLE addresses (id int PRIMARY KEY, country_code text);
INSERT INTO addresses SELECT g, 'C' || (1 + g % 50) FROM generate_series(1, 600) g;
-- true, mostly NULL: int4 child of an int8 key
CREATE TABLE shipments (id int PRIMARY KEY, order_id int);
INSERT INTO shipments SELECT g, CASE WHEN g % 5 = 0 THEN 1 + g % 4000 END FROM generate_series(1, 3000) g;
-- false: values that match a parent only by coincidence
CREATE TABLE coupons (id int PRIMARY KEY, order_id bigint);
INSERT INTO coupons SELECT g, (g::bigint * 2654435761) % 1000000000 + 5000 FROM generate_series(1, 800) g;
-- true but too few values to decide
CREATE TABLE notes (id int PRIMARY KEY, customer_id bigint);
INSERT INTO notes SELECT g, g FROM generate_series(1, 5) g;
-- already enforced, already declared
CREATE TABLE payments (id int PRIMARY KEY, customer_id bigint REFERENCES customers);
INSERT INTO payments SELECT g, 1 + g % 500 FROM generate_series(1, 200) g;
CREATE TABLE refunds (id int PRIMARY KEY, customer_id bigint);
INSERT INTO refunds SELECT g, 1 + g % 500 FROM generate_series(1, 200) g;
SELECT ok(ri_policy.declare_reference('refunds', '{customer_id}', 'customers', name => 'refunds_ref') IS NOT NULL);
-- a deferrable unique key: no foreign key may reference it
CREATE TABLE vouchers (code text, CONSTRAINT vouchers_code_key UNIQUE (code) DEFERRABLE);
INSERT INTO vouchers SELECT 'V' || g FROM generate_series(1, 100) g;
CREATE TABLE redemptions (id int PRIMARY KEY, voucher_code text);
INSERT INTO redemptions SELECT g, 'V' || (1 + g % 100) FROM generate_series(1, 200) g;
-- no parent table at all
CREATE TABLE events (id int PRIMARY KEY, user_id int);
INSERT INTO events SELECT g, g FROM generate_series(1, 100) g;
ANALYZE vouchers, redemptions, customers, region, countries, statuses, products, orders, invoices, stores,
	categories, employees, addresses, shipments, coupons, notes, payments, refunds, events;

CREATE TEMP TABLE truth (child text, child_column name, parent text, parent_column name);
INSERT INTO truth VALUES
	('regress_disc.orders', 'customer_id', 'regress_disc.customers', 'id'),
	('regress_disc.orders', 'billing_customer_id', 'regress_disc.customers', 'id'),
	('regress_disc.invoices', 'custid', 'regress_disc.customers', 'id'),
	('regress_disc.stores', 'region_id', 'regress_disc.region', 'id'),
	('regress_disc.categories', 'parent_id', 'regress_disc.categories', 'id'),
	('regress_disc.employees', 'manager_id', 'regress_disc.employees', 'id'),
	('regress_disc.addresses', 'country_code', 'regress_disc.countries', 'code'),
	('regress_disc.shipments', 'order_id', 'regress_disc.orders', 'id');

RESET search_path;
CREATE TEMP TABLE found AS
SELECT d.*, d.child::text AS c, d.parent::text AS p
  FROM ri_policy.discover(schema_name => 'regress_disc', all_candidates => true) d;

-- precision and recall with the defaults (sample_rows 1000, min_sample 30)
SELECT set_eq($$SELECT c, child_column, p, parent_column FROM found WHERE verdict = 'candidate'$$,
			  $$SELECT * FROM truth$$,
			  'the candidates are exactly the planted relationships: precision 1, recall 1');
SELECT ok((SELECT bool_and(fraction = 1 AND sampled >= 30 AND matched = sampled)
			 FROM found WHERE verdict = 'candidate'),
		  'each was verified on its data: every sampled value has a parent');
SELECT is((SELECT verdict || ' ' || fraction FROM found
			WHERE c = 'regress_disc.orders' AND child_column = 'status_id'),
		  'rejected 0', 'status_id: the name suggests statuses, the data says no');
SELECT is((SELECT verdict FROM found WHERE c = 'regress_disc.coupons'), 'rejected',
		  'coupons.order_id: coincidental matches are rejected');
SELECT is((SELECT verdict FROM found WHERE c = 'regress_disc.notes'), 'too few values',
		  'notes.customer_id: 5 values are too few to decide');
SELECT is((SELECT count(*) FROM found
			WHERE child_column = 'product_id' OR c IN ('regress_disc.payments', 'regress_disc.refunds',
													   'regress_disc.events', 'regress_disc.redemptions')),
		  0::bigint, 'wrong types, enforced and declared keys, deferrable keys, and names without a parent are not candidates');
SELECT is((SELECT array_agg(DISTINCT name_rule ORDER BY name_rule) FROM found WHERE verdict = 'candidate'),
		  '{abbreviation,name,self,suffix}', 'each kind of name is found');

-- the proposed calls work as they are
SELECT lives_ok((SELECT string_agg(declare_call, ' ') FROM found WHERE verdict = 'candidate'),
				'every declare_call runs');
SELECT is((SELECT count(*) FROM ri_policy.discover(schema_name => 'regress_disc')), 0::bigint,
		  'once declared, they are candidates no more');
DO $$ BEGIN PERFORM ri_policy.drop_reference(r.name) FROM ri_policy.references r
	WHERE r.kind = 'declared' AND r.child::text LIKE 'regress_disc.%' AND r.name <> 'refunds_ref'; END $$;

-- a small sample still finds all of them, and nothing false
SELECT set_eq($$SELECT child::text, child_column, parent::text, parent_column
				 FROM ri_policy.discover(sample_rows => 60, schema_name => 'regress_disc')$$,
			  $$SELECT * FROM truth$$,
			  'with sample_rows 60: the same candidates');
SELECT ok((SELECT max(sampled) <= 60 FROM ri_policy.discover(sample_rows => 60, schema_name => 'regress_disc',
															  all_candidates => true)),
		  'no candidate probes more than sample_rows values');

-- budgets (the NOTICE that says how many were not verified is quieted)
SET LOCAL client_min_messages = warning;
SELECT ok((SELECT sum(sampled) <= 1500 AND count(*) FILTER (WHERE verdict = 'not verified') > 0
			 FROM ri_policy.discover(row_budget => 1500, schema_name => 'regress_disc',
									 all_candidates => true)),
		  'row_budget caps the values probed in all; the rest are not verified');
SELECT ok((SELECT bool_and(verdict = 'not verified' AND sampled IS NULL)
			 FROM ri_policy.discover(time_budget => '1 microsecond', schema_name => 'regress_disc',
									 all_candidates => true)),
		  'a spent time_budget verifies nothing more');
SELECT is((SELECT count(*) FROM ri_policy.discover(time_budget => '1 microsecond',
													schema_name => 'regress_disc')),
		  0::bigint, 'unverified candidates are not proposed');
SELECT ok((SELECT count(*) = 8 FROM ri_policy.discover(time_budget => '1000000 years', schema_name => 'regress_disc')),
		  'a time budget of a million years is no limit, and no overflow');
SELECT ok((SELECT count(*) = 8 FROM ri_policy.discover(time_budget => '30 days', schema_name => 'regress_disc')),
		  'nor is one longer than the longest lock_timeout');
SELECT lives_ok($$SELECT * FROM ri_policy.discover(sample_rows => 1, min_sample => 1,
												   schema_name => 'regress_disc')$$,
				'one value a candidate works');

SELECT is((SELECT verdict FROM found WHERE child_column = 'referrer_customer_id'), 'no data',
		  'a column with no values is not a candidate');

-- the sample is bounded by blocks as well as rows: a bloated table (few
-- rows left in many blocks) is not read whole for a few values
CREATE SCHEMA regress_disc_bloat;
CREATE TABLE regress_disc_bloat.accounts (id int PRIMARY KEY);
INSERT INTO regress_disc_bloat.accounts SELECT generate_series(1, 100);
CREATE TABLE regress_disc_bloat.ledger (n int, account_id int, pad text) WITH (autovacuum_enabled = off);
INSERT INTO regress_disc_bloat.ledger SELECT g, 1 + g % 100, repeat('x', 200) FROM generate_series(1, 60000) g;
DELETE FROM regress_disc_bloat.ledger WHERE n % 20000 <> 0;
ANALYZE regress_disc_bloat.ledger, regress_disc_bloat.accounts;
SELECT pg_stat_get_xact_blocks_fetched('regress_disc_bloat.ledger'::regclass) AS before \gset
SELECT ok((SELECT sampled IS NOT NULL FROM ri_policy.discover(sample_rows => 5, min_sample => 1,
													  schema_name => 'regress_disc_bloat', all_candidates => true)),
		  'a bloated table with 3 rows left is sampled');
SELECT cmp_ok(pg_stat_get_xact_blocks_fetched('regress_disc_bloat.ledger'::regclass) - :before,
			  '<=', (5 * 20 + 5 * 20 / 4 + 10)::bigint,
			  'reading about 20 blocks per value wanted at most, not its '
			  || (pg_relation_size('regress_disc_bloat.ledger') / 8192) || ' blocks');

SELECT * FROM finish();
ROLLBACK;
