-- Logical replication: on a subscriber the apply worker fires no statement
-- triggers, so what it writes into a tracked table is never recorded.  A
-- tracked reference whose table is a subscription target gets full passes
-- (validation_progress.why_full says why), and CREATE or ALTER SUBSCRIPTION
-- makes the next pass full.  A publication and a subscription between two
-- databases of this cluster, each driven through dblink (the apply worker
-- sees only committed work).  Needs wal_level = logical (make test sets it);
-- skipped otherwise.  Runs outside a transaction block; drops what it made.
SELECT plan(10);

-- a session in database "db" of this cluster, named after it
CREATE FUNCTION pg_temp.conninfo(db text) RETURNS text LANGUAGE sql AS $$
	SELECT format('host=%s port=%s dbname=%s user=%s',
				  split_part(current_setting('unix_socket_directories'), ',', 1),
				  current_setting('port'), db, current_user)$$;
CREATE FUNCTION pg_temp.on(db text, stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM dblink_exec(pg_temp.conninfo(db), stmt);
END $$;
CREATE FUNCTION pg_temp.value(db text, query text) RETURNS text LANGUAGE sql AS $$
	SELECT v FROM dblink(pg_temp.conninfo(db), query) AS t(v text)$$;
-- wait (up to a minute) until a query on the subscriber returns true
CREATE FUNCTION pg_temp.wait_for(query text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..600 LOOP
		IF pg_temp.value('regress_track_sub', query)::boolean THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN false;
END $$;

-- the subscriber's view of the reference: was its latest pass full, is it
-- right (its violations equal the NOT EXISTS truth), and why_full
CREATE FUNCTION pg_temp.was_full() RETURNS boolean LANGUAGE sql AS $$
	SELECT pg_temp.value('regress_track_sub',
		$q$SELECT (rows_checked = (SELECT count(*) FROM c))::text
			 FROM ri_policy.validation_progress WHERE reference = 'r'$q$)::boolean$$;
CREATE FUNCTION pg_temp.right_answer() RETURNS boolean LANGUAGE sql AS $$
	SELECT pg_temp.value('regress_track_sub',
		$q$SELECT (NOT EXISTS (SELECT key, child_rows FROM ri_policy.violations
								WHERE reference = 'r'
							   EXCEPT
							   SELECT jsonb_build_object('pid', pid), count(*) FROM c
								WHERE NOT EXISTS (SELECT 1 FROM p WHERE p.id = c.pid) GROUP BY 1)
				   AND NOT EXISTS (SELECT jsonb_build_object('pid', pid), count(*) FROM c
									WHERE NOT EXISTS (SELECT 1 FROM p WHERE p.id = c.pid) GROUP BY 1
								   EXCEPT
								   SELECT key, child_rows FROM ri_policy.violations
									WHERE reference = 'r')
				   AND EXISTS (SELECT 1 FROM ri_policy.violations))::text$q$)::boolean$$;
CREATE FUNCTION pg_temp.why() RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.value('regress_track_sub',
		$q$SELECT why_full FROM ri_policy.validation_progress WHERE reference = 'r'$q$)$$;

-- the orchestration runs statement by statement: a logical slot is made
-- only once every transaction that has an xid has ended, pgTAP's own too
SELECT current_setting('wal_level') = 'logical' AS logical \gset
\if :logical
SELECT pg_temp.on('postgres', 'DROP DATABASE IF EXISTS regress_track_sub WITH (FORCE)');
SELECT pg_temp.on('postgres', 'DROP DATABASE IF EXISTS regress_track_pub WITH (FORCE)');
SELECT pg_temp.on('postgres', 'CREATE DATABASE regress_track_pub');
SELECT pg_temp.on('postgres', 'CREATE DATABASE regress_track_sub');
\set tables 'CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (id int PRIMARY KEY, pid int); CREATE INDEX ON c (pid);'

-- the publisher
SELECT pg_temp.on('regress_track_pub', :'tables' ||
	'INSERT INTO p SELECT generate_series(1, 20);'
	'INSERT INTO c SELECT g, g FROM generate_series(1, 20) g;'
	'CREATE PUBLICATION regress_track_pub FOR TABLE p, c');
SELECT pg_temp.value('regress_track_pub',
	$q$SELECT pg_create_logical_replication_slot('regress_track_slot', 'pgoutput')::text$q$);

-- the subscriber: a tracked reference, validated, then subscribed
SELECT pg_temp.on('regress_track_sub', 'CREATE EXTENSION ri_policy;' || :'tables' ||
	$q$SELECT ri_policy.declare_reference('c', '{pid}', 'p', name => 'r');
	   SELECT ri_policy.track('r');
	   CALL ri_policy.validate('r');
	   CALL ri_policy.validate('r')$q$);
SELECT is(pg_temp.why(), NULL, 'a tracked reference''s passes are incremental');
SELECT pg_temp.on('regress_track_sub',
	format('CREATE SUBSCRIPTION regress_track_sub CONNECTION %L'
		   ' PUBLICATION regress_track_pub'
		   ' WITH (create_slot = false, slot_name = regress_track_slot)',
		   pg_temp.conninfo('regress_track_pub')));
SELECT matches(pg_temp.why(),
	'table "[pc]" became a logical replication subscription target',
	'CREATE SUBSCRIPTION into its tables: validation_progress says the next pass is full');

-- replicated deletes from the parent and inserts into the child
SELECT ok(pg_temp.wait_for(
	$q$SELECT count(*) = 20 AND NOT EXISTS (SELECT 1 FROM pg_subscription_rel
											 WHERE srsubstate <> 'r') FROM c$q$),
	'the subscriber has the publisher''s rows');
SELECT pg_temp.on('regress_track_pub',
	'DELETE FROM p WHERE id <= 4; INSERT INTO c VALUES (21, 901), (22, 902), (23, 903)');
SELECT ok(pg_temp.wait_for('SELECT count(*) = 23 FROM c'), 'and the changes');
SELECT pg_temp.on('regress_track_sub', $q$CALL ri_policy.validate('r')$q$);
SELECT ok(pg_temp.was_full() AND pg_temp.right_answer(),
		  'the next pass is full, and finds the 7 orphans');
SELECT matches(pg_temp.why(), 'table "[pc]" is a logical replication subscription target',
			   'while subscribed, passes are full and say why');
SELECT pg_temp.on('regress_track_pub', 'DELETE FROM p WHERE id = 5');
SELECT pg_temp.wait_for('SELECT count(*) = 15 FROM p');
SELECT pg_temp.on('regress_track_sub', $q$CALL ri_policy.validate('r')$q$);
SELECT ok(pg_temp.was_full() AND pg_temp.right_answer(),
		  'another replicated delete: full again, and right');

-- unsubscribed: one more full pass (those made while subscribed vouch for
-- nothing), then incremental again
SELECT pg_temp.on('regress_track_sub', 'DROP SUBSCRIPTION regress_track_sub');
SELECT pg_temp.on('regress_track_sub', $q$CALL ri_policy.validate('r')$q$);
SELECT ok(pg_temp.was_full(), 'unsubscribed, the next pass is full');
SELECT pg_temp.on('regress_track_sub', $q$INSERT INTO c VALUES (24, 904);
										 CALL ri_policy.validate('r')$q$);
SELECT is(pg_temp.value('regress_track_sub',
	$q$SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'r'$q$),
	'1', 'then incremental');
SELECT ok(pg_temp.right_answer(), 'and right');

SELECT pg_temp.on('postgres', 'DROP DATABASE regress_track_sub WITH (FORCE)');
SELECT pg_temp.on('postgres', 'DROP DATABASE regress_track_pub WITH (FORCE)');
\else
SELECT skip('wal_level is not logical: no logical replication to test', 10);
\endif
SELECT * FROM finish();
