-- discover() runs no code of another role: reading a table can run its
-- owner's row-level security policies and, while planning, the functions
-- of its index expressions, partial-index predicates and statistics
-- expressions, as the reader; discover() does not read such a table unless
-- the caller or a superuser owns it.  It probes a table's own rows, not
-- those of tables inheriting from it (a foreign key sees only the
-- former).  And it leaves the caller's lock_timeout as it was, as does
-- advise().  Runs in one transaction, rolled back.
BEGIN;
SELECT plan(13);

CREATE ROLE regress_dh_owner;
CREATE ROLE regress_dh_reader;
CREATE SCHEMA regress_dh AUTHORIZATION regress_dh_owner;
GRANT USAGE ON SCHEMA regress_dh TO regress_dh_reader;
GRANT CREATE ON SCHEMA regress_dh TO regress_dh_reader;

SET ROLE regress_dh_owner;
-- raises if run: the owner's code, which discover() must not run as anyone else
CREATE FUNCTION regress_dh.trap() RETURNS boolean LANGUAGE plpgsql IMMUTABLE
	AS $$
BEGIN
	IF current_user <> 'regress_dh_owner' THEN
		RAISE EXCEPTION 'the owner''s code ran as %', current_user;
	END IF;
	RETURN true;
END
$$;
CREATE TABLE regress_dh.customers (id int PRIMARY KEY);
INSERT INTO regress_dh.customers SELECT generate_series(1, 100);
-- a child with a row-level security policy
CREATE TABLE regress_dh.orders (id int PRIMARY KEY, customer_id int);
INSERT INTO regress_dh.orders SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
ALTER TABLE regress_dh.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY everything ON regress_dh.orders USING (regress_dh.trap());
-- a parent with a partial index whose predicate planning evaluates
CREATE TABLE regress_dh.accounts (id int PRIMARY KEY);
INSERT INTO regress_dh.accounts SELECT generate_series(1, 100);
CREATE INDEX ON regress_dh.accounts (id) WHERE regress_dh.trap();
CREATE TABLE regress_dh.payments (id int PRIMARY KEY, account_id int);
INSERT INTO regress_dh.payments SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
-- a child with a statistics expression, a parent with an index expression
CREATE TABLE regress_dh.vendors (id int PRIMARY KEY);
INSERT INTO regress_dh.vendors SELECT generate_series(1, 100);
CREATE INDEX ON regress_dh.vendors ((id + CASE WHEN regress_dh.trap() THEN 0 ELSE 1 END));
CREATE TABLE regress_dh.bills (id int PRIMARY KEY, vendor_id int);
INSERT INTO regress_dh.bills SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
CREATE TABLE regress_dh.regions (id int PRIMARY KEY);
INSERT INTO regress_dh.regions SELECT generate_series(1, 100);
CREATE TABLE regress_dh.stores (id int PRIMARY KEY, region_id int);
INSERT INTO regress_dh.stores SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
CREATE STATISTICS regress_dh.stores_x ON (region_id + CASE WHEN regress_dh.trap() THEN 0 ELSE 1 END), id
	FROM regress_dh.stores;
-- a policy and a partial index of built-in operators only: nothing to fear
CREATE TABLE regress_dh.leads (id int PRIMARY KEY, customer_id int);
INSERT INTO regress_dh.leads SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
ALTER TABLE regress_dh.leads ENABLE ROW LEVEL SECURITY;
CREATE POLICY positive ON regress_dh.leads USING (id > 0);
CREATE INDEX ON regress_dh.leads (customer_id) WHERE customer_id > 0;
GRANT SELECT ON ALL TABLES IN SCHEMA regress_dh TO PUBLIC;
GRANT EXECUTE ON FUNCTION regress_dh.trap() TO PUBLIC;
RESET ROLE;
-- the reader's own table with its own policy: its own code, read as usual
SET ROLE regress_dh_reader;
CREATE FUNCTION regress_dh.mine() RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE TABLE regress_dh.tickets (id int PRIMARY KEY, customer_id int);
INSERT INTO regress_dh.tickets SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
ALTER TABLE regress_dh.tickets ENABLE ROW LEVEL SECURITY;
ALTER TABLE regress_dh.tickets FORCE ROW LEVEL SECURITY;
CREATE POLICY mine ON regress_dh.tickets USING (regress_dh.mine());
RESET ROLE;
ANALYZE regress_dh.leads, regress_dh.customers, regress_dh.orders, regress_dh.accounts, regress_dh.payments,
		regress_dh.vendors, regress_dh.bills, regress_dh.regions, regress_dh.stores, regress_dh.tickets;

