-- promote(), demote(), demote_all(): declared references become foreign
-- keys and back, equivalently; the policy applies to promote(); bad input
-- changes nothing.  promote() commits in a background worker, so this file
-- runs outside a transaction block and cleans up after itself.
SELECT plan(30);

CREATE SCHEMA lc;
CREATE TABLE lc.parent (id int PRIMARY KEY, code text, region int, UNIQUE (region, code));
INSERT INTO lc.parent SELECT g, 'c' || g, g % 3 FROM generate_series(1, 100) g;
CREATE TABLE lc.child (id int, pid int, code text, region int);
INSERT INTO lc.child SELECT g, g % 100 + 1, 'c' || (g % 100 + 1), (g % 100 + 1) % 3
  FROM generate_series(1, 2000) g;
CREATE ROLE regress_lc_other;

-- the definitions of the foreign keys on lc.child, for comparisons
CREATE FUNCTION pg_temp.fks() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(conname || ' ' || pg_get_constraintdef(oid), '; ' ORDER BY conname), '')
	  FROM pg_constraint WHERE conrelid = 'lc.child'::regclass AND contype = 'f'$$;
CREATE FUNCTION pg_temp.declared() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(name || ' ' || child_columns::text || ' ' || parent_columns::text
							   || ' ' || match || ' ' || on_delete, '; ' ORDER BY name), '')
	  FROM ri_policy.references WHERE kind = 'declared'$$;

-- demote, then promote: an equivalent constraint
ALTER TABLE lc.child ADD CONSTRAINT child_code_fk FOREIGN KEY (region, code)
	REFERENCES lc.parent (region, code) MATCH FULL ON DELETE SET NULL;
ALTER TABLE lc.child ADD CONSTRAINT child_pid_fk FOREIGN KEY (pid)
	REFERENCES lc.parent ON DELETE CASCADE;
CREATE TEMP TABLE original AS SELECT pg_temp.fks() AS defs;

SELECT is(ri_policy.demote('lc.child', 'child_pid_fk'), 'child_pid_fk',
		  'demote returns the reference''s name');
SELECT is(pg_temp.declared(), 'child_pid_fk {pid} {id} simple cascade',
		  'demote declared the same relationship');
SELECT is(pg_temp.fks(), (SELECT split_part(defs, '; ', 1) FROM original),
		  'and dropped the foreign key');
SELECT is(ri_policy.demote('lc.child', 'child_code_fk'), 'child_code_fk', 'demote a two-column key');
SELECT is(pg_temp.declared(),
		  'child_code_fk {region,code} {region,code} full set null; child_pid_fk {pid} {id} simple cascade',
		  'match type and ON DELETE action are kept');

SELECT lives_ok($$SELECT ri_policy.promote('child_pid_fk')$$, 'promote');
SELECT lives_ok($$SELECT ri_policy.promote('child_code_fk')$$, 'promote the two-column one');
SELECT is(pg_temp.fks(), (SELECT defs FROM original),
		  'demote then promote gives back equivalent constraints');
SELECT is((SELECT count(*) FROM pg_constraint WHERE conrelid = 'lc.child'::regclass
			AND contype = 'f' AND convalidated), 2::bigint, 'both are validated');
SELECT is(pg_temp.declared(), '', 'and no longer declared');

-- promote with orphans: the key stays NOT VALID, with a WARNING
SELECT ri_policy.demote('lc.child', 'child_pid_fk');
INSERT INTO lc.child VALUES (0, 555, NULL, NULL);
SELECT lives_ok($$SELECT ri_policy.promote('child_pid_fk')$$,
				'promote with orphans does not fail');
SELECT is((SELECT kind FROM ri_policy.references WHERE name = 'child_pid_fk'), 'not valid',
		  'it leaves a NOT VALID foreign key');
SELECT is((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'child_pid_fk'),
		  'FOREIGN KEY (pid) REFERENCES lc.parent(id) ON DELETE CASCADE NOT VALID',
		  'with the declared definition');
DELETE FROM lc.child WHERE id = 0;

-- validate => false
SELECT ri_policy.demote('lc.child', 'child_pid_fk');
SELECT lives_ok($$SELECT ri_policy.promote('child_pid_fk', validate => false)$$,
				'promote without validating');
SELECT is((SELECT kind FROM ri_policy.references WHERE name = 'child_pid_fk'), 'not valid',
		  'leaves it NOT VALID');
ALTER TABLE lc.child VALIDATE CONSTRAINT child_pid_fk;

-- demote_all
SELECT set_eq($$SELECT * FROM ri_policy.demote_all('lc')$$,
			  ARRAY['child_code_fk', 'child_pid_fk'], 'demote_all demotes a schema''s keys');
SELECT is(pg_temp.fks(), '', 'none is left');

-- promote obeys ri_policy.mode
SET ri_policy.mode = 'block';
SELECT throws_ok($$SELECT ri_policy.promote('child_pid_fk')$$, '42501', NULL,
				 'promote under block fails with 42501');
SELECT is(pg_temp.fks(), '', 'and creates nothing');
SELECT is((SELECT kind FROM ri_policy.references WHERE name = 'child_pid_fk'), 'declared',
		  'the reference is still declared');
RESET ri_policy.mode;

-- bad input
SELECT throws_ok($$SELECT ri_policy.promote('no_such')$$, '42704', NULL, 'promote: unknown reference');
SELECT throws_ok($$SELECT ri_policy.promote(NULL)$$, '22004', NULL, 'promote: NULL');
SELECT lives_ok($$SELECT ri_policy.promote('child_code_fk')$$, 'promote child_code_fk again');
SELECT throws_ok($$SELECT ri_policy.promote('child_code_fk')$$, '42809', NULL,
				 'promote: already a foreign key');
SELECT throws_ok($$SELECT ri_policy.promote('child_pid_fk') FROM lc.child LIMIT 1$$, '55006', NULL,
				 'promote: not while holding a lock on the tables');
SELECT throws_ok($$SELECT ri_policy.demote('lc.child', 'nope')$$, '42704', NULL,
				 'demote: unknown constraint');
SELECT throws_ok($$SELECT ri_policy.demote('lc.parent', 'parent_pkey')$$, '42809', NULL,
				 'demote: not a foreign key');
SELECT throws_ok($$SELECT ri_policy.demote(NULL, 'x')$$, '22004', NULL, 'demote: NULL');
SET ROLE regress_lc_other;
SELECT throws_ok($$SELECT ri_policy.demote('lc.child', 'child_code_fk')$$, '42501', NULL,
				 'demote: not the owner');
RESET ROLE;
SELECT is(pg_temp.fks(), 'child_code_fk FOREIGN KEY (region, code) REFERENCES lc.parent(region, code) MATCH FULL ON DELETE SET NULL',
		  'the failed calls changed nothing');

SELECT ri_policy.drop_reference('child_pid_fk');
SET client_min_messages = warning;
DROP SCHEMA lc CASCADE;
DROP ROLE regress_lc_other;
SELECT * FROM finish();
