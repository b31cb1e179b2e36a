-- promote(demote(k)) gives back k: pg_get_constraintdef() of the key that
-- promote() creates is identical to the original's, for every combination
-- PostgreSQL allows: MATCH SIMPLE/FULL x 5 ON DELETE x 5 ON UPDATE actions
-- x NOT DEFERRABLE / DEFERRABLE / DEFERRABLE INITIALLY DEFERRED, with and
-- without an ON DELETE SET NULL/SET DEFAULT column list; multi- and
-- single-column keys; keys to a partitioned parent and of a partitioned
-- child; NOT VALID keys.  In between, the declared references record all
-- of it (ri_policy.references shows the same for both).  promote() commits
-- in a background worker, so this file runs outside a transaction block and
-- cleans up after itself.
SELECT plan(30);

CREATE SCHEMA rt;
CREATE TABLE rt.p (a int, b int, PRIMARY KEY (a, b));
INSERT INTO rt.p VALUES (0, 0), (1, 1), (2, 2);
CREATE TABLE rt.c (a int DEFAULT 0, b int DEFAULT 0);
INSERT INTO rt.c VALUES (1, 1), (2, 2), (NULL, NULL);

-- a partitioned parent
CREATE TABLE rt.pp (a int, b int, PRIMARY KEY (a, b)) PARTITION BY LIST (a);
CREATE TABLE rt.pp0 PARTITION OF rt.pp FOR VALUES IN (0, 1);
CREATE TABLE rt.pp1 PARTITION OF rt.pp FOR VALUES IN (2);
INSERT INTO rt.pp SELECT * FROM rt.p;
CREATE TABLE rt.cp (a int DEFAULT 0, b int DEFAULT 0);
INSERT INTO rt.cp SELECT * FROM rt.c;

-- a partitioned child
CREATE TABLE rt.pc (a int DEFAULT 0, b int DEFAULT 0) PARTITION BY LIST (b);
CREATE TABLE rt.pc0 PARTITION OF rt.pc FOR VALUES IN (0, 1);
CREATE TABLE rt.pc1 PARTITION OF rt.pc DEFAULT;
INSERT INTO rt.pc SELECT * FROM rt.c;

-- single-column keys; y = 3 has no parent, so a key on y can only be
-- NOT VALID
CREATE TABLE rt.p1 (id int PRIMARY KEY);
INSERT INTO rt.p1 VALUES (1), (2);
CREATE TABLE rt.c1 (x int, y int);
INSERT INTO rt.c1 VALUES (1, 1), (2, 3);

CREATE TABLE rt.keys (child text, ddl text);
-- the whole matrix on rt.c
INSERT INTO rt.keys
SELECT 'rt.c', format('ALTER TABLE rt.c ADD CONSTRAINT %I FOREIGN KEY (a, b) REFERENCES rt.p (a, b)'
					  ' MATCH %s ON DELETE %s%s ON UPDATE %s %s',
					  'c_' || row_number() OVER (), m, d, cols, u, df)
  FROM unnest(ARRAY['SIMPLE', 'FULL']) m,
	   unnest(ARRAY['NO ACTION', 'RESTRICT', 'CASCADE', 'SET NULL', 'SET DEFAULT']) d,
	   unnest(ARRAY['', ' (b)']) cols,
	   unnest(ARRAY['NO ACTION', 'RESTRICT', 'CASCADE', 'SET NULL', 'SET DEFAULT']) u,
	   unnest(ARRAY['NOT DEFERRABLE', 'DEFERRABLE INITIALLY IMMEDIATE',
					'DEFERRABLE INITIALLY DEFERRED']) df
 WHERE cols = '' OR d LIKE 'SET %';
