-- What ri_policy refuses on a Citus cluster, with 0A000 and the table and
-- reason named, changing nothing; and what works through Citus, as an
-- ordinary role owning the tables: validation, orphans(), repair() (its
-- deletes are distributed DML), promote() (the foreign key Citus accepts,
-- or Citus's own error).  Runs outside a transaction block; cleans up.
SET client_min_messages = error;
SELECT plan(33);

CREATE ROLE regress_citus_owner LOGIN;
GRANT CREATE ON SCHEMA public TO regress_citus_owner;
CREATE EXTENSION IF NOT EXISTS citus_columnar;
SET ROLE regress_citus_owner;

CREATE TABLE rf_parent (id int PRIMARY KEY);
SELECT create_distributed_table('rf_parent', 'id', shard_count => 3);
INSERT INTO rf_parent SELECT generate_series(1, 100);
CREATE TABLE rf_ref (id int PRIMARY KEY);
SELECT create_reference_table('rf_ref');
INSERT INTO rf_ref SELECT generate_series(1, 100);
CREATE TABLE rf_child (id int, pid int, span interval);
SELECT create_distributed_table('rf_child', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO rf_child SELECT g, g % 130, make_interval(secs => g % 130) FROM generate_series(1, 1000) g;
CREATE TABLE rf_local (id int, pid int);
SELECT citus_add_local_table_to_metadata('rf_local');
INSERT INTO rf_local SELECT g, g % 150 FROM generate_series(1, 300) g;
CREATE TABLE rf_plain (pid int);
INSERT INTO rf_plain SELECT g % 120 FROM generate_series(1, 300) g;
CREATE TABLE rf_spans (span interval PRIMARY KEY);
SELECT create_reference_table('rf_spans');
INSERT INTO rf_spans SELECT make_interval(secs => g) FROM generate_series(1, 100) g;

SELECT ri_policy.declare_reference('rf_child', '{pid}', 'rf_parent', name => 'rf_dist');
SELECT ri_policy.declare_reference('rf_plain', '{pid}', 'rf_ref', name => 'rf_to_ref');
SELECT ri_policy.declare_reference('rf_local', '{pid}', 'rf_parent', name => 'rf_loc');
SELECT ri_policy.declare_reference('rf_child', '{span}', 'rf_spans', name => 'rf_span');

-- tracking: triggers on a Citus table's shell see none of its changes
SELECT throws_ok($$SELECT ri_policy.track('rf_dist')$$, '0A000',
				 'cannot track reference "rf_dist": table "rf_child" is a Citus distributed table',
				 'track: a distributed child');
SELECT throws_ok($$SELECT ri_policy.track('rf_to_ref')$$, '0A000',
				 'cannot track reference "rf_to_ref": table "rf_ref" is a Citus reference table',
				 'track: a reference-table parent');
SELECT throws_ok($$SELECT ri_policy.track('rf_loc')$$, '0A000',
				 'cannot track reference "rf_loc": table "rf_local" is a Citus local table',
				 'track: a Citus local child');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ri_policy%'
			 AND tgrelid IN ('rf_child'::regclass, 'rf_parent'::regclass,
							 'rf_ref'::regclass, 'rf_local'::regclass, 'rf_plain'::regclass)),
		  0::bigint, 'track: no trigger was created');

-- keys that grouping on the workers would not keep apart as ri_policy does
SELECT throws_ok($$CALL ri_policy.validate('rf_span')$$, '0A000',
				 'cannot validate reference "rf_span" through Citus',
				 'validate: a key type Citus cannot group exactly');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('rf_span')$$, '0A000',
				 'cannot list the orphans of reference "rf_span" through Citus',
				 'orphans: the same');

-- validate() of every reference goes on past the refused one
CALL ri_policy.validate(batch_size => 9);
SELECT is((SELECT string_agg(reference || ':' || status, ',' ORDER BY reference COLLATE "C")
			 FROM ri_policy.validation_progress WHERE reference LIKE 'rf%'),
		  'rf_dist:done,rf_loc:done,rf_to_ref:done', 'validate(): the others are validated');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'rf_dist'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM rf_child
				 WHERE pid NOT IN (SELECT id FROM rf_parent) GROUP BY 1$$,
			  'as an ordinary role: a distributed child of a distributed parent');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'rf_loc'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM rf_local
				 WHERE pid NOT IN (SELECT id FROM rf_parent) GROUP BY 1$$,
			  'as an ordinary role: a Citus local child of a distributed parent');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'rf_to_ref'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM rf_plain
				 WHERE pid NOT IN (SELECT id FROM rf_ref) GROUP BY 1$$,
			  'as an ordinary role: a plain child of a reference table');

-- a table whose owner its row security binds: through Citus, queries read it
-- as its owner, and would see fewer rows
ALTER TABLE rf_child ENABLE ROW LEVEL SECURITY;
ALTER TABLE rf_child FORCE ROW LEVEL SECURITY;
CREATE POLICY rf_hide ON rf_child USING (pid < 50);
SELECT throws_ok($$CALL ri_policy.validate('rf_dist')$$, '0A000',
				 'cannot validate reference "rf_dist" through Citus',
				 'validate: a child that forces row security on its owner');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('rf_dist')$$, '0A000', NULL,
				 'orphans: the same');
