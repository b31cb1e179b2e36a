-- advise() on a planted schema: one row per relationship, with the facts
-- and the expected recommendation for each case: enforced keys with and
-- without a child index (the exact CREATE INDEX CONCURRENTLY, and for a
-- partitioned child the statements that build it without blocking
-- writes), a NOT VALID key, declared references never validated, with
-- orphans, clean and indexed, clean without an index, tracked.  Without
-- pg_stat_statements in the database, the cost figures say so and how to
-- enable them (test/pgtap/advise_cost.sql measures them).  Runs in one
-- transaction, rolled back.
BEGIN;
SELECT plan(21);

CREATE SCHEMA regress_adv;
CREATE TABLE regress_adv.customers (id bigint PRIMARY KEY);
INSERT INTO regress_adv.customers SELECT generate_series(1, 100);
-- enforced, indexed; enforced, unindexed; NOT VALID
CREATE TABLE regress_adv.orders (id int PRIMARY KEY, customer_id bigint REFERENCES regress_adv.customers);
CREATE INDEX ON regress_adv.orders (customer_id);
CREATE TABLE regress_adv."Lines" (id int, "Customer Id" bigint,
	CONSTRAINT lines_fk FOREIGN KEY ("Customer Id") REFERENCES regress_adv.customers);
CREATE TABLE regress_adv.notes (id int, customer_id bigint);
ALTER TABLE regress_adv.notes ADD CONSTRAINT notes_fk FOREIGN KEY (customer_id)
	REFERENCES regress_adv.customers NOT VALID;
-- a two-column key whose index has its columns the other way round
CREATE TABLE regress_adv.pairs (a int, b int, PRIMARY KEY (a, b));
CREATE TABLE regress_adv.pair_refs (x int, b int, a int, FOREIGN KEY (a, b) REFERENCES regress_adv.pairs);
CREATE INDEX ON regress_adv.pair_refs (b, a, x);
-- a partitioned child without an index
CREATE TABLE regress_adv.visits (day int, customer_id bigint REFERENCES regress_adv.customers)
	PARTITION BY RANGE (day);
CREATE TABLE regress_adv.visits_1 PARTITION OF regress_adv.visits FOR VALUES FROM (0) TO (10);
CREATE TABLE regress_adv.visits_2 PARTITION OF regress_adv.visits FOR VALUES FROM (10) TO (20);
-- declared: never validated; with orphans; clean and indexed (tracked);
-- clean without an index
CREATE TABLE regress_adv.d_new (customer_id bigint);
CREATE TABLE regress_adv.d_orphans (customer_id bigint);
INSERT INTO regress_adv.d_orphans VALUES (1), (1000), (1000), (2000);
CREATE TABLE regress_adv.d_clean (customer_id bigint);
INSERT INTO regress_adv.d_clean SELECT 1 + g % 100 FROM generate_series(1, 1000) g;
CREATE INDEX ON regress_adv.d_clean (customer_id);
CREATE TABLE regress_adv.d_noidx (customer_id bigint);
INSERT INTO regress_adv.d_noidx VALUES (5);
CREATE INDEX ON regress_adv.d_noidx (customer_id) WHERE customer_id > 10;	-- partial: no use
SELECT ri_policy.declare_reference('regress_adv.d_new', '{customer_id}', 'regress_adv.customers', name => 'd_new');
SELECT ri_policy.declare_reference('regress_adv.d_orphans', '{customer_id}', 'regress_adv.customers', name => 'd_orphans');
SELECT ri_policy.declare_reference('regress_adv.d_clean', '{customer_id}', 'regress_adv.customers', name => 'd_clean');
SELECT ri_policy.declare_reference('regress_adv.d_noidx', '{customer_id}', 'regress_adv.customers', name => 'd_noidx');
SELECT ri_policy.track('d_clean');
CALL ri_policy.validate('d_orphans');
CALL ri_policy.validate('d_clean');
CALL ri_policy.validate('d_noidx');
ANALYZE regress_adv.customers, regress_adv.d_clean;

CREATE TEMP TABLE a AS
SELECT * FROM ri_policy.advise() WHERE child::text LIKE 'regress_adv.%';

SELECT is((SELECT count(*) FROM a), 9::bigint, 'one row per relationship');
SELECT set_eq($$SELECT name, recommendation FROM a$$,
			  $$VALUES ('orders_customer_id_fkey', 'keep'), ('lines_fk', 'index child'),
					   ('notes_fk', 'validate'), ('pair_refs_a_b_fkey', 'keep'),
					   ('visits_customer_id_fkey', 'index child'),
					   ('d_new', 'validate'), ('d_orphans', 'keep'), ('d_clean', 'promote'),
					   ('d_noidx', 'index child')$$,
			  'each planted case gets its recommendation');
SELECT ok((SELECT bool_and(recommendation IN ('keep', 'index child', 'promote', 'consider demote', 'validate')
						   AND reason <> '') FROM ri_policy.advise()),
		  'recommendations come from the fixed vocabulary, each with a reason');