-- column lists of two columns, in either order
INSERT INTO rt.keys VALUES
	('rt.c', 'ALTER TABLE rt.c ADD CONSTRAINT c_list_ab FOREIGN KEY (a, b) REFERENCES rt.p ON DELETE SET NULL (a, b)'),
	('rt.c', 'ALTER TABLE rt.c ADD CONSTRAINT c_list_ba FOREIGN KEY (a, b) REFERENCES rt.p MATCH FULL ON DELETE SET DEFAULT (b, a) DEFERRABLE');
-- to a partitioned parent and of a partitioned child: each action on each
-- side (their triggers differ), each deferrability, column lists
INSERT INTO rt.keys
SELECT 'rt.cp', format('ALTER TABLE rt.cp ADD CONSTRAINT %I FOREIGN KEY (a, b) REFERENCES rt.pp (a, b)'
					   ' MATCH %s ON DELETE %s ON UPDATE %s %s',
					   'cp_' || row_number() OVER (), m, d, u, df)
  FROM unnest(ARRAY['SIMPLE', 'FULL']) m,
	   unnest(ARRAY['NO ACTION', 'RESTRICT', 'CASCADE', 'SET NULL', 'SET DEFAULT',
					'SET NULL (a)', 'SET DEFAULT (b)'],
			  ARRAY['CASCADE', 'SET NULL', 'SET DEFAULT', 'NO ACTION', 'RESTRICT',
					'CASCADE', 'SET NULL'],
			  ARRAY['NOT DEFERRABLE', 'DEFERRABLE', 'DEFERRABLE INITIALLY DEFERRED',
					'NOT DEFERRABLE', 'DEFERRABLE', 'DEFERRABLE INITIALLY DEFERRED',
					'NOT DEFERRABLE']) x(d, u, df);
INSERT INTO rt.keys
SELECT 'rt.pc', format('ALTER TABLE rt.pc ADD CONSTRAINT %I FOREIGN KEY (a, b) REFERENCES rt.p (a, b)'
					   ' MATCH %s ON DELETE %s ON UPDATE %s %s',
					   'pc_' || row_number() OVER (), m, d, u, df)
  FROM unnest(ARRAY['SIMPLE', 'FULL']) m,
	   unnest(ARRAY['NO ACTION', 'RESTRICT', 'CASCADE', 'SET NULL', 'SET DEFAULT',
					'SET NULL (b)', 'SET DEFAULT (a)'],
			  ARRAY['SET DEFAULT', 'CASCADE', 'RESTRICT', 'SET NULL', 'NO ACTION',
					'RESTRICT', 'CASCADE'],
			  ARRAY['DEFERRABLE INITIALLY DEFERRED', 'NOT DEFERRABLE', 'DEFERRABLE',
					'DEFERRABLE INITIALLY DEFERRED', 'NOT DEFERRABLE', 'DEFERRABLE',
					'DEFERRABLE INITIALLY DEFERRED']) x(d, u, df);
-- single columns, NOT VALID
INSERT INTO rt.keys VALUES
	('rt.c1', 'ALTER TABLE rt.c1 ADD CONSTRAINT c1_x FOREIGN KEY (x) REFERENCES rt.p1 ON DELETE SET NULL (x)'),
	('rt.c1', 'ALTER TABLE rt.c1 ADD CONSTRAINT c1_x_nv FOREIGN KEY (x) REFERENCES rt.p1 ON UPDATE CASCADE NOT VALID'),
	('rt.c1', 'ALTER TABLE rt.c1 ADD CONSTRAINT c1_y_nv FOREIGN KEY (y) REFERENCES rt.p1 NOT VALID'),
	('rt.c1', 'ALTER TABLE rt.c1 ADD CONSTRAINT c1_y_nv2 FOREIGN KEY (y) REFERENCES rt.p1 (id) MATCH FULL'
			  ' ON DELETE SET DEFAULT ON UPDATE RESTRICT DEFERRABLE INITIALLY DEFERRED NOT VALID'),
	('rt.c1', 'ALTER TABLE rt.c1 ADD CONSTRAINT c1_y_nv3 FOREIGN KEY (y) REFERENCES rt.p1'
			  ' ON DELETE SET NULL (y) DEFERRABLE NOT VALID');

