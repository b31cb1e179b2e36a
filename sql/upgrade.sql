--
-- ALTER EXTENSION ri_policy UPDATE from 0.4 keeps every reference, result,
-- progress row and tracked state, and all of it works afterwards.  The 0.4
-- rows are made as 0.4 made them, and its tracking triggers too (this
-- library runs only 0.5's objects); until the update, those triggers go on
-- recording, with this library.
--
DROP EXTENSION ri_policy;
CREATE EXTENSION ri_policy VERSION '0.4';
CREATE SCHEMA regress_up;
CREATE SCHEMA regress_up2;
CREATE TABLE regress_up.p (id int PRIMARY KEY);
INSERT INTO regress_up.p SELECT generate_series(1, 10);

-- validated, with orphans
CREATE TABLE regress_up.c (id int, pid int);
INSERT INTO regress_up.c VALUES (1, 1), (2, 2), (3, 11), (4, 11), (5, 12);
INSERT INTO ri_policy._reference (name, child, child_columns, parent, parent_columns,
								  eq_operators, match, on_delete)
VALUES ('r_done', 'regress_up.c', '{pid}', 'regress_up.p', '{id}',
		'{"=(integer,integer)"}', 'simple', 'no action');
INSERT INTO ri_policy._violation
VALUES ('r_done', '{"pid": 11}', 2, now(), now()), ('r_done', '{"pid": 12}', 1, now(), now());
INSERT INTO ri_policy._progress (reference, status, started_at, finished_at, batches,
								 rows_checked, blocks_total, blocks_done, orphan_keys,
								 resume_rel, leaves, last_done_at, last_full_at)
VALUES ('r_done', 'done', now(), now(), 1, 5, 1, 1, 2, 'regress_up.c'::regclass, 1, now(), now());

-- a pass interrupted after its first block
CREATE TABLE regress_up.c2 (pid int);
INSERT INTO regress_up.c2 SELECT g % 8 * 2 FROM generate_series(1, 600) g;
INSERT INTO ri_policy._reference (name, child, child_columns, parent, parent_columns,
								  eq_operators, match, on_delete)
VALUES ('r_interrupted', 'regress_up.c2', '{pid}', 'regress_up.p', '{id}',
		'{"=(integer,integer)"}', 'simple', 'no action');
INSERT INTO ri_policy._pending
SELECT 'r_interrupted', jsonb_build_object('pid', pid), count(*) FROM regress_up.c2
 WHERE (ctid::text::point)[0] = 0 AND pid NOT IN (SELECT id FROM regress_up.p) GROUP BY 2;
INSERT INTO ri_policy._progress (reference, status, started_at, batches, rows_checked,
								 blocks_total, blocks_done, orphan_keys, resume_rel,
								 resume_block, leaves)
SELECT 'r_interrupted', 'interrupted', now(), 1, count(*), 3, 1, 0,
	   'regress_up.c2'::regclass, 1, 1
  FROM regress_up.c2 WHERE (ctid::text::point)[0] = 0;

-- tracked, fully validated since, with its 0.4 triggers
CREATE TABLE regress_up.c3 (pid int);
INSERT INTO regress_up.c3 VALUES (1), (5), (9);
INSERT INTO ri_policy._reference (name, child, child_columns, parent, parent_columns,
								  eq_operators, match, on_delete, tracked_since)
VALUES ('r_tracked', 'regress_up.c3', '{pid}', 'regress_up.p', '{id}',
		'{"=(integer,integer)"}', 'simple', 'no action', now() - interval '1 hour');
INSERT INTO ri_policy._progress (reference, status, started_at, finished_at, batches,
								 rows_checked, blocks_total, blocks_done, orphan_keys,
								 resume_rel, leaves, last_done_at, last_full_at)
VALUES ('r_tracked', 'done', now() - interval '30 minutes', now(), 1, 3, 1, 1, 0,
		'regress_up.c3'::regclass, 1, now(), now() - interval '30 minutes');
INSERT INTO ri_policy._sentinel VALUES ('r_tracked');
DO $$
DECLARE
	ev record;
BEGIN
	FOR ev IN SELECT * FROM (VALUES
		('regress_up.c3', 'c', 'i', 'INSERT', 'REFERENCING NEW TABLE AS ri_new', 'child'),
		('regress_up.c3', 'c', 'u', 'UPDATE', 'REFERENCING OLD TABLE AS ri_old NEW TABLE AS ri_new', 'child'),
		('regress_up.c3', 'c', 'd', 'DELETE', '', 'child'),
		('regress_up.c3', 'c', 't', 'TRUNCATE', '', 'child'),
		('regress_up.p', 'p', 'i', 'INSERT', 'REFERENCING NEW TABLE AS ri_new', 'parent'),
		('regress_up.p', 'p', 'u', 'UPDATE', 'REFERENCING OLD TABLE AS ri_old NEW TABLE AS ri_new', 'parent'),
		('regress_up.p', 'p', 'd', 'DELETE', 'REFERENCING OLD TABLE AS ri_old', 'parent'),
		('regress_up.p', 'p', 't', 'TRUNCATE', '', 'parent')) AS v(rel, side, tag, event, ref, arg)
	LOOP
		EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT'
					   ' EXECUTE FUNCTION ri_policy._track_trigger(%L, %L, %L, %L, %L)',
					   'ri_policy_track_1a2b3c4d_' || ev.side || ev.tag, ev.event, ev.rel,
					   ev.ref, 'r_tracked', 'simple', ev.arg, '1',
					   CASE ev.side WHEN 'c' THEN 'pid' ELSE 'id' END);
	END LOOP;
