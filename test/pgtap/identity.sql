-- A reference has an identity of its own: its results, progress and
-- tracking triggers belong to it, not to its name.  Renaming a foreign key
-- (or rebuilding it with ALTER COLUMN TYPE) or a declared reference keeps
-- them; a new reference with an old name inherits nothing; another role's
-- reference of the same name shares no trigger with it.  Runs in one
-- transaction, rolled back.
BEGIN;
SELECT plan(30);

CREATE ROLE regress_id_a;
CREATE ROLE regress_id_b;
CREATE SCHEMA id_a AUTHORIZATION regress_id_a;
CREATE SCHEMA id_b AUTHORIZATION regress_id_b;
GRANT USAGE ON SCHEMA id_a TO regress_id_b;

CREATE FUNCTION pg_temp.violations(text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(key::text || '=' || child_rows, ' ' ORDER BY key), '')
	  FROM ri_policy.violations WHERE reference = $1$$;
-- the tracking triggers of a reference, found by what they call and its id
CREATE FUNCTION pg_temp.triggers(text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM pg_trigger t
	 WHERE t.tgfoid = 'ri_policy._track_trigger'::regproc
	   AND split_part(encode(t.tgargs, 'escape'), '\000', 1)
		   = (SELECT id::text FROM ri_policy._reference WHERE child::text || '.' || name = $1)$$;

-- role a: a NOT VALID foreign key with orphans, validated
SET ROLE regress_id_a;
CREATE TABLE id_a.p (id int PRIMARY KEY);
INSERT INTO id_a.p SELECT generate_series(1, 10);
GRANT REFERENCES, TRIGGER ON id_a.p TO regress_id_b;
CREATE TABLE id_a.c (pid int);
INSERT INTO id_a.c VALUES (1), (11), (11), (12);
ALTER TABLE id_a.c ADD CONSTRAINT fk FOREIGN KEY (pid) REFERENCES id_a.p NOT VALID;
CALL ri_policy.validate('fk');
SELECT is(pg_temp.violations('fk'), '{"pid": 11}=2 {"pid": 12}=1', 'a foreign key''s results');
RESET ROLE;
-- and a pass of it that was interrupted (as a cancel leaves it)
UPDATE ri_policy._progress SET status = 'interrupted', resume_block = 0, rows_checked = 0,
							   batches = 0
 WHERE reference = (SELECT id FROM ri_policy._foreign_key WHERE name = 'fk');

-- 1. renaming the foreign key keeps its results and its pass
SET ROLE regress_id_a;
ALTER TABLE id_a.c RENAME CONSTRAINT fk TO fk2;
SELECT is(pg_temp.violations('fk2'), '{"pid": 11}=2 {"pid": 12}=1',
		  'renaming a foreign key keeps its results');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'fk2'),
		  'interrupted', 'and its interrupted pass');
SELECT is((SELECT orphan_keys FROM ri_policy.references WHERE name = 'fk2'), 2::bigint,
		  'references counts them under the new name');
RESET ROLE;

-- 2. another role declares a reference with the old name: it inherits nothing
SET ROLE regress_id_b;
CREATE TABLE id_b.p (id int PRIMARY KEY);
INSERT INTO id_b.p VALUES (1), (2);
CREATE TABLE id_b.c (pid int);
INSERT INTO id_b.c VALUES (1), (2), (3), (77);
SELECT is(ri_policy.declare_reference('id_b.c', '{pid}', 'id_b.p', name => 'fk'), 'fk',
		  'another role declares a reference with the old name');
SELECT is(pg_temp.violations('fk'), '', 'it has no results');
SELECT is((SELECT last_validated FROM ri_policy.references WHERE name = 'fk'), NULL,
		  'and was never validated');
SELECT is((SELECT count(*) FROM ri_policy.validation_progress WHERE reference = 'fk'), 0::bigint,
		  'nor has a pass to resume');
CALL ri_policy.validate('fk');
SELECT is((SELECT status || ' ' || rows_checked FROM ri_policy.validation_progress
			WHERE reference = 'fk'), 'done 4', 'its first validation reads its own child, all of it');
SELECT is(pg_temp.violations('fk'), '{"pid": 3}=1 {"pid": 77}=1', 'and finds its own orphans');
RESET ROLE;
SELECT is(pg_temp.violations('fk2'), '{"pid": 11}=2 {"pid": 12}=1',
		  'the foreign key''s results are untouched');

-- the foreign key's owner resumes its own pass
SET ROLE regress_id_a;
CALL ri_policy.validate('fk2');
SELECT is((SELECT status || ' ' || rows_checked FROM ri_policy.validation_progress
			WHERE reference = 'fk2'), 'done 4',
		  'the renamed foreign key''s pass goes on, on its own table');

-- 3. ALTER COLUMN TYPE rebuilds the key (a new constraint, same name): its
-- results stay
ALTER TABLE id_a.c ALTER COLUMN pid TYPE bigint;
SELECT is(pg_temp.violations('fk2'), '{"pid": 11}=2 {"pid": 12}=1',
		  'a foreign key rebuilt by ALTER COLUMN TYPE keeps its results');

-- 4. dropped and added again: a new key, with nothing
ALTER TABLE id_a.c DROP CONSTRAINT fk2;
RESET ROLE;
SELECT is((SELECT count(*) FROM ri_policy._violation v
			WHERE NOT EXISTS (SELECT 1 FROM ri_policy._names n WHERE n.id = v.reference)),
		  0::bigint, 'dropping a foreign key drops its results');