-- an ordinary reader
SET ROLE regress_dh_reader;
SELECT lives_ok($$CREATE TEMP TABLE found_r AS
				  SELECT * FROM ri_policy.discover(schema_name => 'regress_dh', all_candidates => true)$$,
				'an ordinary role: discover() runs no policy or expression of the tables''s owner');
SELECT is((SELECT verdict FROM found_r WHERE child = 'regress_dh.orders'::regclass), 'not verified',
		  'a child under a row-level security policy of another role is not read');
SELECT is((SELECT verdict FROM found_r WHERE child = 'regress_dh.payments'::regclass), 'not verified',
		  'nor a parent with a partial index of another role');
SELECT is((SELECT verdict FROM found_r WHERE child = 'regress_dh.tickets'::regclass), 'candidate',
		  'the caller''s own table under its own policy is read');
SELECT is((SELECT verdict FROM found_r WHERE child = 'regress_dh.leads'::regclass), 'candidate',
		  'another role''s table whose policy and partial index use built-in operators only is read');
RESET ROLE;

-- a superuser: row-level security does not apply, planning still would
SELECT lives_ok($$CREATE TEMP TABLE found_s AS
				  SELECT * FROM ri_policy.discover(schema_name => 'regress_dh', all_candidates => true)$$,
				'a superuser: discover() runs no index, predicate or statistics expression of another role');
SELECT is((SELECT array_agg(child::text || ':' || verdict ORDER BY child::text) FROM found_s
			WHERE child::text IN ('regress_dh.payments', 'regress_dh.bills', 'regress_dh.stores')),
		  '{regress_dh.bills:not verified,regress_dh.payments:not verified,regress_dh.stores:not verified}',
		  'a partial index, an index expression, a statistics expression of another role: not read');
SELECT is((SELECT verdict FROM found_s WHERE child = 'regress_dh.orders'::regclass), 'candidate',
		  'a policy the superuser is exempt from does not stop it');

-- inheritance: a foreign key sees the parent table's own rows only
CREATE TABLE regress_dh.shops (id int PRIMARY KEY);
CREATE TABLE regress_dh.big_shops () INHERITS (regress_dh.shops);
INSERT INTO regress_dh.big_shops SELECT generate_series(1, 100);
CREATE TABLE regress_dh.visits (id int PRIMARY KEY, shop_id int);
INSERT INTO regress_dh.visits SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
CREATE TABLE regress_dh.clerks (id int PRIMARY KEY);
INSERT INTO regress_dh.clerks SELECT generate_series(1, 100);
CREATE TABLE regress_dh.sales (id int PRIMARY KEY, clerk_id int);
CREATE TABLE regress_dh.old_sales () INHERITS (regress_dh.sales);
INSERT INTO regress_dh.old_sales SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
ANALYZE regress_dh.shops, regress_dh.big_shops, regress_dh.visits, regress_dh.clerks,
		regress_dh.sales, regress_dh.old_sales;
CREATE TEMP TABLE found_i AS SELECT * FROM ri_policy.discover(schema_name => 'regress_dh', all_candidates => true);
SELECT is((SELECT verdict || ' ' || fraction FROM found_i WHERE child = 'regress_dh.visits'::regclass),
		  'rejected 0', 'values found only in a table inheriting from the parent are not found in the parent');
SELECT is((SELECT verdict FROM found_i WHERE child = 'regress_dh.sales'::regclass), 'no data',
		  'the rows of a table inheriting from the child are not the child''s');
SELECT throws_ok('ALTER TABLE regress_dh.visits ADD FOREIGN KEY (shop_id) REFERENCES regress_dh.shops',
				 '23503', NULL, '(as a foreign key would say)');

-- the caller's lock_timeout, as it was
SET LOCAL lock_timeout = '7s';
SELECT count(*) FROM ri_policy.discover(time_budget => '1 ms', schema_name => 'regress_dh');
SELECT is(current_setting('lock_timeout'), '7s', 'discover() leaves lock_timeout as it was');
SET LOCAL lock_timeout = 0;
SELECT count(*) FROM ri_policy.advise();
SELECT is(current_setting('lock_timeout'), '0', 'so does advise()');

SELECT * FROM finish();
ROLLBACK;