\o /dev/null
SELECT ddl FROM rt.keys \gexec
\o

-- what the keys are, and what ri_policy.references says of them
CREATE FUNCTION rt.defs() RETURNS TABLE (child text, name text, def text)
LANGUAGE sql AS $$
	SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid)
	  FROM pg_constraint
	 WHERE contype = 'f' AND conparentid = 0 AND connamespace = 'rt'::regnamespace$$;
CREATE FUNCTION rt.listed(kind text)
RETURNS TABLE (child text, name text, child_columns name[], parent text, parent_columns name[],
			   match text, on_delete text, on_update text, is_deferrable boolean,
			   initially_deferred boolean, on_delete_columns name[], not_valid boolean)
LANGUAGE sql AS $$
	SELECT r.child::text, r.name, r.child_columns, r.parent::text, r.parent_columns, r.match,
		   r.on_delete, r.on_update, r.is_deferrable, r.initially_deferred,
		   r.on_delete_columns, r.not_valid
	  FROM ri_policy.references r
	 WHERE r.child::text LIKE 'rt.%' AND (r.kind = 'declared') = ($1 = 'declared')$$;
CREATE TABLE rt.orig AS SELECT * FROM rt.defs();
CREATE TABLE rt.orig_listed AS SELECT * FROM rt.listed('foreign key');
CREATE TABLE rt.orig_rows AS
	SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent,
		   count(*) AS n
	  FROM pg_constraint WHERE contype = 'f' AND connamespace = 'rt'::regnamespace
	 GROUP BY 1, 2;

SELECT is((SELECT count(*) FROM rt.orig), (SELECT count(*) FROM rt.keys),
		  'every key of the matrix was created');
SELECT is((SELECT count(*) FROM rt.orig WHERE def LIKE '%NOT VALID'), 4::bigint,
		  'four of them NOT VALID');

-- ri_policy.references reads each attribute of a foreign key from
-- pg_constraint: it agrees with the key's definition
SELECT is_empty($$
	SELECT o.name, o.def
	  FROM rt.orig o JOIN rt.orig_listed l USING (child, name)
	 WHERE (l.match = 'full') <> (o.def LIKE '% MATCH FULL%')
		OR (l.on_delete = 'no action') <> (o.def NOT LIKE '% ON DELETE %')
		OR (l.on_delete <> 'no action' AND o.def NOT LIKE '% ON DELETE ' || upper(l.on_delete) || '%')
		OR (l.on_update = 'no action') <> (o.def NOT LIKE '% ON UPDATE %')
		OR (l.on_update <> 'no action' AND o.def NOT LIKE '% ON UPDATE ' || upper(l.on_update) || '%')
		OR (l.on_delete_columns IS NULL) <> (o.def NOT LIKE '% ON DELETE SET % (%')
		OR (l.on_delete_columns IS NOT NULL
			AND o.def NOT LIKE '% ON DELETE ' || upper(l.on_delete)
							   || ' (' || array_to_string(l.on_delete_columns, ', ') || ')%')
		OR l.is_deferrable <> (o.def LIKE '% DEFERRABLE%')
		OR l.initially_deferred <> (o.def LIKE '% INITIALLY DEFERRED%')
		OR l.not_valid <> (o.def LIKE '% NOT VALID')$$,
	'ri_policy.references shows each foreign key''s match type, actions, column list, deferrability and validity');

-- demote: every attribute is recorded
SELECT is((SELECT count(*) FROM ri_policy.demote_all('rt')), (SELECT count(*) FROM rt.orig),
		  'demote_all demotes every key');
SELECT is_empty($$SELECT * FROM rt.defs()$$, 'no foreign key is left');
SELECT set_eq($$SELECT * FROM rt.listed('declared')$$, $$SELECT * FROM rt.orig_listed$$,
			  'the declared references record what the keys had');