END $$;

-- a foreign key with results, and the results of a name that two foreign
-- keys have now
CREATE TABLE regress_up.fc (pid int);
INSERT INTO regress_up.fc VALUES (1), (14);
ALTER TABLE regress_up.fc ADD CONSTRAINT fc_fk FOREIGN KEY (pid) REFERENCES regress_up.p NOT VALID;
INSERT INTO ri_policy._violation VALUES ('fc_fk', '{"pid": 14}', 1, now(), now());
INSERT INTO ri_policy._progress (reference, status, started_at, finished_at, batches,
								 rows_checked, blocks_total, blocks_done, orphan_keys,
								 resume_rel, leaves, last_done_at, last_full_at)
VALUES ('fc_fk', 'done', now(), now(), 1, 2, 1, 1, 1, 'regress_up.fc'::regclass, 1, now(), now());
CREATE TABLE regress_up2.fc (pid int CONSTRAINT dup_fk REFERENCES regress_up.p);
CREATE TABLE regress_up2.fc2 (pid int CONSTRAINT dup_fk REFERENCES regress_up.p);
INSERT INTO ri_policy._violation VALUES ('dup_fk', '{"pid": 99}', 1, now(), now());

-- a declared reference and a foreign key of one name on one table (0.4
-- did not prevent it)
ALTER TABLE regress_up.c ADD CONSTRAINT both_names FOREIGN KEY (id) REFERENCES regress_up.p NOT VALID;
INSERT INTO ri_policy._reference (name, child, child_columns, parent, parent_columns,
								  eq_operators, match, on_delete)
VALUES ('both_names', 'regress_up.c', '{pid}', 'regress_up.p', '{id}',
		'{"=(integer,integer)"}', 'simple', 'no action');

-- a reference whose table was dropped while the objects were older than
-- the library (the library leaves them alone)
CREATE TABLE regress_up.gone (pid int);
INSERT INTO ri_policy._reference (name, child, child_columns, parent, parent_columns,
								  eq_operators, match, on_delete)
VALUES ('r_gone', 'regress_up.gone', '{pid}', 'regress_up.p', '{id}',
		'{"=(integer,integer)"}', 'simple', 'no action');
DROP TABLE regress_up.gone;

-- changes recorded by the 0.4 triggers, through this library
INSERT INTO regress_up.c3 VALUES (13);
DELETE FROM regress_up.p WHERE id = 9;
SELECT reference, keys, from_parent FROM ri_policy._changed ORDER BY 2;

-- 0.4's declare_reference() (seven arguments) refuses until the update
\set VERBOSITY terse
SELECT ri_policy.declare_reference('regress_up.c3', '{pid}', 'regress_up.p', name => 'early');
\set VERBOSITY default

ALTER EXTENSION ri_policy UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'ri_policy';

-- 0.6 keeps the pinned operators by qualified name, and no column of the
-- extension's tables has a type whose OIDs pg_upgrade does not keep (it
-- refuses a database with one: src/bin/pg_upgrade/check.c)
SELECT DISTINCT eq_operators FROM ri_policy._reference;
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_type t ON t.oid = a.atttypid
 WHERE c.relnamespace = 'ri_policy'::regnamespace AND c.relkind IN ('r', 'p')
   AND a.attnum > 0 AND NOT a.attisdropped
   AND (SELECT typname FROM pg_type WHERE oid = CASE WHEN t.typelem <> 0 THEN t.typelem ELSE t.oid END)
	   IN ('regcollation', 'regconfig', 'regdictionary', 'regnamespace', 'regoper',
		   'regoperator', 'regproc', 'regprocedure');

