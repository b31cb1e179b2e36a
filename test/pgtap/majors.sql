-- What PostgreSQL 17, 18 and 19 added that creates foreign keys, changes
-- them, or stops event triggers: 17's event_triggers setting; 18's NOT
-- ENFORCED keys (they pass in every mode and are listed as such) and ALTER
-- CONSTRAINT ... ENFORCED (it counts as creating the key); 18's temporal
-- foreign keys (PERIOD: the guard sees them on every path, and what
-- compares keys for equality refuses them); 19's ALTER CONSTRAINT of CHECK
-- constraints.  Each part skips itself below its major, so the file passes
-- on every supported version.
BEGIN;
SELECT plan(50);

SELECT current_setting('server_version_num')::int >= 170000 AS pg17,
	   current_setting('server_version_num')::int >= 180000 AS pg18,
	   current_setting('server_version_num')::int >= 190000 AS pg19 \gset

CREATE ROLE regress_maj;
CREATE SCHEMA maj;
GRANT USAGE, CREATE ON SCHEMA maj TO regress_maj;
CREATE TABLE maj.p (id int PRIMARY KEY);
INSERT INTO maj.p VALUES (1), (2);

-- the foreign keys of the tables of a schema: table.name kind, in order
CREATE FUNCTION pg_temp.keys(nsp text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(child::text || '.' || name || ' ' || kind, ', '
							   ORDER BY child::text, name), '')
	  FROM ri_policy.references
	 WHERE kind <> 'declared' AND child::text LIKE nsp || '.%'$$;

-- 1. PostgreSQL 17: event_triggers = off stops every event trigger, the
-- guard's included; only a superuser may set it (README, Caveats).
\if :pg17
SET ROLE regress_maj;
SELECT throws_ok($$SET event_triggers = off$$, '42501', NULL,
				 'an ordinary role cannot turn event triggers off');
RESET ROLE;
SET ri_policy.mode = 'block';
SET event_triggers = off;
SELECT lives_ok($$CREATE TABLE maj.et (a int REFERENCES maj.p)$$,
				'a superuser who turns event triggers off is not checked (the documented caveat)');
RESET event_triggers;
DROP TABLE maj.et;
\else
SELECT skip('event_triggers exists from PostgreSQL 17 on', 2);
\endif

-- 2. PostgreSQL 18: NOT ENFORCED foreign keys enforce nothing, so no mode
-- stops them; a column may carry an enforced key beside one that is not.
\if :pg18
SET ri_policy.mode = 'block';
SELECT lives_ok($$CREATE TABLE maj.ne1 (a int REFERENCES maj.p NOT ENFORCED)$$,
				'block: column REFERENCES ... NOT ENFORCED');
SELECT lives_ok($$CREATE TABLE maj.ne2 (a int, CONSTRAINT ne2_fk FOREIGN KEY (a)
					REFERENCES maj.p NOT ENFORCED)$$,
				'block: table FOREIGN KEY ... NOT ENFORCED');
SELECT lives_ok($$CREATE TABLE maj.ne3 (a int REFERENCES maj.p DEFERRABLE NOT ENFORCED)$$,
				'block: NOT ENFORCED after another attribute');
SELECT lives_ok($$ALTER TABLE maj.ne2 ADD CONSTRAINT ne2_fk2 FOREIGN KEY (a)
					REFERENCES maj.p NOT ENFORCED$$,
				'block: ALTER TABLE ADD CONSTRAINT ... NOT ENFORCED');
SELECT lives_ok($$ALTER TABLE maj.ne2 ADD COLUMN b int REFERENCES maj.p NOT ENFORCED$$,
				'block: ADD COLUMN ... REFERENCES ... NOT ENFORCED');
SELECT lives_ok($$CREATE TABLE maj.ne4 (a int, k int, CONSTRAINT ne4_fk FOREIGN KEY (a)
					REFERENCES maj.p NOT ENFORCED) PARTITION BY LIST (k)$$,
				'block: a partitioned table with a NOT ENFORCED key');
SELECT lives_ok($$CREATE TABLE maj.ne4_1 PARTITION OF maj.ne4 FOR VALUES IN (1)$$,
				'block: and a partition, which gets a clone of it');
SELECT throws_ok($$CREATE TABLE maj.nb1 (a int REFERENCES maj.p NOT ENFORCED REFERENCES maj.p)$$,
				 '42501', NULL, 'block: an enforced REFERENCES after a NOT ENFORCED one');
SELECT throws_ok($$CREATE TABLE maj.nb2 (a int REFERENCES maj.p REFERENCES maj.p NOT ENFORCED)$$,
				 '42501', NULL, 'block: an enforced REFERENCES before a NOT ENFORCED one');