SELECT is((SELECT count(*) FROM ri_policy._reference
			WHERE child::text LIKE 'rt.%' AND not_valid),
		  4::bigint, 'including which were NOT VALID');

-- promote every one of them
\o /dev/null
SELECT format('SELECT ri_policy.promote(%L)', child || '.' || quote_ident(name))
  FROM rt.orig ORDER BY child, name \gexec
\o

SELECT set_eq($$SELECT * FROM rt.defs() WHERE child = 'rt.c'$$,
			  $$SELECT * FROM rt.orig WHERE child = 'rt.c'$$,
			  'promote(demote(k)): the same pg_get_constraintdef() for the whole matrix');
SELECT set_eq($$SELECT * FROM rt.defs() WHERE child = 'rt.cp'$$,
			  $$SELECT * FROM rt.orig WHERE child = 'rt.cp'$$,
			  '... for keys to a partitioned parent');
SELECT set_eq($$SELECT conrelid::regclass::text, confrelid::regclass::text, count(*)
				  FROM pg_constraint WHERE contype = 'f' AND connamespace = 'rt'::regnamespace
				 GROUP BY 1, 2$$,
			  $$SELECT * FROM rt.orig_rows$$,
			  '... with their rows for each partition, on both sides');
SELECT set_eq($$SELECT * FROM rt.defs() WHERE child = 'rt.pc'$$,
			  $$SELECT * FROM rt.orig WHERE child = 'rt.pc'$$,
			  '... for keys of a partitioned child');
SELECT set_eq($$SELECT * FROM rt.defs() WHERE child = 'rt.c1'$$,
			  $$SELECT * FROM rt.orig WHERE child = 'rt.c1'$$,
			  '... for single-column keys; NOT VALID ones come back NOT VALID');
SELECT is_empty($$SELECT * FROM rt.listed('declared')$$, 'nothing is left declared');
SELECT set_eq($$SELECT * FROM rt.listed('foreign key')$$, $$SELECT * FROM rt.orig_listed$$,
			  'and ri_policy.references lists the same as before');

-- promote(validate): NULL (the default) is as recorded; true and false
-- are obeyed
SELECT ri_policy.demote('rt.c1', 'c1_x_nv');
SELECT lives_ok($$SELECT ri_policy.promote('rt.c1.c1_x_nv', validate => true)$$,
				'promote(validate => true) of a reference recorded NOT VALID');
SELECT is((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'c1_x_nv'),
		  'FOREIGN KEY (x) REFERENCES rt.p1(id) ON UPDATE CASCADE', 'validates it');
SELECT ri_policy.demote('rt.c1', 'c1_x');
SELECT lives_ok($$SELECT ri_policy.promote('rt.c1.c1_x', validate => false)$$,
				'promote(validate => false) of a valid one');
SELECT is((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'c1_x'),
		  'FOREIGN KEY (x) REFERENCES rt.p1(id) ON DELETE SET NULL (x) NOT VALID', 'leaves it NOT VALID');
SELECT ri_policy.demote('rt.c1', 'c1_y_nv');
SELECT lives_ok($$SELECT ri_policy.promote('rt.c1.c1_y_nv', validate => true)$$,
				'promote(validate => true) with an orphan does not fail');
SELECT is((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'c1_y_nv'),
		  'FOREIGN KEY (y) REFERENCES rt.p1(id) NOT VALID', 'the key stays NOT VALID');

-- a partitioned child takes no NOT VALID key before PostgreSQL 18: there
-- promote() adds and validates the key at once
CREATE TABLE rt.pco (a int, b int) PARTITION BY LIST (b);
CREATE TABLE rt.pco1 PARTITION OF rt.pco DEFAULT;
INSERT INTO rt.pco VALUES (1, 1), (7, 7);
SELECT ri_policy.declare_reference('rt.pco', '{a,b}', 'rt.p', name => 'pco_fk',
								   on_delete => 'cascade', is_deferrable => true);
