-- ri_policy demo.  Run with: make demo
\set ECHO queries
\set VERBOSITY default
\pset footer off

\echo
\echo '== 1. Install the extension (a superuser does this once per database)'
CREATE EXTENSION ri_policy;

\echo
\echo '== 2. Three teams, three policies, set per role with ALTER ROLE ... SET'
CREATE ROLE app_allow LOGIN;
CREATE ROLE app_warn LOGIN;
CREATE ROLE app_block LOGIN;
ALTER ROLE app_warn SET ri_policy.mode = 'warn';
ALTER ROLE app_block SET ri_policy.mode = 'block';
CREATE SCHEMA shop;
GRANT USAGE, CREATE ON SCHEMA shop TO app_allow, app_warn, app_block;
CREATE TABLE shop.customers (id bigint PRIMARY KEY, name text);
GRANT SELECT, REFERENCES ON shop.customers TO app_allow, app_warn, app_block;
SELECT rolname, setting FROM pg_roles r
  LEFT JOIN LATERAL (SELECT unnest(s.setconfig) AS setting FROM pg_db_role_setting s
                      WHERE s.setrole = r.oid) x ON true
 WHERE rolname LIKE 'app_%' ORDER BY rolname;

\echo
\echo '== 3. app_allow (the default): foreign keys are created silently'
\c - app_allow
CREATE TABLE shop.orders_allow (id bigint PRIMARY KEY,
                                customer_id bigint REFERENCES shop.customers);

\echo
\echo '== 4. app_warn: foreign keys are created, each with a WARNING naming it'
\c - app_warn
CREATE TABLE shop.orders_warn (id bigint PRIMARY KEY,
                               customer_id bigint REFERENCES shop.customers);
ALTER TABLE shop.orders_warn ADD COLUMN referrer_id bigint REFERENCES shop.customers;

\echo
\echo '== 5. app_block: every way of creating one fails with SQLSTATE 42501, before any work'
\c - app_block
CREATE TABLE shop.orders_block (id bigint PRIMARY KEY,
                                customer_id bigint REFERENCES shop.customers);
CREATE TABLE shop.orders_block (id bigint PRIMARY KEY, customer_id bigint);
ALTER TABLE shop.orders_block ADD CONSTRAINT orders_block_customer_fk
    FOREIGN KEY (customer_id) REFERENCES shop.customers NOT VALID;
DO $$ BEGIN
    EXECUTE 'ALTER TABLE shop.orders_block ADD FOREIGN KEY (customer_id) REFERENCES shop.customers';
END $$;

\echo
\echo '-- ... and the role cannot switch the policy off for itself'
SET ri_policy.mode = 'allow';
ALTER ROLE app_block SET ri_policy.mode = 'allow';
DROP EXTENSION ri_policy;

\echo
\echo '-- DDL that creates no foreign key is untouched'
CREATE INDEX ON shop.orders_block (customer_id);

\echo
\echo '== 6. The middle ground: app_block declares the relationship instead'
\c - app_block
SELECT ri_policy.declare_reference('shop.orders_block', '{customer_id}', 'shop.customers');

\echo
\echo '-- orders arrive, and some reference customers that do not exist (nothing stops them)'
INSERT INTO shop.orders_block
SELECT g, CASE WHEN g % 500 = 0 THEN 1000 + g % 7 ELSE g % 100 + 1 END
  FROM generate_series(1, 50000) g;
\c - postgres
INSERT INTO shop.customers SELECT g, 'customer ' || g FROM generate_series(1, 100) g;
\c - app_block

\echo
\echo '-- validate later, in batches that each commit (here 5,000 rows a batch)'
CALL ri_policy.validate('orders_block_customer_id_ref', batch_size => 5000);
SELECT reference, status, batches, rows_checked, percent, orphan_keys
  FROM ri_policy.validation_progress;
SELECT key, child_rows FROM ri_policy.violations ORDER BY key;

\echo
\echo '-- a customer appears; the next pass drops that key from the violations'
\c - postgres
INSERT INTO shop.customers VALUES (1000, 'late customer');
\c - app_block
CALL ri_policy.validate('orders_block_customer_id_ref');
SELECT key, child_rows FROM ri_policy.violations ORDER BY key;