DROP POLICY rf_hide ON rf_child;
ALTER TABLE rf_child NO FORCE ROW LEVEL SECURITY;
ALTER TABLE rf_child DISABLE ROW LEVEL SECURITY;
ALTER TABLE rf_ref ENABLE ROW LEVEL SECURITY;
ALTER TABLE rf_ref FORCE ROW LEVEL SECURITY;
CREATE POLICY rf_hide ON rf_ref USING (id < 50);
SELECT throws_ok($$CALL ri_policy.validate('rf_to_ref')$$, '0A000',
				 'cannot validate reference "rf_to_ref" through Citus',
				 'validate: a plain child of a Citus parent that forces row security on its owner');
DROP POLICY rf_hide ON rf_ref;
ALTER TABLE rf_ref NO FORCE ROW LEVEL SECURITY;
ALTER TABLE rf_ref DISABLE ROW LEVEL SECURITY;
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'rf_dist'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM rf_child
				 WHERE pid NOT IN (SELECT id FROM rf_parent) GROUP BY 1$$,
			  'the refused passes changed nothing');

-- parent keys too many to send to the workers in the query (past
-- maintenance_work_mem: 150,000 keys, none a child's), and too many for
-- the shards to hash within it (NOT IN over keys no hash holds compares
-- each row with each key: minutes for a million keys): every child key is
-- read instead (30 orphaned keys of 200, in batches of 7) ...
INSERT INTO rf_parent SELECT generate_series(1001, 300000, 2);
SET maintenance_work_mem = '1MB';
CALL ri_policy.validate('rf_dist', batch_size => 7, restart => true);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'rf_dist'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM rf_child
				 WHERE pid NOT IN (SELECT id FROM rf_parent) GROUP BY 1$$,
			  'a parent too large to send in the query');
SELECT ok((SELECT batches > 10 AND rows_checked = 1000 FROM ri_policy.validation_progress
			WHERE reference = 'rf_dist'), 'nor to hash on the workers: every key was read');
-- ... where it fits in maintenance_work_mem (16MB, half of it at most:
-- the workers get it as work_mem, to hash the keys in), the workers filter
-- with NOT IN, which Citus sends them as an intermediate result, so only
-- the orphaned keys come back (30 keys, 5 batches of 7), when the keys
-- cannot go in the query: here, the parent's column has another collation
-- than its type's
SET maintenance_work_mem = '16MB';
CREATE TABLE rf_tparent (id text COLLATE "C" PRIMARY KEY);
SELECT create_distributed_table('rf_tparent', 'id', shard_count => 3);
INSERT INTO rf_tparent SELECT 'k' || g FROM generate_series(1, 300000, 2) g;
CREATE TABLE rf_tchild (id int, pid text COLLATE "C");
SELECT create_distributed_table('rf_tchild', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO rf_tchild SELECT g, 'k' || (CASE WHEN g % 50 < 30 THEN 300000 + g % 50 ELSE 1 + 2 * (g % 1000) END)
  FROM generate_series(1, 1000) g;
SELECT ri_policy.declare_reference('rf_tchild', '{pid}', 'rf_tparent', name => 'rf_notin');
\set q 'SET maintenance_work_mem = ''16MB''; SET citus.log_remote_commands = on; SET client_min_messages = notice; CALL ri_policy.validate(''rf_notin'', batch_size => 7, restart => true)'
\set notin `psql -X -At -c :'q' 2>&1 | grep -c 'read_intermediate_result'`
\set workmem `psql -X -At -c :'q' 2>&1 | grep -c -E "work_mem.*16384"`
SELECT cmp_ok(:notin, '>', 0, 'a parent within maintenance_work_mem: NOT IN on the workers');
SELECT cmp_ok(:workmem, '>', 0, '... with that memory as their work_mem');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'rf_notin'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM rf_tchild
				 WHERE pid NOT IN (SELECT id FROM rf_tparent) GROUP BY 1$$,
			  'and the same orphans');
SELECT ok((SELECT batches = 5 AND rows_checked = 1000 FROM ri_policy.validation_progress
			WHERE reference = 'rf_notin'), 'only the orphaned keys came back');
SELECT ri_policy.drop_reference('rf_notin');
DROP TABLE rf_tchild, rf_tparent;
SET maintenance_work_mem = '1MB';
-- ... and past citus.max_intermediate_result_size too: every child key is
-- read instead, and the result is the same
SET citus.max_intermediate_result_size = '4kB';
CALL ri_policy.validate('rf_dist', batch_size => 7, restart => true);
RESET citus.max_intermediate_result_size;
RESET maintenance_work_mem;
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'rf_dist'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM rf_child
				 WHERE pid NOT IN (SELECT id FROM rf_parent) GROUP BY 1$$,
			  'a parent too large to filter on the workers');
