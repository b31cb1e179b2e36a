-- ALTER COLUMN ... TYPE of a key column (Django's BigAutoField and Rails'
-- bigint migrations run it): the reference's pinned operators are found
-- again for the new types, as PostgreSQL does when it rebuilds a foreign
-- key, so validation keeps working; a change that leaves no operator is
-- refused by the ALTER TABLE itself, with nothing changed.
BEGIN;
SELECT plan(26);

CREATE FUNCTION ops(text) RETURNS text LANGUAGE sql AS $$
	SELECT eq_operators::regoperator[]::text FROM ri_policy._reference WHERE name = $1$$;
CREATE FUNCTION orphan_keys(text) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(key::text, ' ' ORDER BY key) FROM ri_policy.violations WHERE reference = $1$$;

CREATE TABLE kp (id int PRIMARY KEY);
INSERT INTO kp SELECT generate_series(1, 10);
CREATE TABLE kc (pid int);
INSERT INTO kc VALUES (1), (2), (11);
SELECT ri_policy.declare_reference('kc', '{pid}', 'kp', name => 'kr');
CALL ri_policy.validate('kr');
SELECT is(ops('kr'), '{"=(integer,integer)"}', 'an int reference pins =(integer,integer)');

-- the child first, then the parent
ALTER TABLE kc ALTER COLUMN pid TYPE bigint;
SELECT is(ops('kr'), '{"=(integer,bigint)"}', 'the child''s key to bigint: the operator follows');
INSERT INTO kc VALUES (3000000000);
SELECT lives_ok($$CALL ri_policy.validate('kr')$$, 'and a key past 2^31 validates');
SELECT is(orphan_keys('kr'), '{"pid": 11} {"pid": 3000000000}', 'rightly');
ALTER TABLE kp ALTER COLUMN id TYPE bigint;
SELECT is(ops('kr'), '{"=(bigint,bigint)"}', 'the parent''s key to bigint too');
INSERT INTO kp VALUES (3000000000);
CALL ri_policy.validate('kr');
SELECT is(orphan_keys('kr'), '{"pid": 11}', 'a parent key past 2^31 is found');

-- the parent first
CREATE TABLE kp2 (id int PRIMARY KEY);
CREATE TABLE kc2 (pid int);
INSERT INTO kc2 VALUES (5);
SELECT ri_policy.declare_reference('kc2', '{pid}', 'kp2', name => 'kr2');
ALTER TABLE kp2 ALTER COLUMN id TYPE bigint;
SELECT is(ops('kr2'), '{"=(bigint,integer)"}', 'the parent''s key to bigint first: =(bigint,integer)');
INSERT INTO kp2 VALUES (3000000000);
CALL ri_policy.validate('kr2');
SELECT is(orphan_keys('kr2'), '{"pid": 5}', 'and validation works');

-- a change that leaves no operator: refused, nothing changed
SELECT throws_ok($$ALTER TABLE kc2 ALTER COLUMN pid TYPE text$$, '42804',
				 'reference "kr2" cannot be implemented',
				 'a child key that cannot be compared any more is refused (42804)');
SELECT is(format_type(atttypid, atttypmod), 'integer', 'the column keeps its type')
  FROM pg_attribute WHERE attrelid = 'kc2'::regclass AND attname = 'pid';
SELECT is(ops('kr2'), '{"=(bigint,integer)"}', 'and the reference its operator');
SELECT throws_ok($$ALTER TABLE kp2 ALTER COLUMN id TYPE text$$, '42804', NULL,
				 'so is a parent key''s (42804)');
SELECT is(format_type(atttypid, atttypmod), 'bigint', 'which keeps its type')
  FROM pg_attribute WHERE attrelid = 'kp2'::regclass AND attname = 'id';
SELECT is(orphan_keys('kr2'), '{"pid": 5}', 'and the results stay');
-- one statement changing the other columns too is refused as a whole
ALTER TABLE kc2 ADD COLUMN note int;
SELECT throws_ok($$ALTER TABLE kc2 ALTER COLUMN note TYPE bigint, ALTER COLUMN pid TYPE text$$,
				 '42804', NULL, 'a statement with such a change is refused whole');
SELECT is(format_type(atttypid, atttypmod), 'integer', 'its other changes are undone too')
  FROM pg_attribute WHERE attrelid = 'kc2'::regclass AND attname = 'note';

