-- Citus's table conversions (alter_distributed_table, undistribute_table,
-- alter_table_set_access_method, a Citus local table distributed) replace
-- a table by a new one of the same name, and drop the old one: the
-- declared references of either side, their results, and the results of
-- a foreign key on it, follow the table instead of being forgotten, and a
-- pass after the conversion still finds every orphan (NOT IN).  A plain
-- DROP TABLE still forgets them.  As an ordinary role owning its tables.
-- Runs outside a transaction block; cleans up.
SET client_min_messages = error;
SELECT plan(13);

CREATE ROLE regress_citus_conv LOGIN;
GRANT CREATE ON SCHEMA public TO regress_citus_conv;
CREATE EXTENSION IF NOT EXISTS citus_columnar;
CREATE FUNCTION pg_temp.cv_truth(child regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s WHERE pid NOT IN (SELECT id FROM cv_parent)', child)
		INTO n;
	RETURN n;
END $$;
CREATE FUNCTION pg_temp.cv_state(reference text) RETURNS text LANGUAGE sql AS $$
	SELECT format('%s -> %s: %s rows', child, parent, orphan_rows)
	  FROM ri_policy.references WHERE name = reference $$;

SET ROLE regress_citus_conv;

CREATE TABLE cv_parent (id int PRIMARY KEY);
INSERT INTO cv_parent SELECT generate_series(1, 100);
SELECT create_distributed_table('cv_parent', 'id', shard_count => 3);
CREATE TABLE cv_child (id int, pid int);
INSERT INTO cv_child SELECT g, g % 130 FROM generate_series(1, 1000) g;
SELECT create_distributed_table('cv_child', 'id', shard_count => 2, colocate_with => 'none');
CREATE TABLE cv_local (id int, pid int);
INSERT INTO cv_local SELECT g, g % 110 FROM generate_series(1, 300) g;
SELECT citus_add_local_table_to_metadata('cv_local');
SELECT ri_policy.declare_reference('cv_child', '{pid}', 'cv_parent', name => 'cv_ref');
SELECT ri_policy.declare_reference('cv_local', '{pid}', 'cv_parent', name => 'cv_loc');
CALL ri_policy.validate(batch_size => 7);

SELECT is(pg_temp.cv_state('cv_ref'), 'cv_child -> cv_parent: ' || pg_temp.cv_truth('cv_child') || ' rows',
		  'before: the orphans');

-- the child's shard count changes: a new table
SELECT alter_distributed_table('cv_child', shard_count => 4);
SELECT is(pg_temp.cv_state('cv_ref'), 'cv_child -> cv_parent: ' || pg_temp.cv_truth('cv_child') || ' rows',
		  'alter_distributed_table of the child: the reference and its results stay');
-- (one query each: Citus plans a view beside a Citus table without its owner)
SELECT count(DISTINCT pid) AS cv_keys FROM cv_child WHERE pid NOT IN (SELECT id FROM cv_parent) \gset
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'cv_ref'), :cv_keys::bigint,
		  'alter_distributed_table of the child: its orphan keys stay');

-- the parent goes back to the coordinator: the parent side
SELECT undistribute_table('cv_parent', cascade_via_foreign_keys => true);
DELETE FROM cv_parent WHERE id <= 5;
CALL ri_policy.validate(batch_size => 7);
SELECT is(pg_temp.cv_state('cv_ref'), 'cv_child -> cv_parent: ' || pg_temp.cv_truth('cv_child') || ' rows',
		  'undistribute_table of the parent: the reference stays, and a pass finds every orphan');
SELECT is(pg_temp.cv_state('cv_loc'), 'cv_local -> cv_parent: ' || pg_temp.cv_truth('cv_local') || ' rows',
		  'undistribute_table of the parent: the other child''s reference stays');

-- the child changes its access method, then goes back to the coordinator
SELECT alter_table_set_access_method('cv_child', 'columnar');
DELETE FROM cv_parent WHERE id <= 10;
CALL ri_policy.validate('cv_ref', batch_size => 7);
SELECT is(pg_temp.cv_state('cv_ref'), 'cv_child -> cv_parent: ' || pg_temp.cv_truth('cv_child') || ' rows',
		  'alter_table_set_access_method of the child: the reference stays');
SELECT undistribute_table('cv_child');
SELECT alter_table_set_access_method('cv_child', 'heap');
DELETE FROM cv_parent WHERE id <= 15;
CALL ri_policy.validate('cv_ref', batch_size => 7);
SELECT is(pg_temp.cv_state('cv_ref'), 'cv_child -> cv_parent: ' || pg_temp.cv_truth('cv_child') || ' rows',
		  'undistribute_table and alter_table_set_access_method of a plain child: the reference stays');

-- a Citus local table distributed: Citus converts it
SELECT create_distributed_table('cv_local', 'id', shard_count => 2);
SELECT create_distributed_table('cv_parent', 'id', shard_count => 3);
DELETE FROM cv_parent WHERE id <= 20;
CALL ri_policy.validate(batch_size => 7);
SELECT is(pg_temp.cv_state('cv_loc'), 'cv_local -> cv_parent: ' || pg_temp.cv_truth('cv_local') || ' rows',
		  'a Citus local child distributed: the reference stays');
SELECT is(pg_temp.cv_state('cv_ref'), 'cv_child -> cv_parent: ' || pg_temp.cv_truth('cv_child') || ' rows',
		  'a plain parent distributed again: the reference stays');
SELECT is((SELECT count(*) FROM ri_policy.references WHERE name IN ('cv_ref', 'cv_loc')), 2::bigint,
		  'no reference was forgotten, none doubled');

-- the results of a foreign key follow its table too
CREATE TABLE cv_fparent (id int PRIMARY KEY);
INSERT INTO cv_fparent SELECT generate_series(1, 10);
SELECT create_reference_table('cv_fparent');
CREATE TABLE cv_fchild (id int, pid int CONSTRAINT cv_fk REFERENCES cv_fparent);
INSERT INTO cv_fchild SELECT g, 1 + g % 10 FROM generate_series(1, 50) g;
SELECT create_distributed_table('cv_fchild', 'id', shard_count => 2);
CALL ri_policy.validate('cv_fk');
SELECT alter_distributed_table('cv_fchild', shard_count => 3, cascade_to_colocated => false);
SELECT is((SELECT format('%s %s', child, orphan_rows) FROM ri_policy.references
			WHERE child = 'cv_fchild'::regclass), 'cv_fchild 0',
		  'alter_distributed_table of a foreign key''s table: its results stay');

-- a plain DROP forgets, as without Citus
DROP TABLE cv_local;
SELECT is((SELECT count(*) FROM ri_policy.references WHERE name = 'cv_loc'), 0::bigint,
		  'DROP TABLE: the reference is forgotten');
DROP TABLE cv_child;
SELECT is((SELECT count(*) FROM ri_policy.references WHERE name = 'cv_ref'), 0::bigint,
		  'DROP TABLE of a converted table: the reference is forgotten');

DROP TABLE cv_fchild, cv_fparent, cv_parent;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_citus_conv;
DROP ROLE regress_citus_conv;
SELECT * FROM finish();
