-- A foreign key cannot take the name of a declared reference of its table,
-- in any mode, however it is created: one name, one relationship per table
-- (issue 8, finding 9).  Other tables may use the name.
BEGIN;
SELECT plan(7);

CREATE SCHEMA gn;
CREATE TABLE gn.parent (id int PRIMARY KEY);
CREATE TABLE gn.child (pid int, qid int);
CREATE TABLE gn.other (pid int);
SELECT ri_policy.declare_reference('gn.child', '{pid}', 'gn.parent', name => 'child_pid_fk');

SET ri_policy.mode = 'allow';
SELECT throws_ok($$ALTER TABLE gn.child ADD CONSTRAINT child_pid_fk FOREIGN KEY (qid) REFERENCES gn.parent$$,
				 '42710', 'constraint "child_pid_fk" of relation "child" would take the name of a declared reference',
				 'ADD CONSTRAINT with a declared reference''s name: refused');
SELECT throws_ok($$ALTER TABLE gn.child ADD COLUMN rid int CONSTRAINT child_pid_fk REFERENCES gn.parent$$,
				 '42710', NULL, 'ADD COLUMN ... CONSTRAINT with that name: refused');
SELECT throws_ok($$ALTER TABLE gn.child ADD CONSTRAINT child_pid_fk FOREIGN KEY (qid) REFERENCES gn.parent NOT VALID$$,
				 '42710', NULL, 'NOT VALID too');
SET ri_policy.mode = 'warn';
SELECT throws_ok($$ALTER TABLE gn.child ADD CONSTRAINT child_pid_fk FOREIGN KEY (qid) REFERENCES gn.parent$$,
				 '42710', NULL, 'in warn mode too');
SET ri_policy.mode = 'allow';
SELECT is((SELECT count(*) FROM pg_constraint WHERE conrelid = 'gn.child'::regclass), 0::bigint,
		  'nothing was created');
SELECT lives_ok($$ALTER TABLE gn.other ADD CONSTRAINT child_pid_fk FOREIGN KEY (pid) REFERENCES gn.parent$$,
				'another table may use the name');
SELECT is((SELECT count(*) FROM ri_policy.references WHERE name = 'child_pid_fk'), 2::bigint,
		  'each table lists it once');

SELECT * FROM finish();
ROLLBACK;
