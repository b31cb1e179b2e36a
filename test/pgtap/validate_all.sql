-- validate() and repair() given no reference go through every reference;
-- one that cannot be checked any more (here: the cast its declaration
-- relied on was dropped by its owner) is skipped with a WARNING and does
-- not stop the others, so that one role cannot stop a superuser's
-- scheduled run.  Outside a transaction block (the commits between
-- batches); cleans up after itself.
SELECT plan(9);

CREATE ROLE regress_va;
CREATE SCHEMA va AUTHORIZATION regress_va;
SET ROLE regress_va;
CREATE TYPE va.e AS ENUM ('1', '2', '3');
CREATE FUNCTION va.e_int(va.e) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1::text::int';
CREATE CAST (va.e AS int) WITH FUNCTION va.e_int(va.e) AS IMPLICIT;
CREATE TABLE va.parent (id int PRIMARY KEY);
INSERT INTO va.parent VALUES (1);
CREATE TABLE va.child (k va.e);
INSERT INTO va.child VALUES ('1'), ('3');
SELECT ri_policy.declare_reference('va.child', '{k}', 'va.parent', name => 'aaa_broken');
DROP CAST (va.e AS int);
RESET ROLE;

-- a reference whose pass fails when it runs: "=" between two values of an
-- enum with an implicit cast to int is ambiguous (as for PostgreSQL's own
-- foreign keys)
SET ROLE regress_va;
CREATE TYPE va.e2 AS ENUM ('1', '2');
CREATE FUNCTION va.e2_int(va.e2) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1::text::int';
CREATE CAST (va.e2 AS int) WITH FUNCTION va.e2_int(va.e2) AS IMPLICIT;
CREATE TABLE va.ep (k va.e2 PRIMARY KEY);
CREATE TABLE va.ec (k va.e2);
INSERT INTO va.ec VALUES ('1');
SELECT ri_policy.declare_reference('va.ec', '{k}', 'va.ep', name => 'bbb_fails');
RESET ROLE;

CREATE TABLE va.p2 (id int PRIMARY KEY);
CREATE TABLE va.c2 (pid int);
INSERT INTO va.c2 VALUES (1), (2);
SELECT ri_policy.declare_reference('va.c2', '{pid}', 'va.p2', name => 'zzz_good');

SELECT throws_ok($$CALL ri_policy.validate('aaa_broken')$$, '42804', NULL,
				 'the broken reference alone: refused');
SET client_min_messages = error;
SELECT lives_ok($$CALL ri_policy.validate()$$, 'validate() of every reference goes on past it');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'zzz_good'), 2::bigint,
		  'and validates the others');
SELECT is((SELECT count(*) FROM ri_policy.validation_progress WHERE reference = 'aaa_broken'), 0::bigint,
		  'the broken one has no run');
SELECT is((SELECT status FROM ri_policy.validation_progress WHERE reference = 'bbb_fails'), 'failed',
		  'the one that fails as it runs is recorded as failed');
RESET client_min_messages;
SELECT throws_ok($$CALL ri_policy.validate('bbb_fails')$$, '42725', NULL,
				 '(it fails alone too)');
SET client_min_messages = error;
INSERT INTO va.c2 VALUES (3);
CALL ri_policy.validate(restart => true);
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'zzz_good'), 3::bigint,
		  'the same at the top level, with commits between batches');
SELECT lives_ok($$CALL ri_policy.repair(action => 'delete')$$, 'repair() of every reference goes on past it');
RESET client_min_messages;
SELECT is((SELECT count(*) FROM va.c2), 0::bigint, 'and repairs the others');

SET client_min_messages = warning;
SELECT ri_policy.drop_reference('aaa_broken'), ri_policy.drop_reference('bbb_fails'),
	ri_policy.drop_reference('zzz_good');
DROP SCHEMA va CASCADE;
DROP ROLE regress_va;
SELECT * FROM finish();