SELECT ok((SELECT batches > 10 AND rows_checked = 1000 FROM ri_policy.validation_progress
			WHERE reference = 'rf_dist'), 'every key was read');
DELETE FROM rf_parent WHERE id > 1000;

-- repair through Citus: distributed deletes of exactly the orphaned rows
CALL ri_policy.repair('rf_dist', 'delete');
SELECT is((SELECT count(*) FROM rf_child WHERE pid NOT IN (SELECT id FROM rf_parent)),
		  0::bigint, 'repair: the orphaned rows are gone');
SELECT is((SELECT count(*) FROM rf_child), 1000::bigint - 210, 'repair: no other row went');

-- promote: Citus's own error, its SQLSTATE and detail, where it refuses ...
SELECT throws_ok($$SELECT ri_policy.promote('rf_dist')$$, '0A000',
				 'could not promote reference "rf_dist": cannot create foreign key constraint since relations are not colocated or not referencing a reference table',
				 'promote: Citus refuses a key between non-co-located tables');
-- ... and the key Citus accepts, to a reference table
CALL ri_policy.repair('rf_to_ref', 'delete');
SELECT lives_ok($$SELECT ri_policy.promote('rf_to_ref')$$, 'promote: a key to a reference table');
SELECT is((SELECT count(*) FROM pg_constraint WHERE conrelid = 'rf_plain'::regclass
			 AND contype = 'f'), 1::bigint, 'promote: the foreign key exists');
-- demote: Citus turns the child back into a plain table (a new one)
SELECT is(ri_policy.demote('rf_plain', 'rf_to_ref'), 'rf_to_ref',
		  'demote: the key Citus accepted becomes a declared reference again');
SELECT is((SELECT kind || ':' || child::text FROM ri_policy.references WHERE name = 'rf_to_ref'),
		  'declared:rf_plain', 'demote: declared, on the table as it is now');
RESET ROLE;

-- a table access method without TID ranges (Citus's columnar)
CREATE TABLE rf_col (pid int) USING columnar;
INSERT INTO rf_col SELECT g % 130 FROM generate_series(1, 500) g;
CREATE TABLE rf_plain_parent (id int PRIMARY KEY);
INSERT INTO rf_plain_parent SELECT generate_series(1, 100);
SELECT ri_policy.declare_reference('rf_col', '{pid}', 'rf_plain_parent', name => 'rf_col');
SELECT throws_ok($$CALL ri_policy.validate('rf_col')$$, '0A000',
				 'cannot validate reference "rf_col": table "rf_col" is a table of access method "columnar"',
				 'validate: a columnar child');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('rf_col')$$, '0A000', NULL,
				 'orphans: a columnar child');
-- a columnar parent is read whole, not by ranges
CREATE TABLE rf_col_parent (id int PRIMARY KEY) USING columnar;
INSERT INTO rf_col_parent SELECT generate_series(1, 100);
CREATE TABLE rf_plain2 (pid int);
INSERT INTO rf_plain2 VALUES (1), (500), (500), (501);
SELECT ri_policy.declare_reference('rf_plain2', '{pid}', 'rf_col_parent', name => 'rf_colp');
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.orphans('rf_colp')$$,
			  $$VALUES ('{"pid": 500}'::jsonb, 2::bigint), ('{"pid": 501}', 1)$$,
			  'orphans: a columnar parent');

-- text keys under different collations: NOT IN could not compare them, so
-- the workers do not filter, and every key is read
CREATE TABLE rf_tparent (id text COLLATE "C" PRIMARY KEY);
SELECT create_distributed_table('rf_tparent', 'id', shard_count => 3);
INSERT INTO rf_tparent SELECT 'k' || g FROM generate_series(1, 100) g;
CREATE TABLE rf_tchild (id int, pid text COLLATE "en-US-x-icu");
SELECT create_distributed_table('rf_tchild', 'id', shard_count => 2, colocate_with => 'none');
INSERT INTO rf_tchild SELECT g, 'k' || (g % 130) FROM generate_series(1, 1000) g;
SELECT ri_policy.declare_reference('rf_tchild', '{pid}', 'rf_tparent', name => 'rf_text');
CALL ri_policy.validate('rf_text', batch_size => 7);
SELECT set_eq($$SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'rf_text'$$,
			  $$SELECT jsonb_build_object('pid', pid), count(*) FROM rf_tchild
				 WHERE pid COLLATE "C" NOT IN (SELECT id FROM rf_tparent) GROUP BY 1$$,
			  'text keys of two collations');

SELECT ri_policy.drop_reference(r) FROM unnest(ARRAY['rf_text', 'rf_dist', 'rf_to_ref', 'rf_loc', 'rf_span', 'rf_col', 'rf_colp']) r;
DROP TABLE rf_tchild, rf_tparent, rf_child, rf_local, rf_plain, rf_plain2, rf_parent, rf_ref, rf_spans, rf_col, rf_plain_parent, rf_col_parent;
REVOKE CREATE ON SCHEMA public FROM regress_citus_owner;
DROP ROLE regress_citus_owner;
SELECT * FROM finish();
