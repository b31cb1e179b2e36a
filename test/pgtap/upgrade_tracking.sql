-- ALTER EXTENSION ri_policy UPDATE from 0.4 re-creates the tracking
-- triggers, enabled ALWAYS.  A tracked reference keeps its incremental
-- passes only if its 0.4 triggers were all there and enabled: one with a
-- disabled or dropped trigger may have missed changes, and its next pass is
-- full.  (The 0.4 rows and triggers are made as 0.4 made them: this
-- library runs only 0.5's objects.)
BEGIN;
SELECT plan(5);

DROP EXTENSION ri_policy;
CREATE EXTENSION ri_policy VERSION '0.4';
CREATE TABLE p (id int PRIMARY KEY);
INSERT INTO p SELECT generate_series(1, 10);
DO $$
DECLARE
	r text;
	ev record;
BEGIN
	FOREACH r IN ARRAY ARRAY['r_ok', 'r_off', 'r_gone'] LOOP
		EXECUTE format('CREATE TABLE %I (pid int)', 'c_' || r);
		EXECUTE format('INSERT INTO %I VALUES (1), (2)', 'c_' || r);
		INSERT INTO ri_policy._reference (name, child, child_columns, parent, parent_columns,
										  eq_operators, match, on_delete, tracked_since)
		VALUES (r, ('c_' || r)::regclass, '{pid}', 'p', '{id}', '{"=(integer,integer)"}',
				'simple', 'no action', now() - interval '1 hour');
		INSERT INTO ri_policy._progress (reference, status, started_at, finished_at, batches,
										 rows_checked, blocks_total, blocks_done, orphan_keys,
										 resume_rel, leaves, last_done_at, last_full_at)
		VALUES (r, 'done', now() - interval '30 minutes', now(), 1, 2, 1, 1, 0,
				('c_' || r)::regclass, 1, now(), now() - interval '30 minutes');
		INSERT INTO ri_policy._sentinel VALUES (r);
		FOR ev IN SELECT * FROM (VALUES
			('c', 'i', 'INSERT', 'REFERENCING NEW TABLE AS ri_new', 'child'),
			('c', 'u', 'UPDATE', 'REFERENCING OLD TABLE AS ri_old NEW TABLE AS ri_new', 'child'),
			('c', 'd', 'DELETE', '', 'child'),
			('c', 't', 'TRUNCATE', '', 'child'),
			('p', 'i', 'INSERT', 'REFERENCING NEW TABLE AS ri_new', 'parent'),
			('p', 'u', 'UPDATE', 'REFERENCING OLD TABLE AS ri_old NEW TABLE AS ri_new', 'parent'),
			('p', 'd', 'DELETE', 'REFERENCING OLD TABLE AS ri_old', 'parent'),
			('p', 't', 'TRUNCATE', '', 'parent')) AS v(side, tag, event, ref, arg)
		LOOP
			EXECUTE format('CREATE TRIGGER %I AFTER %s ON %I %s FOR EACH STATEMENT'
						   ' EXECUTE FUNCTION ri_policy._track_trigger(%L, %L, %L, %L, %L)',
						   'ri_policy_track_' || r || '_' || ev.side || ev.tag, ev.event,
						   CASE ev.side WHEN 'c' THEN 'c_' || r ELSE 'p' END,
						   ev.ref, r, 'simple', ev.arg, '1',
						   CASE ev.side WHEN 'c' THEN 'pid' ELSE 'id' END);
		END LOOP;
	END LOOP;
END $$;
ALTER TABLE p DISABLE TRIGGER ri_policy_track_r_off_pd;
DROP TRIGGER ri_policy_track_r_gone_ci ON c_r_gone;

ALTER EXTENSION ri_policy UPDATE;

SELECT is((SELECT string_agg(n.name, ',' ORDER BY n.name) FROM ri_policy._sentinel s
			 JOIN ri_policy._names n ON n.id = s.reference),
		  'r_ok', 'only the reference whose 0.4 triggers were all enabled keeps its sentinel');
SELECT is((SELECT count(*) FILTER (WHERE tgenabled = 'A') || '/' || count(*)
			 FROM pg_trigger WHERE tgfoid = 'ri_policy._track_trigger'::regproc),
		  '24/24', 'every reference has its eight triggers again, enabled ALWAYS');
CALL ri_policy.validate('r_ok');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'r_ok'),
		  0::bigint, 'its next pass is incremental');
CALL ri_policy.validate('r_off');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'r_off'),
		  2::bigint, 'a disabled trigger''s: full');
CALL ri_policy.validate('r_gone');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'r_gone'),
		  2::bigint, 'a dropped trigger''s: full');

SELECT * FROM finish();
ROLLBACK;