SELECT is(to_regclass('maj.nb1') IS NULL AND to_regclass('maj.nb2') IS NULL, true,
		  'and those tables were not created');
SET ri_policy.mode = 'warn';
SELECT lives_ok($$CREATE TABLE maj.ne5 (a int REFERENCES maj.p NOT ENFORCED)$$,
				'warn: NOT ENFORCED');
SET ri_policy.mode = 'allow';
SELECT lives_ok($$CREATE TABLE maj.ne6 (a int REFERENCES maj.p NOT ENFORCED)$$,
				'allow: NOT ENFORCED');
SELECT is(pg_temp.keys('maj'),
		  'maj.ne1.ne1_a_fkey not enforced, maj.ne2.ne2_b_fkey not enforced, '
		  'maj.ne2.ne2_fk not enforced, maj.ne2.ne2_fk2 not enforced, '
		  'maj.ne3.ne3_a_fkey not enforced, maj.ne4.ne4_fk not enforced, '
		  'maj.ne5.ne5_a_fkey not enforced, maj.ne6.ne6_a_fkey not enforced',
		  'ri_policy.references lists them as not enforced (partition clones not)');
INSERT INTO maj.ne1 VALUES (1), (7), (7);
CALL ri_policy.validate('maj.ne1.ne1_a_fkey');
SELECT is((SELECT string_agg(key::text || '=' || child_rows, ' ') FROM ri_policy.violations
			WHERE reference = 'ne1_a_fkey'), '{"a": 7}=2',
		  'validate() of a NOT ENFORCED key finds its orphans');
\else
SELECT skip('NOT ENFORCED foreign keys exist from PostgreSQL 18 on', 14);
\endif

-- 3. PostgreSQL 18: ALTER CONSTRAINT ... ENFORCED makes a key enforced,
-- which counts as creating it; the reverse, and a no-op, do not.
\if :pg18
SET ri_policy.mode = 'block';
SELECT throws_ok($$ALTER TABLE maj.ne2 ALTER CONSTRAINT ne2_fk ENFORCED$$, '42501',
				 'foreign key constraint "ne2_fk" on table "ne2" referencing table "p" is not allowed',
				 'block: ALTER CONSTRAINT ... ENFORCED');
SELECT is((SELECT conenforced FROM pg_constraint WHERE conname = 'ne2_fk'), false,
		  'and the key stays not enforced');
SELECT throws_ok($$ALTER TABLE maj.ne4 ALTER CONSTRAINT ne4_fk ENFORCED$$, '42501', NULL,
				 'block: ALTER CONSTRAINT ... ENFORCED of a partitioned table''s key');
CREATE TABLE maj.c2 (a int);
SELECT throws_ok($$ALTER TABLE maj.c2 ADD CONSTRAINT c2_fk FOREIGN KEY (a) REFERENCES maj.p NOT ENFORCED,
					ALTER CONSTRAINT c2_fk ENFORCED$$, '42501', NULL,
				 'block: a key added NOT ENFORCED and enforced in one statement (the second gate)');
SELECT is((SELECT count(*) FROM pg_constraint WHERE conname = 'c2_fk'), 0::bigint,
		  'and it is not there');
SET ri_policy.mode = 'allow';
CREATE TABLE maj.c1 (a int REFERENCES maj.p);
SET ri_policy.mode = 'block';
SELECT lives_ok($$ALTER TABLE maj.c1 ALTER CONSTRAINT c1_a_fkey ENFORCED$$,
				'block: ALTER CONSTRAINT ... ENFORCED of a key that is enforced already');
SELECT lives_ok($$ALTER TABLE maj.c1 ALTER CONSTRAINT c1_a_fkey NOT ENFORCED$$,
				'block: ALTER CONSTRAINT ... NOT ENFORCED');
SET ri_policy.mode = 'warn';
SELECT lives_ok($$ALTER TABLE maj.ne2 ALTER CONSTRAINT ne2_fk ENFORCED$$,
				'warn: ALTER CONSTRAINT ... ENFORCED');
SET ri_policy.mode = 'allow';
SELECT lives_ok($$ALTER TABLE maj.c1 ALTER CONSTRAINT c1_a_fkey ENFORCED$$,
				'allow: ALTER CONSTRAINT ... ENFORCED');
SELECT is((SELECT string_agg(conname || '=' || conenforced, ' ' ORDER BY conname)
			 FROM pg_constraint WHERE conname IN ('ne2_fk', 'c1_a_fkey')),
		  'c1_a_fkey=true ne2_fk=true', 'warn and allow enforced them');
\else
SELECT skip('ALTER CONSTRAINT ... ENFORCED exists from PostgreSQL 18 on', 10);
\endif

