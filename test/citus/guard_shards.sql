-- Warn mode on a node that holds shards of both tables (the coordinator
-- holds a Citus local table's and a reference table's): the copies Citus
-- makes of a foreign key on those shards, in the same backend, are not
-- warned about again: one statement, one warning and one record.  A key
-- on other columns, in the same transaction, still is; block mode still
-- refuses.
-- On a worker, every copy of a key on a shard is recorded under the key it
-- is a copy of, by Citus's metadata (its Citus table, referencing a Citus
-- table, under that table's key's name), once per logical key, role and
-- transaction: also for an ordinary role connecting to the worker directly
-- under Citus's application_name, which is recorded in each transaction,
-- and refused in block mode.  Runs outside a transaction block; cleans up.
SET client_min_messages = error;
SELECT plan(17);

CREATE ROLE regress_citus_warn LOGIN;
GRANT CREATE ON SCHEMA public TO regress_citus_warn;
ALTER ROLE regress_citus_warn SET ri_policy.mode = 'warn';
CREATE FUNCTION pg_temp.as_role(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	msg text;
BEGIN
	PERFORM dblink_exec(format('host=%s port=%s dbname=%s user=regress_citus_warn',
							   split_part(current_setting('unix_socket_directories'), ',', 1),
							   current_setting('port'), current_database()), sql);
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
	RETURN SQLSTATE || ': ' || msg;
END $$;
CREATE FUNCTION pg_temp.warned(pattern text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(constraint_name || ' on ' || table_name, ', ' ORDER BY constraint_name), '')
	  FROM ri_policy.warned WHERE constraint_name LIKE pattern $$;

SET ROLE regress_citus_warn;
CREATE TABLE gs_ref (id int PRIMARY KEY, code int UNIQUE);
SELECT create_reference_table('gs_ref');
CREATE TABLE gs_child (id int, pid int, code int);
SELECT citus_add_local_table_to_metadata('gs_child');
RESET ROLE;

-- a Citus local table's key: its copy on the shard is the same decision
SELECT is(pg_temp.as_role('ALTER TABLE gs_child ADD CONSTRAINT gs_fk FOREIGN KEY (pid) REFERENCES gs_ref (id)'),
		  'ok', 'warn: the key is created');
SELECT is(pg_temp.warned('gs_fk%'), 'gs_fk on public.gs_child',
		  'one statement, one record: none for the copy on the shard');
SELECT is((SELECT count(*) FROM pg_constraint WHERE conname LIKE 'gs_fk%'), 2::bigint,
		  'the key and its copy on the shard exist');

-- in one transaction, a key on other columns is another decision
SELECT is(pg_temp.as_role($q$DO $do$BEGIN
	ALTER TABLE gs_child ADD CONSTRAINT gs_fk2 FOREIGN KEY (pid) REFERENCES gs_ref (id);
	ALTER TABLE gs_child ADD CONSTRAINT gs_fk2_x FOREIGN KEY (code) REFERENCES gs_ref (code);
	END$do$$q$), 'ok', 'two keys in one transaction');
SELECT is(pg_temp.warned('gs_fk2%'), 'gs_fk2 on public.gs_child, gs_fk2_x on public.gs_child',
		  'each key recorded once, neither taken for the other''s copy');

-- on a worker
SET ROLE regress_citus_warn;
CREATE TABLE gds_child (id int, pid int, code int);
SELECT create_distributed_table('gds_child', 'id', shard_count => 4);
RESET ROLE;

CREATE FUNCTION pg_temp.worker(who text, extra text) RETURNS text LANGUAGE sql AS $$
	SELECT format('host=%s port=%s dbname=%s user=%s %s',
				  split_part(current_setting('unix_socket_directories'), ',', 1),
				  (SELECT nodeport FROM pg_dist_node WHERE groupid > 0 ORDER BY nodeport LIMIT 1),
				  current_database(), who, extra)$$;
-- as the role, directly, claiming to be Citus
CREATE FUNCTION pg_temp.on_worker(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	msg text;
BEGIN
	PERFORM dblink_exec(pg_temp.worker('regress_citus_warn',
									   'application_name=''citus_internal gpid=10000000001'''), sql);
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
	RETURN SQLSTATE || ': ' || msg;
END $$;
CREATE FUNCTION pg_temp.worker_query(sql text) RETURNS text LANGUAGE sql AS $$
	SELECT r FROM dblink(pg_temp.worker('postgres', ''), sql) AS t(r text) $$;
-- the worker's records of a key, distinct
CREATE FUNCTION pg_temp.worker_warned(pattern text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.worker_query(format($q$
		SELECT coalesce(string_agg(DISTINCT format('%%s on %%s to %%s by %%s', constraint_name,
												   table_name, referenced_table, effective_role),
								   ', '), '')
		  FROM ri_policy.warned WHERE constraint_name LIKE %L$q$, pattern)) $$;
-- ... how many, and in how many transactions
CREATE FUNCTION pg_temp.worker_counts(pattern text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.worker_query(format($q$
		SELECT count(*) || ' in ' || count(DISTINCT xmin::text)
		  FROM ri_policy._warned WHERE constraint_name LIKE %L$q$, pattern)) $$;
-- the statements that add key "name" on column "col" to "n" of the
-- child's shards on the worker (after the first "skip"), referencing the
-- reference table's shard, named as Citus names the copies
CREATE FUNCTION pg_temp.shard_keys(name text, n int, col text DEFAULT 'pid', skip int DEFAULT 0)
RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(format('ALTER TABLE gds_child_%s ADD CONSTRAINT %I FOREIGN KEY (%I) REFERENCES gs_ref_%s (%I);',
							 s.shardid, name || '_' || s.shardid, col,
							 (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'gs_ref'::regclass),
							 CASE col WHEN 'pid' THEN 'id' ELSE col END),
					  ' ' ORDER BY s.shardid)
	  FROM (SELECT s.shardid FROM pg_dist_shard s
			  JOIN pg_dist_placement p USING (shardid)
			  JOIN pg_dist_node d ON d.groupid = p.groupid
			 WHERE s.logicalrelid = 'gds_child'::regclass
			   AND d.nodeport = (SELECT nodeport FROM pg_dist_node WHERE groupid > 0 ORDER BY nodeport LIMIT 1)
			 ORDER BY s.shardid LIMIT n OFFSET skip) s $$;

-- through Citus: the shell's key and its copies on the worker's shards
SELECT is(pg_temp.as_role('ALTER TABLE gds_child ADD CONSTRAINT gds_fk FOREIGN KEY (pid) REFERENCES gs_ref (id)'),
		  'ok', 'warn: a distributed table''s key is created through Citus');
SELECT is(pg_temp.worker_warned('gds\_fk%'), 'gds_fk on public.gds_child to public.gs_ref by regress_citus_warn',
		  'the worker records the copies under the key''s own names');
SELECT ok(split_part(pg_temp.worker_counts('gds\_fk%'), ' in ', 1) =
		  split_part(pg_temp.worker_counts('gds\_fk%'), ' in ', 2),
		  'once per transaction of Citus''s on the worker');

-- directly on the worker, under Citus's application_name: the role is
-- recorded, under the logical key, once in one transaction
SELECT is(pg_temp.on_worker('BEGIN; ' || pg_temp.shard_keys('gds_w', 2) || ' COMMIT'),
		  'ok', 'warn: keys on two shards, directly, in one transaction');
SELECT is(pg_temp.worker_warned('gds\_w%'), 'gds_w on public.gds_child to public.gs_ref by regress_citus_warn',
		  'recorded under the logical key');
SELECT is(pg_temp.worker_counts('gds\_w%'), '1 in 1', 'once in that transaction');

-- ... and in each transaction
SELECT is(pg_temp.on_worker(replace(pg_temp.shard_keys('gds_v', 2), ';', '; COMMIT; BEGIN;')),
		  'ok', 'warn: keys on two shards, directly, in two transactions');
SELECT is(pg_temp.worker_counts('gds\_v%'), '2 in 2', 'each transaction records the key');

-- ... and a key of the same name on other columns is another key
SELECT is(pg_temp.on_worker('BEGIN; ' || pg_temp.shard_keys('gds_c', 1) ||
							pg_temp.shard_keys('gds_c', 1, 'code', 1) || ' COMMIT'),
		  'ok', 'warn: keys named alike on other columns of two shards, in one transaction');
SELECT is(pg_temp.worker_counts('gds\_c%'), '2 in 1', 'each key recorded');

-- block mode: refused, whoever the role claims to be
ALTER ROLE regress_citus_warn SET ri_policy.mode = 'block';
SELECT alike(pg_temp.on_worker(pg_temp.shard_keys('gds_b', 1)),
			 '42501: foreign key constraint "gds\_b\_%" on table "gds\_child\_%" referencing table "gs\_ref\_%" is not allowed',
			 'block: a key on a shard, directly, is refused');
SELECT is(pg_temp.worker_query('SELECT count(*)::text FROM pg_constraint WHERE conname LIKE ''gds\_b%'''),
		  '0', 'block: no key on the shard');
ALTER ROLE regress_citus_warn SET ri_policy.mode = 'warn';

DROP TABLE gds_child;
SELECT run_command_on_workers($$DELETE FROM ri_policy._warned WHERE constraint_name LIKE 'gds\_%'$$);
DROP TABLE gs_child, gs_ref;
DELETE FROM ri_policy._warned WHERE constraint_name LIKE 'gs_fk%';
ALTER ROLE regress_citus_warn RESET ri_policy.mode;
REVOKE CREATE ON SCHEMA public FROM regress_citus_warn;
DROP ROLE regress_citus_warn;
SELECT * FROM finish();
