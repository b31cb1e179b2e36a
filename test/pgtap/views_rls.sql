-- A role that may read a child table only through a row-level security
-- policy sees none of its references' recorded keys or counts in the views
-- (a recorded key may come from a row the policy hides), as orphans()
-- refuses it; the owner, and a role the policy does not restrict, see them.
BEGIN;
SELECT plan(8);

CREATE ROLE regress_vr_owner;
CREATE ROLE regress_vr_reader;
CREATE ROLE regress_vr_full;
CREATE SCHEMA vr AUTHORIZATION regress_vr_owner;
GRANT USAGE ON SCHEMA vr TO regress_vr_reader, regress_vr_full;
SET ROLE regress_vr_owner;
CREATE TABLE vr.parent (id int PRIMARY KEY);
INSERT INTO vr.parent VALUES (1);
CREATE TABLE vr.secret (id int, k int);
INSERT INTO vr.secret VALUES (1, 4242), (2, 1);
ALTER TABLE vr.secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON vr.secret FOR SELECT TO regress_vr_reader USING (id = 2);
GRANT SELECT ON vr.secret TO regress_vr_reader, regress_vr_full;
SELECT ri_policy.declare_reference('vr.secret', '{k}', 'vr.parent', name => 'vr_sec');
CALL ri_policy.validate('vr_sec');
RESET ROLE;
ALTER ROLE regress_vr_full BYPASSRLS;

SET ROLE regress_vr_reader;
SELECT is((SELECT count(*) FROM vr.secret), 1::bigint, 'the reader sees one row of the child');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'vr_sec'), 0::bigint,
		  'and no recorded key: the one there comes from a hidden row');
SELECT is((SELECT orphan_keys FROM ri_policy.references WHERE name = 'vr_sec'), NULL,
		  'no orphan count in references');
SELECT is((SELECT count(*) FROM ri_policy.validation_progress WHERE reference = 'vr_sec'), 0::bigint,
		  'no progress row');
SELECT throws_ok($$SELECT * FROM ri_policy.orphans('vr_sec')$$, '42501', NULL,
				 'orphans() refuses the reader, as before');
SET ROLE regress_vr_owner;
SELECT is((SELECT key::text FROM ri_policy.violations WHERE reference = 'vr_sec'), '{"k": 4242}',
		  'the owner sees the key');
SET ROLE regress_vr_full;
SELECT is((SELECT key::text FROM ri_policy.violations WHERE reference = 'vr_sec'), '{"k": 4242}',
		  'so does a role the policy does not restrict');
SELECT is((SELECT orphan_keys FROM ri_policy.references WHERE name = 'vr_sec'), 1::bigint,
		  'with its count');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
