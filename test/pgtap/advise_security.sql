-- advise() and discover() run as their caller and tell an ordinary role
-- nothing about tables it may not read; a hostile search_path, a look-alike
-- pg_stat_statements view and a table owner's own operators reach none of
-- their code.  Runs in one transaction, rolled back.
BEGIN;
SELECT plan(14);

CREATE ROLE regress_adv_owner;
CREATE ROLE regress_adv_spy;
CREATE SCHEMA regress_adv_sec AUTHORIZATION regress_adv_owner;
CREATE SCHEMA regress_adv_spy AUTHORIZATION regress_adv_spy;
GRANT USAGE ON SCHEMA regress_adv_sec TO regress_adv_spy;

SET ROLE regress_adv_owner;
CREATE TABLE regress_adv_sec.customers (id bigint PRIMARY KEY);
INSERT INTO regress_adv_sec.customers SELECT generate_series(1, 200);
CREATE TABLE regress_adv_sec.orders (id int PRIMARY KEY,
	customer_id bigint REFERENCES regress_adv_sec.customers, buyer_customer_id bigint);
INSERT INTO regress_adv_sec.orders SELECT g, 1 + g % 200, 1 + g % 200 FROM generate_series(1, 500) g;
CREATE TABLE regress_adv_sec.refunds (customer_id bigint);
SELECT ri_policy.declare_reference('regress_adv_sec.refunds', '{customer_id}', 'regress_adv_sec.customers',
								   name => 'secret_refunds');
-- readable by the spy, but its parent is not
CREATE TABLE regress_adv_sec.visible (customer_id bigint REFERENCES regress_adv_sec.customers);
INSERT INTO regress_adv_sec.visible SELECT 1 + g % 200 FROM generate_series(1, 100) g;
GRANT SELECT ON regress_adv_sec.visible TO regress_adv_spy;
-- the owner's own type and equality, on a column that names a parent
CREATE TYPE regress_adv_sec.code_t AS ENUM ('a', 'b');
CREATE TABLE regress_adv_sec.code (id regress_adv_sec.code_t PRIMARY KEY);
INSERT INTO regress_adv_sec.code VALUES ('a'), ('b');
CREATE TABLE regress_adv_sec.coded (code_id regress_adv_sec.code_t);
INSERT INTO regress_adv_sec.coded SELECT 'a' FROM generate_series(1, 100);
CREATE FUNCTION regress_adv_sec.evil_eq(regress_adv_sec.code_t, regress_adv_sec.code_t) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the owner''s equality ran'; END $$;
CREATE OPERATOR regress_adv_sec.= (LEFTARG = regress_adv_sec.code_t, RIGHTARG = regress_adv_sec.code_t,
								   FUNCTION = regress_adv_sec.evil_eq);
GRANT SELECT ON regress_adv_sec.code, regress_adv_sec.coded TO regress_adv_spy;
RESET ROLE;
ANALYZE regress_adv_sec.customers, regress_adv_sec.orders, regress_adv_sec.visible;

-- the spy
SET ROLE regress_adv_spy;
SELECT is((SELECT count(*) FROM ri_policy.advise() WHERE child::text LIKE 'regress_adv_sec.%'), 0::bigint,
		  'advise(): nothing about tables the caller may not read (a readable child with an unreadable parent included)');
SELECT is((SELECT count(*) FROM ri_policy.discover(all_candidates => true)
			WHERE child::text LIKE 'regress_adv_sec.%' OR parent::text LIKE 'regress_adv_sec.%'),
		  0::bigint, 'discover(): no candidate with a child or parent the caller may not read');
SELECT is((SELECT count(*) FROM ri_policy.discover(schema_name => 'regress_adv_sec', all_candidates => true)),
		  0::bigint, 'not even in a schema named on purpose');
SELECT is((SELECT count(*) FROM ri_policy._tracking WHERE child::text LIKE 'regress_adv_sec.%'), 0::bigint,
		  'nor through the view advise() reads');
RESET ROLE;

-- granted both tables, the spy sees the relationship
GRANT SELECT ON regress_adv_sec.customers TO regress_adv_spy;
SET ROLE regress_adv_spy;
SELECT is((SELECT array_agg(name ORDER BY name) FROM ri_policy.advise() WHERE child::text LIKE 'regress_adv_sec.%'),
		  '{visible_customer_id_fkey}', 'granted SELECT on child and parent, the caller sees that key only');
RESET ROLE;

