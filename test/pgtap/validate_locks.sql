-- No role can hold up validate() of every reference: a reference whose
-- tables another session has locked is skipped with a NOTICE, and so is
-- one whose validation another session ran inside a transaction block it
-- has not ended (its rows stay locked, and so does the reference).  Second
-- session through dblink; a statement_timeout turns a wait into a failure.
-- Outside a transaction block; cleans up after itself.
SELECT plan(7);

CREATE ROLE regress_vl LOGIN;
CREATE SCHEMA vl AUTHORIZATION regress_vl;
SET ROLE regress_vl;
CREATE TABLE vl.p (id int PRIMARY KEY);
CREATE TABLE vl.aa (pid int);
INSERT INTO vl.aa VALUES (1), (2);
SELECT ri_policy.declare_reference('vl.aa', '{pid}', 'vl.p', name => 'aa_ref');
CREATE TABLE vl.zz (pid int);
INSERT INTO vl.zz VALUES (7);
SELECT ri_policy.declare_reference('vl.zz', '{pid}', 'vl.p', name => 'zz_ref');
RESET ROLE;

SELECT dblink_connect('vl', format('host=%s port=%s dbname=%s user=regress_vl',
	split_part(current_setting('unix_socket_directories'), ',', 1),
	current_setting('port'), current_database()));
SET statement_timeout = '20s';

-- 1. the role holds a lock on its own child table
SELECT dblink_exec('vl', 'BEGIN');
SELECT dblink_exec('vl', 'LOCK TABLE vl.aa IN ACCESS EXCLUSIVE MODE');
SELECT lives_ok($$CALL ri_policy.validate()$$, 'validate() of every reference does not wait for it');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'zz_ref'), 1::bigint,
		  'the other references are validated');
SELECT is((SELECT count(*) FROM ri_policy.validation_progress WHERE reference = 'aa_ref'), 0::bigint,
		  'the locked one is skipped');
SELECT dblink_exec('vl', 'ROLLBACK');

-- 2. the role validates its reference in a transaction block and stays idle
SELECT dblink_exec('vl', 'BEGIN');
SELECT dblink_exec('vl', $$CALL ri_policy.validate('aa_ref')$$);
INSERT INTO vl.zz VALUES (8);
SELECT lives_ok($$CALL ri_policy.validate()$$, 'validate() of every reference does not wait for its rows');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'zz_ref'), 2::bigint,
		  'the other references are validated');
SELECT dblink_exec('vl', 'COMMIT');
SELECT is((SELECT count(*) FROM ri_policy.violations WHERE reference = 'aa_ref'), 2::bigint,
		  'and the role''s own pass is there once it commits');
SELECT lives_ok($$CALL ri_policy.validate('aa_ref')$$, 'after which the reference validates again');

RESET statement_timeout;
SELECT dblink_disconnect('vl');
SET client_min_messages = warning;
SELECT ri_policy.drop_reference('aa_ref'), ri_policy.drop_reference('zz_ref');
DROP SCHEMA vl CASCADE;
DROP ROLE regress_vl;
SELECT * FROM finish();