-- 3a. What a key is comes from the library, for the server it runs in, not
-- from an expression the view chose by the major it was created on
-- (pg_upgrade keeps the view of the old major; test/pg_upgrade.sh).
SELECT unalike(pg_get_viewdef('ri_policy.references'), '%conenforced%',
			   'ri_policy.references does not depend on the major it was created on');
SET ri_policy.mode = 'allow';
CREATE TABLE maj.k1 (a int REFERENCES maj.p, b int);
ALTER TABLE maj.k1 ADD CONSTRAINT k1_nv FOREIGN KEY (b) REFERENCES maj.p NOT VALID,
	ADD CONSTRAINT k1_chk CHECK (a > 0);
SELECT is((SELECT string_agg(conname || '=' || coalesce(ri_policy._fk_kind(oid), 'null'), ' '
							 ORDER BY conname)
			 FROM pg_constraint WHERE conrelid = 'maj.k1'::regclass),
		  'k1_a_fkey=enforced k1_chk=null k1_nv=not valid',
		  '_fk_kind(): enforced, not valid, and NULL for a constraint that is no foreign key');
SELECT is(ri_policy._fk_kind(0), NULL, '_fk_kind() of no constraint is NULL');
-- and pg_upgrade accepts the extension's tables: no column of a type whose
-- OIDs it does not keep (src/bin/pg_upgrade/check.c), arrays included
SELECT is((SELECT string_agg(c.relname || '.' || a.attname, ' ')
			 FROM pg_attribute a
			 JOIN pg_class c ON c.oid = a.attrelid
			 JOIN pg_type t ON t.oid = a.atttypid
			WHERE c.relnamespace = 'ri_policy'::regnamespace AND c.relkind IN ('r', 'p')
			  AND a.attnum > 0 AND NOT a.attisdropped
			  AND (SELECT typname FROM pg_type
					WHERE oid = CASE WHEN t.typelem <> 0 THEN t.typelem ELSE t.oid END)
				  IN ('regcollation', 'regconfig', 'regdictionary', 'regnamespace', 'regoper',
					  'regoperator', 'regproc', 'regprocedure')), NULL,
		  'no column of the extension''s tables keeps an OID that pg_upgrade does not');
\if :pg18
ALTER TABLE maj.k1 ALTER CONSTRAINT k1_a_fkey NOT ENFORCED;
ALTER TABLE maj.k1 ADD CONSTRAINT k1_ne FOREIGN KEY (b) REFERENCES maj.p NOT ENFORCED;
SELECT is((SELECT string_agg(name || ' ' || kind, ', ' ORDER BY name) FROM ri_policy.references
			 WHERE child = 'maj.k1'::regclass),
		  'k1_a_fkey not enforced, k1_ne not enforced, k1_nv not valid',
		  'a key made NOT ENFORCED by ALTER CONSTRAINT, and one added so, are listed as such');
SELECT is(ri_policy._fk_kind((SELECT oid FROM pg_constraint WHERE conname = 'k1_a_fkey')),
		  'not enforced', '_fk_kind(): not enforced');
\else
SELECT skip('NOT ENFORCED foreign keys exist from PostgreSQL 18 on', 2);
\endif
DROP TABLE maj.k1;

-- 4. PostgreSQL 18: temporal foreign keys.  The guard sees them as any
-- other enforced key.  A reference compares keys for equality, but a
-- temporal key needs each row's period covered by the referenced rows:
-- validate(), repair(), demote(), demote_all() and declare_reference()
-- refuse them (0A000) and change nothing.  Range types only, so that no
-- btree_gist is needed.
\if :pg18
CREATE SCHEMA tmp;
CREATE TABLE tmp.rooms (room int4range, during daterange,
						PRIMARY KEY (room, during WITHOUT OVERLAPS));
INSERT INTO tmp.rooms VALUES ('[1,2)', '[2026-01-01,2026-02-01)');
CREATE TABLE tmp.b (room int4range, during daterange);
INSERT INTO tmp.b VALUES ('[1,2)', '[2026-01-05,2026-01-10)'),
	('[1,2)', '[2026-01-25,2026-02-10)'), ('[3,4)', '[2026-01-05,2026-01-10)');
SET ri_policy.mode = 'block';
SELECT throws_ok($$CREATE TABLE tmp.b1 (room int4range, during daterange,
					FOREIGN KEY (room, PERIOD during) REFERENCES tmp.rooms (room, PERIOD during))$$,
				 '42501', NULL, 'block: CREATE TABLE with a temporal foreign key');
SELECT throws_ok($$ALTER TABLE tmp.b ADD CONSTRAINT b_fk FOREIGN KEY (room, PERIOD during)
					REFERENCES tmp.rooms (room, PERIOD during)$$,
				 '42501', NULL, 'block: ALTER TABLE ADD a temporal foreign key');