-- a hostile search_path and look-alikes reach nothing: the functions and
-- operators they would shadow raise if called
CREATE SCHEMA regress_adv_evil AUTHORIZATION regress_adv_spy;
SET ROLE regress_adv_spy;
CREATE FUNCTION regress_adv_evil.evil() RETURNS boolean LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'hostile code ran as %', current_user; END $$;
CREATE FUNCTION regress_adv_evil.eq8(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT regress_adv_evil.evil()';
CREATE OPERATOR regress_adv_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_adv_evil.eq8);
CREATE FUNCTION regress_adv_evil.eqn(name, name) RETURNS boolean LANGUAGE sql AS 'SELECT regress_adv_evil.evil()';
CREATE OPERATOR regress_adv_evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = regress_adv_evil.eqn);
CREATE FUNCTION regress_adv_evil.lower(text) RETURNS text LANGUAGE sql AS 'SELECT regress_adv_evil.evil()::text';
CREATE FUNCTION regress_adv_evil.format(text, VARIADIC text[]) RETURNS text LANGUAGE sql AS 'SELECT regress_adv_evil.evil()::text';
CREATE FUNCTION regress_adv_evil.quote_ident(text) RETURNS text LANGUAGE sql AS 'SELECT regress_adv_evil.evil()::text';
CREATE VIEW regress_adv_evil.pg_stat_statements AS
	SELECT 1::bigint AS calls, 1e9::float8 AS total_exec_time, true AS toplevel,
		   'SELECT 1'::text AS query, 0::oid AS dbid, 0::oid AS userid
	 WHERE regress_adv_evil.evil();
RESET ROLE;
SET search_path = regress_adv_evil, pg_catalog, public;
SELECT lives_ok('SELECT * FROM ri_policy.advise()', 'advise() as a superuser under a hostile search_path');
SELECT lives_ok($$SELECT * FROM ri_policy.discover(schema_name => 'regress_adv_sec', all_candidates => true)$$,
				'discover() as a superuser under a hostile search_path: the owner''s equality does not run');
SELECT is((SELECT cost_note FROM ri_policy.advise() WHERE name = 'orders_customer_id_fkey'),
		  'unavailable: pg_stat_statements is not installed in this database; to measure RI cost, add pg_stat_statements to shared_preload_libraries, set pg_stat_statements.track = all, restart, and CREATE EXTENSION pg_stat_statements',
		  'a view called pg_stat_statements is not taken for the extension''s');
RESET search_path;

SELECT set_eq($$SELECT child::text, child_column, parent::text, verdict
				 FROM ri_policy.discover(schema_name => 'regress_adv_sec', all_candidates => true)$$,
			  $$VALUES ('regress_adv_sec.orders', 'buyer_customer_id', 'regress_adv_sec.customers', 'candidate')$$,
			  'the superuser sees the one undeclared relationship; the enum column with its owner''s equality is not probed');
SELECT is((SELECT count(*) FROM ri_policy.advise() WHERE child::text LIKE 'regress_adv_sec.%'), 3::bigint,
		  'and every relationship of the schema');

-- discover() runs as its caller: row-level security applies to what it samples
ALTER TABLE regress_adv_sec.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY few ON regress_adv_sec.customers TO regress_adv_spy USING (id <= 10);
GRANT SELECT ON regress_adv_sec.orders TO regress_adv_spy;
SET ROLE regress_adv_spy;
SELECT is((SELECT verdict FROM ri_policy.discover(schema_name => 'regress_adv_sec', all_candidates => true)
			WHERE child_column = 'buyer_customer_id'), 'rejected',
		  'the caller''s row-level security hides most parents: for the caller the relationship does not hold');
SELECT ok((SELECT fraction < 0.2 FROM ri_policy.discover(schema_name => 'regress_adv_sec', all_candidates => true)
			WHERE child_column = 'buyer_customer_id'), 'its fraction is what the caller can see');
RESET ROLE;

-- pg_stat_statements in a schema the caller may not use: advise() says so
-- rather than fail
CREATE SCHEMA regress_adv_stats;
CREATE EXTENSION pg_stat_statements SCHEMA regress_adv_stats;
GRANT SELECT ON regress_adv_sec.orders TO regress_adv_spy;
SET ROLE regress_adv_spy;
SELECT is((SELECT cost_note FROM ri_policy.advise() WHERE name = 'orders_customer_id_fkey'),
		  'unavailable: you may not read regress_adv_stats.pg_stat_statements',
		  'pg_stat_statements out of the caller''s reach: advise() says so');
RESET ROLE;

-- the functions are SECURITY INVOKER with a fixed search_path
SELECT ok((SELECT bool_and(NOT p.prosecdef AND p.proconfig @> '{"search_path=pg_catalog, pg_temp"}')
			 FROM pg_proc p
			WHERE p.pronamespace = 'ri_policy'::regnamespace
			  AND p.proname IN ('advise', 'discover', '_candidates', '_table_facts', '_covering_index',
								'_create_index', '_tree', '_singular', '_re_quoted', '_re_written')),
		  'advise(), discover() and their helpers run as the caller, with search_path pg_catalog, pg_temp');

SELECT * FROM finish();
ROLLBACK;
