-- discover() lists its candidates first and probes them later: a table
-- owner who changes a column's type meanwhile (to a type of their own with
-- an implicit cast of their own) must not get the probe to run that cast as
-- the caller.  Each candidate is checked again once discover() holds its
-- locks.  A second session through dblink makes the change while
-- discover() waits for its lock; runs outside a transaction block and
-- cleans up after itself.
SELECT plan(4);

CREATE ROLE regress_dr_owner;
CREATE SCHEMA regress_dr AUTHORIZATION regress_dr_owner;
SET ROLE regress_dr_owner;
CREATE TYPE regress_dr.e AS ENUM ('a', 'b');
-- the owner's casts, which raise when anyone else runs them
CREATE FUNCTION regress_dr.trap_e(regress_dr.e) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF current_user <> 'regress_dr_owner' THEN
		RAISE EXCEPTION 'the owner''s cast ran as %', current_user;
	END IF;
	RETURN 1;
END $$;
CREATE FUNCTION regress_dr.trap_i(int) RETURNS regress_dr.e LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF current_user <> 'regress_dr_owner' THEN
		RAISE EXCEPTION 'the owner''s cast ran as %', current_user;
	END IF;
	RETURN 'a';
END $$;
CREATE CAST (regress_dr.e AS int) WITH FUNCTION regress_dr.trap_e(regress_dr.e) AS IMPLICIT;
CREATE CAST (int AS regress_dr.e) WITH FUNCTION regress_dr.trap_i(int) AS IMPLICIT;
CREATE TABLE regress_dr.customers (id int PRIMARY KEY);
INSERT INTO regress_dr.customers SELECT generate_series(1, 100);
CREATE TABLE regress_dr.orders (id int PRIMARY KEY, customer_id int);
INSERT INTO regress_dr.orders SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
CREATE TABLE regress_dr.regions (id int PRIMARY KEY);
INSERT INTO regress_dr.regions SELECT generate_series(1, 100);
CREATE TABLE regress_dr.stores (id int PRIMARY KEY, region_id int);
INSERT INTO regress_dr.stores SELECT g, 1 + g % 100 FROM generate_series(1, 500) g;
GRANT USAGE ON SCHEMA regress_dr TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA regress_dr TO PUBLIC;
RESET ROLE;
ANALYZE regress_dr.customers, regress_dr.orders, regress_dr.regions, regress_dr.stores;

CREATE FUNCTION pg_temp.connect(name text) RETURNS text LANGUAGE sql AS $$
	SELECT dblink_connect(name, format('host=%s port=%s dbname=%s',
		split_part(current_setting('unix_socket_directories'), ',', 1),
		current_setting('port'), current_database()))
$$;
SELECT pg_temp.connect('dr');
-- the owner changes the child's column and, in another candidate, the
-- parent's key, uncommitted when discover() lists its candidates, and
-- commits while discover() waits for the lock
SELECT dblink_exec('dr', 'SET ROLE regress_dr_owner');
SELECT dblink_exec('dr', 'BEGIN');
SELECT dblink_exec('dr', 'ALTER TABLE regress_dr.orders ALTER customer_id TYPE regress_dr.e USING ''a''');
SELECT dblink_exec('dr', 'ALTER TABLE regress_dr.regions DROP CONSTRAINT regions_pkey, ALTER id TYPE regress_dr.e USING ''a''');
SELECT dblink_send_query('dr', 'SELECT pg_sleep(1); COMMIT');

SET client_min_messages = warning;
SELECT lives_ok($$CREATE TEMP TABLE d AS
				  SELECT * FROM ri_policy.discover(schema_name => 'regress_dr', all_candidates => true)$$,
				'a column whose type changed while discover() waited: the owner''s cast does not run');
RESET client_min_messages;
SELECT is((SELECT verdict FROM d WHERE child = 'regress_dr.orders'::regclass), 'not verified',
		  'the child''s column changed: not verified');
SELECT is((SELECT verdict FROM d WHERE child = 'regress_dr.stores'::regclass), 'not verified',
		  'the parent''s key changed: not verified');
SELECT is((SELECT count(*) FROM d), 2::bigint, 'no other candidate');

SELECT * FROM dblink_get_result('dr') AS r(x text);
SELECT dblink_disconnect('dr');
DROP SCHEMA regress_dr CASCADE;
DROP ROLE regress_dr_owner;
SELECT * FROM finish();
