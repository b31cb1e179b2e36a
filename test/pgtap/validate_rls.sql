-- A child whose owner is subject to a forced row-level security policy:
-- the full pass (a heap scan), an incremental pass, orphans() and repair()
-- all see the same rows, every row, as PostgreSQL's own foreign-key checks
-- do; repair() clears only keys it repaired.
BEGIN;
SELECT plan(6);

CREATE ROLE regress_rls_owner;
CREATE SCHEMA rls AUTHORIZATION regress_rls_owner;
SET ROLE regress_rls_owner;
CREATE TABLE rls.parent (id int PRIMARY KEY);
INSERT INTO rls.parent SELECT generate_series(1, 5);
CREATE TABLE rls.child (id int PRIMARY KEY, pid int);
CREATE INDEX ON rls.child (pid);
INSERT INTO rls.child SELECT g, CASE WHEN g <= 10 THEN 1 + g % 5 ELSE g END
  FROM generate_series(1, 20) g;
-- the owner sees only even rows of its own table
ALTER TABLE rls.child ENABLE ROW LEVEL SECURITY;
ALTER TABLE rls.child FORCE ROW LEVEL SECURITY;
CREATE POLICY even ON rls.child USING (id % 2 = 0);
SELECT ri_policy.declare_reference('rls.child', '{pid}', 'rls.parent', name => 'rls_ref');
SELECT ri_policy.track('rls_ref');
CALL ri_policy.validate('rls_ref');
RESET ROLE;

CREATE FUNCTION pg_temp.truth() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(DISTINCT pid) FROM rls.child c
	 WHERE NOT EXISTS (SELECT 1 FROM rls.parent p WHERE p.id = c.pid)
$$;
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'rls_ref'),
		  pg_temp.truth(), 'a full pass finds every orphan, hidden rows included');

-- new orphans, odd and even, then an incremental pass
INSERT INTO rls.child SELECT g, g FROM generate_series(21, 30) g;
DELETE FROM rls.parent WHERE id = 5;
SET ROLE regress_rls_owner;
CALL ri_policy.validate('rls_ref');
RESET ROLE;
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'rls_ref'),
		  pg_temp.truth(), 'an incremental pass sees the same rows');
SELECT is((SELECT rows_checked FROM ri_policy.validation_progress WHERE reference = 'rls_ref') < 20,
		  true, '(it was incremental)');
SELECT pg_temp.truth() AS truth \gset
SET ROLE regress_rls_owner;
SELECT is((SELECT count(*) FROM ri_policy.orphans('rls_ref')), :'truth'::bigint,
		  'orphans() sees the same rows');
CALL ri_policy.repair('rls_ref', 'delete');
RESET ROLE;
SELECT is(pg_temp.truth(), 0::bigint, 'repair() deletes every orphan, hidden rows included');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'rls_ref'), 0::bigint,
		  'and clears exactly those keys');

SELECT * FROM finish();
ROLLBACK;