\echo
\echo '-- ri_policy.orphans() answers the same question now, in one read-only transaction'
SELECT * FROM ri_policy.orphans('orders_block_customer_id_ref') ORDER BY key LIMIT 3;

\echo
\echo '== 7. Every relationship in the database, enforced or declared'
SELECT name, child, child_columns, parent, kind, last_validated IS NOT NULL AS validated,
       orphan_keys, orphan_rows
  FROM ri_policy.references ORDER BY name;

\echo
\echo '== 8. Live with it: track changes, repair lazily, promote, demote'
\c - postgres
GRANT TRIGGER ON shop.customers TO app_block;
\c - app_block
CREATE INDEX ON shop.orders_block (customer_id);
SELECT ri_policy.track('orders_block_customer_id_ref');
CALL ri_policy.validate('orders_block_customer_id_ref');   -- full, the first time after track()
INSERT INTO shop.orders_block VALUES (60001, 2000), (60002, 42);
CALL ri_policy.validate('orders_block_customer_id_ref');   -- re-checks only the keys that changed
SELECT status, batches, rows_checked AS keys_rechecked, orphan_keys
  FROM ri_policy.validation_progress;

\echo
\echo '-- the deferred cascade: delete the orphans still without a customer, in committed batches'
CALL ri_policy.repair('orders_block_customer_id_ref', 'delete');
CALL ri_policy.validate('orders_block_customer_id_ref');
SELECT count(*) AS orphans_left FROM ri_policy.violations;

\echo
\echo '-- promote it to a real foreign key online (app_block is blocked from that) ...'
SELECT ri_policy.promote('orders_block_customer_id_ref');
\c - postgres
SELECT ri_policy.promote('orders_block_customer_id_ref');
SELECT name, kind FROM ri_policy.references WHERE child = 'shop.orders_block'::regclass;

\echo
\echo '-- ... and demote it again: the relationship stays declared'
SELECT ri_policy.demote('shop.orders_block', 'orders_block_customer_id_ref');
SELECT name, kind FROM ri_policy.references WHERE child = 'shop.orders_block'::regclass;

\echo
\echo '== 9. Deciding per relationship: what each key costs, and what was never written down'
\c - postgres
-- pg_stat_statements (preloaded by make demo, with track = all) measures
-- PostgreSQL's own RI queries
CREATE EXTENSION pg_stat_statements;
SELECT pg_stat_statements_reset() IS NOT NULL AS reset;
\c - app_allow
-- a write load on a child whose key is enforced: every row looks up its customer
INSERT INTO shop.orders_allow SELECT g, 1 + g % 100 FROM generate_series(1, 20000) g;
INSERT INTO shop.orders_allow SELECT g, 1 + g % 100 FROM generate_series(20001, 40000) g;
\c - postgres
-- relationships nobody declared: one real, one whose name misleads
CREATE TABLE shop.statuses (id int PRIMARY KEY);
INSERT INTO shop.statuses SELECT generate_series(100, 104);
CREATE TABLE shop.invoices (id bigint PRIMARY KEY, customer_id bigint, status_id int);
INSERT INTO shop.invoices SELECT g, 1 + g % 100, g % 5 FROM generate_series(1, 5000) g;
ANALYZE;
\c - app_block
CALL ri_policy.validate('orders_block_customer_id_ref');
\c - postgres

\echo
\echo '-- advise(): one row per foreign key and declared reference, with a recommendation and its reason'
SELECT name, child, child_rows, child_index, ri_check_calls, ri_share, recommendation
  FROM ri_policy.advise() ORDER BY child::text, name;
\x on
SELECT name, create_index, ri_check_ms, child_write_ms, cost_note, reason
  FROM ri_policy.advise() WHERE name IN ('orders_allow_customer_id_fkey', 'orders_block_customer_id_ref');
\x off

\echo
\echo '-- take the advice: the index, built without blocking writers; then the key is weighed on its cost'
SELECT create_index FROM ri_policy.advise() WHERE name = 'orders_allow_customer_id_fkey' \gexec
SELECT name, recommendation, reason FROM ri_policy.advise() WHERE name = 'orders_allow_customer_id_fkey';

\echo
\echo '-- discover(): candidates from names and types, decided by a sample of the data'
SELECT child, child_column, parent, parent_column, name_rule, sampled, fraction, verdict
  FROM ri_policy.discover(all_candidates => true);
SELECT declare_call FROM ri_policy.discover();