SELECT CASE WHEN current_setting('server_version_num')::int < 180000
	THEN throws_ok($$SELECT ri_policy.promote('rt.pco.pco_fk', validate => false)$$, '0A000',
				   'cannot promote reference "pco_fk" without validating it',
				   'promote(validate => false) of a partitioned child: 0A000 before 18')
	ELSE skip('PostgreSQL 18 adds NOT VALID foreign keys to partitioned tables', 1) END;
SELECT CASE WHEN current_setting('server_version_num')::int < 180000
	THEN throws_ok($$SELECT ri_policy.promote('rt.pco.pco_fk')$$, '23503', NULL,
				   'with an orphan, promote() of a partitioned child fails before 18')
	ELSE skip('PostgreSQL 18 adds NOT VALID foreign keys to partitioned tables', 1) END;
SELECT is((SELECT kind FROM ri_policy.references WHERE name = 'pco_fk'), 'declared',
		  'the reference stays declared');
DELETE FROM rt.pco WHERE a = 7;
SELECT lives_ok($$SELECT ri_policy.promote('rt.pco.pco_fk')$$, 'without orphans, it is promoted');
SELECT is((SELECT pg_get_constraintdef(oid) FROM pg_constraint
			WHERE conname = 'pco_fk' AND conparentid = 0),
		  'FOREIGN KEY (a, b) REFERENCES rt.p(a, b) ON DELETE CASCADE DEFERRABLE', 'validated');

-- the column list follows a column rename (recorded by position)
CREATE TABLE rt.cr (a int, b int);
ALTER TABLE rt.cr ADD CONSTRAINT cr_fk FOREIGN KEY (a, b) REFERENCES rt.p
	ON DELETE SET NULL (b) DEFERRABLE INITIALLY DEFERRED;
SELECT ri_policy.demote('rt.cr', 'cr_fk');
ALTER TABLE rt.cr RENAME COLUMN b TO "B b";
SELECT is((SELECT on_delete_columns FROM ri_policy.references WHERE name = 'cr_fk'),
		  '{"B b"}'::name[], 'a renamed column stays in the column list');
SELECT ri_policy.promote('rt.cr.cr_fk');
SELECT is((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'cr_fk'),
		  'FOREIGN KEY (a, "B b") REFERENCES rt.p(a, b) ON DELETE SET NULL ("B b") DEFERRABLE INITIALLY DEFERRED',
		  'and in the promoted key');

-- what the frameworks rely on, after a round trip: Django's keys are
-- DEFERRABLE INITIALLY DEFERRED (a child may come before its parent in a
-- transaction), ActiveRecord's on_update: :cascade follows the parent
CREATE TABLE rt.dj_parent (id int PRIMARY KEY);
CREATE TABLE rt.dj_child (id int, parent_id int CONSTRAINT dj_fk REFERENCES rt.dj_parent
						  ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED);
SELECT ri_policy.demote('rt.dj_child', 'dj_fk');
SELECT ri_policy.promote('rt.dj_child.dj_fk');
SELECT lives_ok($$INSERT INTO rt.dj_child VALUES (1, 10); INSERT INTO rt.dj_parent VALUES (10);
				  SET CONSTRAINTS ALL IMMEDIATE$$,
				'a child before its parent, in one transaction');
SELECT throws_ok($$INSERT INTO rt.dj_child VALUES (2, 20); SET CONSTRAINTS ALL IMMEDIATE$$,
				 '23503', NULL, 'the key is still checked');
UPDATE rt.dj_parent SET id = 11 WHERE id = 10;
SELECT is((SELECT parent_id FROM rt.dj_child WHERE id = 1), 11, 'and ON UPDATE CASCADE acts');

SET client_min_messages = warning;
DROP SCHEMA rt CASCADE;
RESET client_min_messages;
SELECT * FROM finish();
