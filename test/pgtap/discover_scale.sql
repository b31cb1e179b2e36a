-- discover() respects its budget on a schema of many tables and columns:
-- the candidates are found by their names first, not by comparing every
-- column with every key (400 tables of 31 integer columns made that 5
-- million comparisons, seconds before the first check of the budget; a
-- few thousand tables, minutes).  The true relationships among them are
-- still found.  Runs in one transaction, rolled back.
BEGIN;
SELECT plan(3);

CREATE SCHEMA regress_scale;
DO $$
BEGIN
	FOR i IN 1..400 LOOP
		EXECUTE format('CREATE TABLE regress_scale.t%s (id int PRIMARY KEY, %s)', i,
					   (SELECT string_agg(format('x%s_id int', j), ', ') FROM generate_series(1, 30) j));
	END LOOP;
END
$$;
-- two true ones: t7.t3_id -> t3.id (name), t9.parent_t9_id -> t9.id (self)
ALTER TABLE regress_scale.t7 ADD t3_id int;
INSERT INTO regress_scale.t3 (id) SELECT generate_series(1, 100);
INSERT INTO regress_scale.t7 (id, t3_id) SELECT g, 1 + g % 100 FROM generate_series(1, 200) g;
ALTER TABLE regress_scale.t9 ADD parent_t9_id int;
INSERT INTO regress_scale.t9 (id, parent_t9_id) SELECT g, CASE WHEN g > 1 THEN g / 2 END FROM generate_series(1, 200) g;
ANALYZE regress_scale.t3, regress_scale.t7, regress_scale.t9;

SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE d AS SELECT * FROM ri_policy.discover(time_budget => '1 s', schema_name => 'regress_scale');
SELECT ok(clock_timestamp() - :'t0'::timestamptz < '4 s',
		  'discover() with a budget of 1 s returns within a few seconds on 400 tables of 31 columns');
SELECT is((SELECT array_agg(child::text || '.' || child_column || ' -> ' || parent::text || ' ' || name_rule
							ORDER BY child::text)
			 FROM d),
		  '{"regress_scale.t7.t3_id -> regress_scale.t3 name","regress_scale.t9.parent_t9_id -> regress_scale.t9 self"}',
		  'the true relationships among them are found');
SELECT is((SELECT count(*) FROM ri_policy._candidates('regress_scale')), 2::bigint,
		  'and no other candidate is listed');

SELECT * FROM finish();
ROLLBACK;