SELECT is((SELECT create_index FROM a WHERE name = 'lines_fk'),
		  'CREATE INDEX CONCURRENTLY ON regress_adv."Lines" ("Customer Id");',
		  'the exact CREATE INDEX CONCURRENTLY, identifiers quoted');
SELECT is((SELECT child_index FROM a WHERE name = 'orders_customer_id_fkey'),
		  'regress_adv.orders_customer_id_idx'::regclass, 'the index that covers it');
SELECT is((SELECT child_index FROM a WHERE name = 'pair_refs_a_b_fkey'),
		  'regress_adv.pair_refs_b_a_x_idx'::regclass, 'leading columns in another order cover it');
SELECT ok((SELECT create_index IS NULL FROM a WHERE name = 'orders_customer_id_fkey'),
		  'no statement where an index exists');
SELECT alike((SELECT reason FROM a WHERE name = 'lines_fk'),
			'no index on regress_adv."Lines" (Customer Id): each DELETE or key UPDATE on regress_adv.customers scans%',
			'the reason says what an unindexed key costs');
SELECT is((SELECT create_index FROM a WHERE name = 'visits_customer_id_fkey'),
		  array_to_string(ARRAY[
			'CREATE INDEX visits_customer_id_idx ON ONLY regress_adv.visits (customer_id);',
			'CREATE INDEX CONCURRENTLY visits_1_customer_id_idx ON regress_adv.visits_1 (customer_id);',
			'ALTER INDEX regress_adv.visits_customer_id_idx ATTACH PARTITION regress_adv.visits_1_customer_id_idx;',
			'CREATE INDEX CONCURRENTLY visits_2_customer_id_idx ON regress_adv.visits_2 (customer_id);',
			'ALTER INDEX regress_adv.visits_customer_id_idx ATTACH PARTITION regress_adv.visits_2_customer_id_idx;'],
			E'\n'),
		  'a partitioned child: ON ONLY, then each partition concurrently, attached, one statement a line');
SELECT ok((SELECT child_index IS NULL AND create_index LIKE 'CREATE INDEX CONCURRENTLY ON regress_adv.d_noidx (customer_id);'
			 FROM a WHERE name = 'd_noidx'), 'a partial index does not cover it');

-- the statements do what they say (CONCURRENTLY left out: this test runs
-- in a transaction block)
DO $$ DECLARE s text; BEGIN
	FOREACH s IN ARRAY string_to_array((SELECT create_index FROM a WHERE name = 'visits_customer_id_fkey'), E'\n') LOOP
		EXECUTE replace(s, 'CONCURRENTLY ', '');
	END LOOP;
END $$;
SELECT is((SELECT child_index FROM ri_policy.advise() WHERE name = 'visits_customer_id_fkey'),
		  'regress_adv.visits_customer_id_idx'::regclass,
		  'run, they give the partitioned child a valid index that covers the key');

-- the facts of declared references
SELECT is((SELECT (orphan_keys, orphan_rows, tracked) FROM a WHERE name = 'd_orphans'),
		  (2::bigint, 3::bigint, false), 'orphans of the last validation, not tracked');
SELECT is((SELECT (orphan_keys, tracked, last_validated IS NOT NULL) FROM a WHERE name = 'd_clean'),
		  (0::bigint, true, true), 'a clean tracked reference');
SELECT alike((SELECT reason FROM a WHERE name = 'd_clean'),
			'no orphans at the last validation (%), tracked, indexed, %: SELECT ri_policy.promote(''d_clean'') enforces it online',
			'promote says why it is cheap and safe, and how');
SELECT is((SELECT (child_rows, parent_rows) FROM a WHERE name = 'd_clean'), (1000::bigint, 100::bigint),
		  'row estimates of child and parent');
SELECT ok((SELECT child_bytes > 0 AND parent_bytes > 0 FROM a WHERE name = 'd_clean'), 'sizes');
SELECT ok((SELECT tracked IS NULL FROM a WHERE name = 'orders_customer_id_fkey'), 'tracked is for declared references');
SELECT alike((SELECT reason FROM a WHERE name = 'd_new'), 'never validated%CALL ri_policy.validate(''d_new'')',
			'validate, and how');

-- without pg_stat_statements in this database the figures are NULL, and
-- the note says why and how to enable them
SELECT ok((SELECT bool_and(ri_check_calls IS NULL AND ri_action_ms IS NULL AND ri_share IS NULL)
			 FROM a), 'no cost figures without pg_stat_statements');
SELECT is((SELECT cost_note FROM a WHERE name = 'orders_customer_id_fkey'),
		  'unavailable: pg_stat_statements is not installed in this database; to measure RI cost, '
		  'add pg_stat_statements to shared_preload_libraries, set pg_stat_statements.track = all, '
		  'restart, and CREATE EXTENSION pg_stat_statements',
		  'the note says the figure is unavailable and how to enable it');
SELECT is((SELECT cost_note FROM a WHERE name = 'd_clean'),
		  'not enforced: PostgreSQL runs no RI queries for it', 'a declared reference costs no RI queries');

SELECT * FROM finish();
ROLLBACK;