SELECT throws_ok($$CREATE SCHEMA tmp2 CREATE TABLE b (room int4range, during daterange,
					FOREIGN KEY (room, PERIOD during) REFERENCES tmp.rooms)$$,
				 '42501', NULL, 'block: a temporal foreign key in CREATE SCHEMA');
SELECT throws_ok($t$DO $do$BEGIN EXECUTE 'ALTER TABLE tmp.b ADD FOREIGN KEY (room, PERIOD during)
					REFERENCES tmp.rooms'; END$do$$t$,
				 '42501', NULL, 'block: a temporal foreign key through EXECUTE');
SELECT is(pg_temp.keys('tmp') || coalesce(to_regnamespace('tmp2')::text, ''), '',
		  'and none of them was created');
SELECT lives_ok($$ALTER TABLE tmp.b ADD CONSTRAINT b_ne FOREIGN KEY (room, PERIOD during)
					REFERENCES tmp.rooms (room, PERIOD during) NOT ENFORCED$$,
				'block: a temporal foreign key NOT ENFORCED');
SELECT throws_ok($$ALTER TABLE tmp.b ALTER CONSTRAINT b_ne ENFORCED$$, '42501', NULL,
				 'block: ALTER CONSTRAINT ... ENFORCED of a temporal key');
SET ri_policy.mode = 'warn';
CREATE TABLE tmp.c (room int4range, during daterange);
INSERT INTO tmp.c VALUES ('[1,2)', '[2026-01-05,2026-01-10)');
SELECT lives_ok($$ALTER TABLE tmp.c ADD CONSTRAINT c_fk FOREIGN KEY (room, PERIOD during)
					REFERENCES tmp.rooms (room, PERIOD during)$$,
				'warn: a temporal foreign key');
SET ri_policy.mode = 'allow';
SELECT is(pg_temp.keys('tmp'), 'tmp.b.b_ne not enforced, tmp.c.c_fk enforced',
		  'ri_policy.references lists temporal keys');
SELECT throws_ok($$CALL ri_policy.validate('tmp.b.b_ne')$$, '0A000',
				 'temporal foreign key "b_ne" of table "b" is not supported',
				 'validate() refuses a temporal foreign key');
SELECT throws_ok($$CALL ri_policy.repair('tmp.b.b_ne', 'delete')$$, '0A000',
				 'temporal foreign key "b_ne" of table "b" is not supported',
				 'and so does repair()');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE child = 'tmp.b'::regclass)
		  + (SELECT count(*) FROM ri_policy.validation_progress WHERE child = 'tmp.b'::regclass),
		  0::bigint, 'and nothing is recorded');
SELECT throws_ok($$SELECT ri_policy.demote('tmp.c', 'c_fk')$$, '0A000',
				 'temporal foreign key "c_fk" of table "c" is not supported',
				 'demote() refuses a temporal foreign key');
CREATE TABLE tmp.d (a int REFERENCES maj.p);
SELECT throws_ok($$SELECT * FROM ri_policy.demote_all('tmp')$$, '0A000',
				 'temporal foreign key "b_ne" of table "b" is not supported',
				 'demote_all() refuses a schema with a temporal foreign key');
SELECT throws_ok($$SELECT ri_policy.declare_reference('tmp.b', '{room,during}', 'tmp.rooms',
					'{room,during}', name => 'b_decl')$$, '0A000', NULL,
				 'declare_reference() refuses a temporal key as the parent key');
SELECT is(pg_temp.keys('tmp') || (SELECT count(*) FROM ri_policy.references
								   WHERE kind = 'declared' AND child::text LIKE 'tmp.%'),
		  'tmp.b.b_ne not enforced, tmp.c.c_fk enforced, tmp.d.d_a_fkey enforced0',
		  'and every key stays, nothing is declared');
\else
SELECT skip('temporal foreign keys exist from PostgreSQL 18 on', 16);
\endif

-- 5. PostgreSQL 19: ALTER CONSTRAINT ... [NOT] ENFORCED of a CHECK
-- constraint is no foreign key.
\if :pg19
SET ri_policy.mode = 'block';
CREATE TABLE maj.ck (a int, CONSTRAINT ck_pos CHECK (a > 0) NOT ENFORCED);
SELECT lives_ok($$ALTER TABLE maj.ck ALTER CONSTRAINT ck_pos ENFORCED$$,
				'block: ALTER CONSTRAINT ... ENFORCED of a CHECK constraint');
SELECT lives_ok($$ALTER TABLE maj.ck ALTER CONSTRAINT ck_pos NOT ENFORCED$$,
				'block: ALTER CONSTRAINT ... NOT ENFORCED of a CHECK constraint');
\else
SELECT skip('ALTER CONSTRAINT of CHECK constraints exists from PostgreSQL 19 on', 2);
\endif

RESET ri_policy.mode;
SELECT * FROM finish();
ROLLBACK;
