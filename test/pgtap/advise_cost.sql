-- advise()'s RI cost figures under a real write load, from
-- pg_stat_statements with track = all (make test preloads it): child
-- inserts run PostgreSQL's parent lookup once per row, parent deletes its
-- check or action on the child, and a key whose lookup is a large share of
-- the child's write time is one to consider demoting.  The writes must be
-- committed statements of their own for the statistics to count them, so
-- this runs outside a transaction block and cleans up after itself.
-- Where pg_stat_statements is not preloaded, the first test fails (never a
-- silent skip) and the second checks that advise() says so and how to
-- enable it.
SELECT plan(14);

SELECT current_setting('shared_preload_libraries') ~ 'pg_stat_statements'
	   AND current_setting('pg_stat_statements.track', true) IS NOT DISTINCT FROM 'all' AS pgss_ok \gset
SELECT ok(:'pgss_ok'::boolean, 'pg_stat_statements is preloaded with track = all (make test sets it up)');
-- without it, that one test fails and the rest check what advise() says
-- then, in a transaction rolled back
\if :pgss_ok
CREATE TEMP TABLE had_pgss AS SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS yes;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE SCHEMA regress_cost;
CREATE TABLE regress_cost."Pa.r+ent" (id bigint PRIMARY KEY);
INSERT INTO regress_cost."Pa.r+ent" SELECT generate_series(1, 1000);
-- hot: many single-row inserts; a cascade on parent deletes; names full of
-- what regular expressions and SQL quote (the RI queries are found by
-- their text)
CREATE TABLE regress_cost."Hot.C*hi|ld (1)$" (id bigserial, "parent.id*" bigint
	REFERENCES regress_cost."Pa.r+ent" ON DELETE CASCADE);
CREATE INDEX ON regress_cost."Hot.C*hi|ld (1)$" ("parent.id*");
-- quiet: a few rows, and the parent's deletes check it (no action)
CREATE TABLE regress_cost.quiet (parent_id bigint REFERENCES regress_cost."Pa.r+ent");
CREATE INDEX ON regress_cost.quiet (parent_id);
INSERT INTO regress_cost.quiet VALUES (1), (2);
SELECT pg_stat_statements_reset();

-- the write load: committed statements, a thousand rows each
INSERT INTO regress_cost."Hot.C*hi|ld (1)$" ("parent.id*") SELECT 1 + g % 1000 FROM generate_series(1, 1000) g;
INSERT INTO regress_cost."Hot.C*hi|ld (1)$" ("parent.id*") SELECT 1 + g % 1000 FROM generate_series(1, 1000) g;
INSERT INTO regress_cost."Hot.C*hi|ld (1)$" ("parent.id*") SELECT 1 + g % 1000 FROM generate_series(1, 1000) g;
INSERT INTO regress_cost."Hot.C*hi|ld (1)$" ("parent.id*") SELECT 1 + g % 1000 FROM generate_series(1, 1000) g;
INSERT INTO regress_cost."Hot.C*hi|ld (1)$" ("parent.id*") SELECT 1 + g % 1000 FROM generate_series(1, 1000) g;
UPDATE regress_cost."Hot.C*hi|ld (1)$" SET "parent.id*" = 1 + ("parent.id*" + 1) % 1000 WHERE id % 10 = 0;
DELETE FROM regress_cost."Pa.r+ent" WHERE id BETWEEN 900 AND 999;
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(0.1);

CREATE TEMP TABLE a AS
SELECT * FROM ri_policy.advise() WHERE child::text LIKE 'regress_cost.%';

SELECT is((SELECT count(*) FROM a), 2::bigint, 'two keys');
-- the lookup ran once per inserted row and once per key update, and once
-- per deleted parent row for the other key's NO ACTION (which looks for
-- another parent row with the same key, by the same query); from
-- PostgreSQL 19 on it is a direct index probe that no statistics show
SELECT CASE WHEN current_setting('server_version_num')::int < 190000
	THEN is((SELECT ri_check_calls FROM a WHERE child = 'regress_cost."Hot.C*hi|ld (1)$"'::regclass),
			5600::bigint, 'the parent lookup: once per inserted row, updated key and no-action delete')
	ELSE ok((SELECT ri_check_calls IS NULL AND cost_note LIKE '%PostgreSQL 19%'
			   FROM a WHERE child = 'regress_cost."Hot.C*hi|ld (1)$"'::regclass),
			'PostgreSQL 19: the parent lookup is unmeasured, and the note says why') END;