SET ROLE regress_id_a;
ALTER TABLE id_a.c ADD CONSTRAINT fk2 FOREIGN KEY (pid) REFERENCES id_a.p NOT VALID;
SELECT is(pg_temp.violations('fk2'), '', 'a new foreign key of the old name has no results');
SELECT is((SELECT last_validated FROM ri_policy.references WHERE name = 'fk2'), NULL,
		  'and no pass');
RESET ROLE;
-- a row left by a key dropped while event triggers were off (PostgreSQL
-- 17's event_triggers = off): a key renamed to that name inherits nothing
WITH f AS (INSERT INTO ri_policy._foreign_key (child, name) VALUES ('id_a.c', 'stale')
		   RETURNING id)
INSERT INTO ri_policy._violation (reference, key, key_hash, child_rows, first_seen, last_seen)
SELECT id, '{"pid": 1}', 0, 1, now(), now() FROM f;
SET ROLE regress_id_a;
SELECT lives_ok($$ALTER TABLE id_a.c RENAME CONSTRAINT fk2 TO stale$$,
				'a foreign key takes the name of a leftover row');
SELECT is(pg_temp.violations('stale'), '', 'and does not inherit its results');
ALTER TABLE id_a.c RENAME CONSTRAINT stale TO fk2;

-- 5. a declared reference, tracked and validated, then renamed
CREATE TABLE id_a.c2 (pid int);
INSERT INTO id_a.c2 VALUES (1), (20);
SELECT ri_policy.declare_reference('id_a.c2', '{pid}', 'id_a.p', name => 'dr');
SELECT ri_policy.track('dr');
CALL ri_policy.validate('dr');
SELECT ri_policy.rename_reference('dr', 'dr2');
SELECT is(pg_temp.violations('dr2'), '{"pid": 20}=1', 'renaming a declared reference keeps its results');
INSERT INTO id_a.c2 VALUES (21);
CALL ri_policy.validate('dr2');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'dr2'), 1::bigint,
		  'and its tracking: the next pass is incremental');
SELECT is(pg_temp.violations('dr2'), '{"pid": 20}=1 {"pid": 21}=1', 'and right');
ALTER TABLE id_a.c2 ADD CONSTRAINT c2_check CHECK (pid > 0);
SELECT throws_ok($$SELECT ri_policy.rename_reference('dr2', 'c2_check')$$, '42710', NULL,
				 'a reference cannot take the name of a constraint of its table');
SELECT ri_policy.drop_reference('dr2');
SELECT ri_policy.declare_reference('id_a.c2', '{pid}', 'id_a.p', name => 'dr2');
SELECT is(pg_temp.violations('dr2'), '', 'a new reference of a dropped one''s name has no results');
RESET ROLE;

-- 6. two roles' references of one name, tracked on a shared parent: each
-- has its own triggers
SET ROLE regress_id_a;
SELECT ri_policy.declare_reference('id_a.c', '{pid}', 'id_a.p', name => 'same');
SELECT ri_policy.track('id_a.c.same');
RESET ROLE;
SET ROLE regress_id_b;
CREATE TABLE id_b.c3 (pid int);
SELECT ri_policy.declare_reference('id_b.c3', '{pid}', 'id_a.p', name => 'same');
SELECT ri_policy.track('id_b.c3.same');
RESET ROLE;
SELECT is(pg_temp.triggers('id_a.c.same'), 8::bigint, 'a tracked reference has its eight triggers');
SELECT is(pg_temp.triggers('id_b.c3.same'), 8::bigint, 'and so has another role''s of the same name');
SET ROLE regress_id_b;
SELECT ri_policy.drop_reference('id_b.c3.same');
RESET ROLE;
SELECT is(pg_temp.triggers('id_a.c.same'), 8::bigint,
		  'dropping the other role''s reference leaves its triggers on the shared parent');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'id_a.p'::regclass
			AND tgfoid = 'ri_policy._track_trigger'::regproc), 4::bigint,
		  'four of them on the parent');
SET ROLE regress_id_a;
SELECT ri_policy.track('id_a.c.same', false);
RESET ROLE;
SELECT is(pg_temp.triggers('id_a.c.same'), 0::bigint, 'track(false) drops its triggers');
SET ROLE regress_id_a;

-- a trigger of another function under a tracking trigger's name is not
-- one: triggers are found by what they call and its arguments
SELECT ri_policy.track('dr2');
CALL ri_policy.validate('dr2');
CREATE FUNCTION id_a.nothing() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
DO $$
DECLARE
	n name := (SELECT tgname FROM pg_trigger
				WHERE tgrelid = 'id_a.c2'::regclass AND tgname LIKE '%\_cd');
BEGIN
	EXECUTE format('DROP TRIGGER %I ON id_a.c2', n);
	EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON id_a.c2 FOR EACH STATEMENT'
				   ' EXECUTE FUNCTION id_a.nothing()', n);
END $$;
INSERT INTO id_a.c2 VALUES (22);
CALL ri_policy.validate('dr2');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'dr2'),
		  (SELECT count(*) FROM id_a.c2),
		  'with a lookalike in place of its delete trigger, the next pass is full');
SELECT ri_policy.track('dr2', false);
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'id_a.c2'::regclass
			AND tgfoid = 'id_a.nothing'::regproc), 1::bigint,
		  'and track(false) leaves it alone');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
