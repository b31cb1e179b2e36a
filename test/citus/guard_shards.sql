-- Warn mode on a node that holds shards of both tables (the coordinator
-- holds a Citus local table's and a reference table's): the copies Citus
-- makes of a foreign key on those shards, in the same backend, are not
-- warned about again: one statement, one warning and one record.  A key
-- on other columns, in the same transaction, still is; block mode still
-- refuses.  Runs outside a transaction block; cleans up.
SET client_min_messages = error;
SELECT plan(5);

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

DROP TABLE gs_child, gs_ref;
DELETE FROM ri_policy._warned WHERE constraint_name LIKE 'gs_fk%';
ALTER ROLE regress_citus_warn RESET ri_policy.mode;
REVOKE CREATE ON SCHEMA public FROM regress_citus_warn;
DROP ROLE regress_citus_warn;
SELECT * FROM finish();