SELECT CASE WHEN current_setting('server_version_num')::int < 190000
	THEN ok((SELECT ri_check_ms > 0 AND child_write_ms > ri_check_ms AND ri_share > 0 AND ri_share < 1
			   FROM a WHERE child = 'regress_cost."Hot.C*hi|ld (1)$"'::regclass),
			'its time, and its share of the time of writes to the child')
	ELSE pass('PostgreSQL 19: no share without the lookup') END;
SELECT is((SELECT ri_action_calls FROM a WHERE child = 'regress_cost."Hot.C*hi|ld (1)$"'::regclass),
		  100::bigint, 'the cascade: once per deleted parent row');
SELECT is((SELECT ri_action_calls FROM a WHERE child = 'regress_cost.quiet'::regclass),
		  100::bigint, 'the no-action check on the other child: once per deleted parent row');
SELECT ok((SELECT ri_action_ms > 0 FROM a WHERE child = 'regress_cost.quiet'::regclass),
		  'and its time');
SELECT CASE WHEN current_setting('server_version_num')::int < 190000
	THEN alike((SELECT cost_note FROM a WHERE child = 'regress_cost.quiet'::regclass),
			   '%the parent lookup is one query for every enforced key on regress_cost."Pa.r+ent" (id), 2 of them here%',
			   'the note says the lookup is shared with the other key')
	ELSE pass('PostgreSQL 19: no lookup to share') END;
SELECT is((SELECT child_inserts FROM a WHERE child = 'regress_cost."Hot.C*hi|ld (1)$"'::regclass),
		  5000::bigint, 'child inserts');
SELECT is((SELECT (child_updates, parent_deletes) FROM a WHERE child = 'regress_cost."Hot.C*hi|ld (1)$"'::regclass),
		  (500::bigint, 100::bigint), 'child updates and parent deletes');
SELECT CASE WHEN current_setting('server_version_num')::int < 190000
	THEN is((SELECT recommendation FROM a WHERE child = 'regress_cost."Hot.C*hi|ld (1)$"'::regclass),
			'consider demote', 'a lookup that is a large share of the child''s writes: consider demote')
	ELSE pass('PostgreSQL 19: nothing to weigh') END;
SELECT is((SELECT recommendation FROM a WHERE child = 'regress_cost.quiet'::regclass), 'keep',
		  'a quiet child: keep');

-- an ordinary role that may read one child learns nothing of the other
-- key from the note, and is told that it sees only its own statements
CREATE ROLE regress_cost_spy;
GRANT USAGE ON SCHEMA regress_cost TO regress_cost_spy;
GRANT SELECT ON regress_cost."Pa.r+ent", regress_cost.quiet TO regress_cost_spy;
SET ROLE regress_cost_spy;
SELECT is((SELECT array_agg(name) FROM ri_policy.advise() WHERE child::text LIKE 'regress_cost.%'),
		  '{quiet_parent_id_fkey}', 'the spy sees the key it may read');
SELECT ok((SELECT cost_note LIKE '%only statements of roles whose statistics you may read are counted (pg_read_all_stats sees all)'
				   AND cost_note NOT LIKE '%parent lookup%'
			  FROM ri_policy.advise() WHERE child = 'regress_cost.quiet'::regclass),
		  'its note does not count the key on a child it may not read, and says what it sees');
RESET ROLE;
DROP OWNED BY regress_cost_spy;
DROP ROLE regress_cost_spy;

DROP SCHEMA regress_cost CASCADE;
DO $$ BEGIN IF NOT (SELECT yes FROM had_pgss) THEN DROP EXTENSION pg_stat_statements; END IF; END $$;
\else
BEGIN;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE pg_temp.p (id int PRIMARY KEY);
CREATE TABLE pg_temp.c (p int REFERENCES pg_temp.p);
SELECT cost_note AS note FROM ri_policy.advise() WHERE child = 'pg_temp.c'::regclass \gset
ROLLBACK;
SELECT is(:'note'::text,
		  'unavailable: pg_stat_statements is installed but not loaded; add it to shared_preload_libraries, '
		  'set pg_stat_statements.track = all, and restart',
		  'not preloaded: advise() says the figures are unavailable, and how to enable them');
SELECT skip('pg_stat_statements is not preloaded', 12);
\endif
SELECT * FROM finish();