-- everything is there, under the same names
SELECT name, child, kind, last_validated IS NOT NULL AS validated, orphan_keys, orphan_rows
  FROM ri_policy.references WHERE child::text LIKE 'regress_up%' ORDER BY 2, 1, 3;
SELECT reference, child, key, child_rows FROM ri_policy.violations ORDER BY 1, 2, 3;
-- declared references get what 0.4's promote() gave their keys
SELECT name, on_delete, on_update, is_deferrable, initially_deferred, on_delete_columns, not_valid
  FROM ri_policy.references WHERE kind = 'declared' AND child::text LIKE 'regress_up%' ORDER BY 1;
SELECT reference, child, status, rows_checked FROM ri_policy.validation_progress ORDER BY 1;
SELECT count(*) AS pending FROM ri_policy._pending;
SELECT n.name, s.reference IS NOT NULL AS sentinel,
	   (SELECT count(*) FROM ri_policy._changed c WHERE c.reference = n.id) AS changes
  FROM ri_policy._names n LEFT JOIN ri_policy._sentinel s ON s.reference = n.id
 WHERE n.name = 'r_tracked';
-- the tracking triggers, named by id
SELECT tgrelid::regclass, tgname ~ '^ri_policy_track_[0-9]+_[cp][iudt]$' AS by_id, right(tgname, 2)
  FROM pg_trigger WHERE tgfoid = 'ri_policy._track_trigger'::regproc ORDER BY 1, 3;

-- and it all still works: the interrupted pass starts over (a pass of 0.4
-- did not record where it began, which a pass of 0.5 resumes from), the
-- tracked reference's next pass is incremental, each exact
CALL ri_policy.validate('r_interrupted');
SELECT status, rows_checked = (SELECT count(*) FROM regress_up.c2) AS every_row_once
  FROM ri_policy.validation_progress WHERE reference = 'r_interrupted';
(SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'r_interrupted'
 EXCEPT
 SELECT jsonb_build_object('pid', pid), count(*) FROM regress_up.c2
  WHERE NOT EXISTS (SELECT 1 FROM regress_up.p WHERE id = pid) GROUP BY 1)
UNION ALL
(SELECT jsonb_build_object('pid', pid), count(*) FROM regress_up.c2
  WHERE NOT EXISTS (SELECT 1 FROM regress_up.p WHERE id = pid) GROUP BY 1
 EXCEPT
 SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'r_interrupted');
CALL ri_policy.validate('r_tracked');
SELECT status, rows_checked FROM ri_policy.validation_progress WHERE reference = 'r_tracked';
SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'r_tracked' ORDER BY 1;
INSERT INTO regress_up.c3 VALUES (15);
CALL ri_policy.validate('r_tracked');
SELECT status, rows_checked FROM ri_policy.validation_progress WHERE reference = 'r_tracked';
CALL ri_policy.validate('fc_fk');
SELECT key, child_rows FROM ri_policy.violations WHERE reference = 'fc_fk';
-- the keys recorded by 0.4 were hashed as a pass hashes them: a full pass
-- finds them, and keeps when they were first seen
CREATE TEMP TABLE first_seen AS
	SELECT key, first_seen FROM ri_policy.violations WHERE reference = 'r_done';
CALL ri_policy.validate('r_done', full => true);
SELECT v.key, v.child_rows, v.first_seen = f.first_seen AS kept
  FROM ri_policy.violations v JOIN first_seen f USING (key)
 WHERE v.reference = 'r_done' ORDER BY 1;
SELECT count(*) AS helper_left FROM pg_proc WHERE proname = '_key_hash';
-- the name two relationships of one table share is ambiguous, until one
-- of them is renamed
CALL ri_policy.validate('regress_up.c.both_names');
ALTER TABLE regress_up.c RENAME CONSTRAINT both_names TO both_names_fk;
CALL ri_policy.validate('regress_up.c.both_names');
SELECT status FROM ri_policy.validation_progress WHERE reference = 'both_names';

SET client_min_messages = warning;
DROP SCHEMA regress_up, regress_up2 CASCADE;
RESET client_min_messages;
SELECT count(*) AS left_behind FROM ri_policy._names;