-- a two-column key, both columns in one statement
CREATE TABLE mp (a int, b smallint, PRIMARY KEY (a, b));
CREATE TABLE mc (a int, b smallint);
INSERT INTO mp VALUES (1, 1);
INSERT INTO mc VALUES (1, 1), (2, 2);
SELECT ri_policy.declare_reference('mc', '{a,b}', 'mp', name => 'mr');
ALTER TABLE mc ALTER COLUMN a TYPE bigint, ALTER COLUMN b TYPE int;
SELECT is(ops('mr'), '{"=(integer,bigint)","=(smallint,integer)"}', 'both columns of a key follow');
CALL ri_policy.validate('mr');
SELECT is(orphan_keys('mr'), '{"a": 2, "b": 2}', 'and validate');

-- a partitioned child: the type changes on every partition, and so for a
-- reference declared on a partition
CREATE TABLE pc (k int, pid int) PARTITION BY RANGE (k);
CREATE TABLE pc_1 PARTITION OF pc FOR VALUES FROM (0) TO (100);
INSERT INTO pc VALUES (1, 1), (2, 12);
SELECT ri_policy.declare_reference('pc', '{pid}', 'kp', name => 'pr');
SELECT ri_policy.declare_reference('pc_1', '{pid}', 'kp', name => 'pr1');
ALTER TABLE pc ALTER COLUMN pid TYPE bigint;
SELECT is(ops('pr') || ops('pr1'), '{"=(bigint,bigint)"}{"=(bigint,bigint)"}',
		  'a partitioned child''s references and its partition''s follow');
CALL ri_policy.validate('pr');
CALL ri_policy.validate('pr1');
SELECT is(orphan_keys('pr') || orphan_keys('pr1'), '{"pid": 12}{"pid": 12}', 'and validate');

-- another column's type: the reference is left alone
ALTER TABLE kc ADD COLUMN other int;
ALTER TABLE kc ALTER COLUMN other TYPE bigint;
SELECT is(ops('kr'), '{"=(bigint,bigint)"}', 'another column''s type change changes nothing');

-- a type whose operator stays the same (varchar widened)
CREATE TABLE vp (code varchar(5) PRIMARY KEY);
CREATE TABLE vc (code varchar(5));
SELECT ri_policy.declare_reference('vc', '{code}', 'vp', name => 'vr');
SELECT ops('vr') AS before \gset
ALTER TABLE vc ALTER COLUMN code TYPE varchar(20);
SELECT is(ops('vr'), :'before', 'widening a varchar keeps the operator');

-- a foreign key is rebuilt by PostgreSQL, and keeps validating by name
CREATE TABLE fc (pid int);
INSERT INTO fc VALUES (1), (99);
ALTER TABLE fc ADD CONSTRAINT fc_fk FOREIGN KEY (pid) REFERENCES kp NOT VALID;
CALL ri_policy.validate('fc_fk');
ALTER TABLE fc ALTER COLUMN pid TYPE bigint;
CALL ri_policy.validate('fc_fk');
SELECT is(orphan_keys('fc_fk'), '{"pid": 99}', 'a foreign key''s type change still validates');

-- the owner of the parent changes its key type: the child's reference
-- (another role's) follows too
CREATE ROLE regress_ktc_parent;
CREATE TABLE op (id int PRIMARY KEY);
ALTER TABLE op OWNER TO regress_ktc_parent;
CREATE TABLE oc (pid int);
GRANT REFERENCES ON op TO CURRENT_USER;
SELECT ri_policy.declare_reference('oc', '{pid}', 'op', name => 'or');
SET ROLE regress_ktc_parent;
ALTER TABLE op ALTER COLUMN id TYPE bigint;
SELECT throws_ok($$ALTER TABLE op ALTER COLUMN id TYPE text$$, '42804', NULL,
				 'the parent''s owner cannot break another role''s reference either');
RESET ROLE;
SELECT is(ops('or'), '{"=(bigint,integer)"}', 'which follows the parent''s owner''s change');

-- a tracked reference's next pass is full (its keys may have been rewritten)
SELECT ri_policy.track('kr2');
CALL ri_policy.validate('kr2');
ALTER TABLE kc2 ALTER COLUMN pid TYPE bigint USING pid * 10;
CALL ri_policy.validate('kr2');
SELECT is(orphan_keys('kr2'), '{"pid": 50}', 'a tracked reference sees the rewritten keys');

SELECT * FROM finish();
ROLLBACK;
