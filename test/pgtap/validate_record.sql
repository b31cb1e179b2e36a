-- What the end of a full pass writes: only the violations that changed.
--
-- Every violation a complete full pass leaves was seen by it, so the time
-- it saw them is kept once (ri_policy._progress.seen_at) and the
-- violations view shows the later of that and a violation's own last_seen;
-- a violation whose key and rows are unchanged keeps its row version.  The
-- first pass is moved a day back (its rows' times) to tell the two passes
-- apart inside one transaction.  And the pending keys met again in later
-- batches (many per batch) add up exactly.
BEGIN;
SELECT plan(13);

CREATE SCHEMA regress_vr;
CREATE TABLE regress_vr.parent (id int PRIMARY KEY);
INSERT INTO regress_vr.parent SELECT generate_series(1, 100);
CREATE TABLE regress_vr.child (id int, pid int);
INSERT INTO regress_vr.child VALUES (1, 1001), (2, 1001), (3, 1001), (4, 1002), (5, 1002),
	(6, 1003), (7, 5);
SELECT ri_policy.declare_reference('regress_vr.child', '{pid}', 'regress_vr.parent',
								   name => 'vr');
CALL ri_policy.validate('vr');
-- as if the first pass had run a day ago
UPDATE ri_policy._violation SET first_seen = first_seen - interval '1 day',
	   last_seen = last_seen - interval '1 day'
 WHERE reference = (SELECT id FROM ri_policy._names WHERE name = 'vr');
UPDATE ri_policy._progress SET seen_at = seen_at - interval '1 day'
 WHERE reference = (SELECT id FROM ri_policy._names WHERE name = 'vr');
CREATE TEMP TABLE before AS
SELECT v.key, v.ctid AS version FROM ri_policy._violation v
  JOIN ri_policy._names n ON n.id = v.reference WHERE n.name = 'vr';

-- 1001 unchanged, 1002 one row more, 1003 gone, 1004 new
INSERT INTO regress_vr.child VALUES (8, 1002), (9, 1004);
DELETE FROM regress_vr.child WHERE pid = 1003;
CALL ri_policy.validate('vr', restart => true);

SELECT results_eq(
	$$SELECT key::text, child_rows FROM ri_policy.violations WHERE reference = 'vr' ORDER BY 1$$,
	$$VALUES ('{"pid": 1001}', 3::bigint), ('{"pid": 1002}', 3), ('{"pid": 1004}', 1)$$,
	'the second pass records exactly the keys it found');
SELECT is((SELECT v.ctid FROM ri_policy._violation v JOIN before b USING (key)
			WHERE v.key = '{"pid": 1001}'), (SELECT version FROM before WHERE key = '{"pid": 1001}'),
		  'an unchanged violation is not rewritten at the end of a pass');
SELECT isnt((SELECT v.ctid FROM ri_policy._violation v JOIN before b USING (key)
			  WHERE v.key = '{"pid": 1002}'), (SELECT version FROM before WHERE key = '{"pid": 1002}'),
			'a violation whose rows changed is rewritten');
SELECT results_eq(
	$$SELECT key::text, last_seen = now(), first_seen = now() FROM ri_policy.violations
	   WHERE reference = 'vr' ORDER BY 1$$,
	$$VALUES ('{"pid": 1001}', true, false), ('{"pid": 1002}', true, false),
			 ('{"pid": 1004}', true, true)$$,
	'the view shows every violation last seen by the latest pass, first seen when it was');
SELECT is((SELECT last_seen FROM ri_policy._violation WHERE key = '{"pid": 1001}'
			  AND reference = (SELECT id FROM ri_policy._names WHERE name = 'vr')),
		  now() - interval '1 day', 'the unchanged row keeps its own time, the pass row says when it was seen');

-- a violation written after the pass (as an incremental pass does) shows its own later time
UPDATE ri_policy._progress SET seen_at = now() - interval '2 days'
 WHERE reference = (SELECT id FROM ri_policy._names WHERE name = 'vr');
SELECT results_eq(
	$$SELECT key::text, last_seen FROM ri_policy.violations WHERE reference = 'vr' ORDER BY 1$$,
	$$VALUES ('{"pid": 1001}', now() - interval '1 day'), ('{"pid": 1002}', now()),
			 ('{"pid": 1004}', now())$$,
	'the view shows the later of the pass''s time and the violation''s own');
SELECT is((SELECT count(*) FROM ri_policy._pending), 0::bigint, 'nothing is left pending');

-- many keys met again in later batches: each batch updates many pending keys
CREATE TABLE regress_vr.many (id int, pid int);
INSERT INTO regress_vr.many SELECT g, 10000 + g % 3000 FROM generate_series(1, 30000) g;
INSERT INTO regress_vr.many SELECT g, g % 100 + 1 FROM generate_series(1, 30000) g;
SELECT ri_policy.declare_reference('regress_vr.many', '{pid}', 'regress_vr.parent',
								   name => 'vr_many');
CALL ri_policy.validate('vr_many', batch_size => 5000);
SELECT ok((SELECT batches FROM ri_policy.validation_progress WHERE reference = 'vr_many') >= 10,
		  'the pass ran in many batches');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'vr_many'), 3000::bigint,
		  'every orphaned key is recorded once');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'vr_many'
			 AND child_rows <> 10), 0::bigint,
		  'each key''s rows, met in several batches, add up exactly');

-- equal keys of other jsonb forms (numeric scales) met again by a later
-- pass: the violation keeps the form first recorded, and its rows add up
CREATE TABLE regress_vr.nparent (id numeric PRIMARY KEY);
INSERT INTO regress_vr.nparent VALUES (1);
CREATE TABLE regress_vr.nchild (id int, pid numeric);
INSERT INTO regress_vr.nchild VALUES (1, 2.0), (2, 1), (3, 3.50);
SELECT ri_policy.declare_reference('regress_vr.nchild', '{pid}', 'regress_vr.nparent',
								   name => 'vr_num');
CALL ri_policy.validate('vr_num');
UPDATE ri_policy._violation SET first_seen = first_seen - interval '1 day',
	   last_seen = last_seen - interval '1 day'
 WHERE reference = (SELECT id FROM ri_policy._names WHERE name = 'vr_num');
UPDATE regress_vr.nchild SET pid = 2.00 WHERE id = 1;
INSERT INTO regress_vr.nchild VALUES (4, 2.000), (5, 3.5);
CALL ri_policy.validate('vr_num', restart => true, batch_size => 1);
SELECT results_eq(
	$$SELECT key::text, child_rows FROM ri_policy.violations WHERE reference = 'vr_num' ORDER BY 1$$,
	$$VALUES ('{"pid": 2.0}', 2::bigint), ('{"pid": 3.50}', 2::bigint)$$,
	'keys equal to recorded violations in other forms keep the recorded form, and add up');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'vr_num'
			 AND first_seen = now() - interval '1 day'), 2::bigint,
		  'and keep when they were first seen');
SELECT is((SELECT orphan_keys FROM ri_policy.validation_progress WHERE reference = 'vr_num'),
		  2::bigint, 'the progress row counts each key once');

SELECT * FROM finish();
ROLLBACK;
