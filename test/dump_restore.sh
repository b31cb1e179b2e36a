#!/bin/sh
# Declared references, their violations and progress survive
# pg_dump | psql into a new database, and keep working there, tracking
# included; so do the ids of references and of foreign keys with results
# (their tables are re-found by name, and the keys by table and name), what
# a demoted key had, and the record of warn mode.  A
# 0.4 dump restored into an extension created at 0.4 and then updated keeps
# everything too.  Prints TAP;
# exits non-zero on failure.  Run by test/run-tests.sh.
set -eu

src=ri_policy_dump_src
dst=ri_policy_dump_dst
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

sql -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" \
	-c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
trap 'sql -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst"' EXIT

sql -d "$src" <<'SQL'
CREATE EXTENSION ri_policy;
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id int PRIMARY KEY);
INSERT INTO shop.customers SELECT generate_series(1, 100);
CREATE TABLE shop."Orders" (id int, "Customer" int);
INSERT INTO shop."Orders" SELECT g, g % 120 FROM generate_series(1, 1000) g;
SELECT ri_policy.declare_reference('shop."Orders"', '{Customer}', 'shop.customers',
								   name => 'orders_customer');
CALL ri_policy.validate('orders_customer');
-- a tracked reference whose key columns come after a dropped column on
-- both sides: restored, their numbers are smaller
CREATE TABLE shop.items (gone int, sku int PRIMARY KEY);
ALTER TABLE shop.items DROP COLUMN gone;
INSERT INTO shop.items VALUES (1), (2);
CREATE TABLE shop.lines (gone int, id int, sku int);
ALTER TABLE shop.lines DROP COLUMN gone;
INSERT INTO shop.lines VALUES (1, 1), (2, 3);
SELECT ri_policy.declare_reference('shop.lines', '{sku}', 'shop.items', name => 'lines_sku');
SELECT ri_policy.track('lines_sku');
CALL ri_policy.validate('lines_sku');
-- schema-per-tenant foreign keys of one name, validated, one renamed since
CREATE SCHEMA t1;
CREATE SCHEMA t2;
CREATE TABLE t1.customers (id int PRIMARY KEY);
CREATE TABLE t2.customers (id int PRIMARY KEY);
CREATE TABLE t1.orders (customer_id int);
CREATE TABLE t2.orders (customer_id int);
INSERT INTO t1.orders VALUES (1), (2);
INSERT INTO t2.orders VALUES (3);
ALTER TABLE t1.orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id)
	REFERENCES t1.customers NOT VALID;
ALTER TABLE t2.orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id)
	REFERENCES t2.customers NOT VALID;
CALL ri_policy.validate('t1.orders.orders_customer_id_fkey');
CALL ri_policy.validate('t2.orders.orders_customer_id_fkey');
ALTER TABLE t1.orders RENAME CONSTRAINT orders_customer_id_fkey TO orders_fk;
-- a pass interrupted after its first batch (made so here)
CREATE TABLE shop.notes (customer int);
INSERT INTO shop.notes SELECT g % 110 FROM generate_series(1, 300) g;
SELECT ri_policy.declare_reference('shop.notes', '{customer}', 'shop.customers',
								   name => 'notes_customer');
CALL ri_policy.validate('notes_customer', batch_size => 100);
UPDATE ri_policy._progress SET status = 'interrupted', batches = 1, resume_block = 1
 WHERE reference = (SELECT id FROM ri_policy._reference WHERE name = 'notes_customer');
-- a demoted key with everything a key can have, and a key made under warn
CREATE TABLE shop.pairs (a int, b int, PRIMARY KEY (a, b));
CREATE TABLE shop.pair_refs (a int DEFAULT 0, b int DEFAULT 0);
ALTER TABLE shop.pair_refs ADD CONSTRAINT pair_fk FOREIGN KEY (a, b) REFERENCES shop.pairs
	MATCH FULL ON UPDATE CASCADE ON DELETE SET DEFAULT (b) DEFERRABLE INITIALLY DEFERRED NOT VALID;
SELECT ri_policy.demote('shop.pair_refs', 'pair_fk');
SET ri_policy.mode = 'warn';
SET client_min_messages = error;
CREATE TABLE shop.warned_child (a int, b int, FOREIGN KEY (a, b) REFERENCES shop.pairs);
SQL

pg_dump -d "$src" | sql -d "$dst" >/dev/null

n=0
fail=0
check() {
	n=$((n + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		echo "#   got: '$2'"
		echo "#  want: '$3'"
		fail=1
	fi
}

q="SELECT name, child, child_columns, parent, parent_columns, kind, orphan_keys, orphan_rows
     FROM ri_policy.references WHERE kind = 'declared' ORDER BY name, child::text"
check "the reference is restored" "$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
q="SELECT key, child_rows, first_seen FROM ri_policy.violations ORDER BY key"
check "its violations are restored" "$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
q="SELECT status, rows_checked FROM ri_policy.validation_progress
     ORDER BY reference, child::text, rows_checked"
check "its progress is restored" "$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
check "it validates in the new database" \
	"$(sql -d "$dst" -c "CALL ri_policy.validate('orders_customer')" \
		-c "SELECT count(*) FROM ri_policy.violations WHERE reference = 'orders_customer'")" "20"
# the restored triggers find the key columns: a change is recorded by the
# right column, and the next (incremental) pass sees it
check "tracking records the key columns after a restore" \
	"$(sql -d "$dst" -c "INSERT INTO shop.lines VALUES (3, 9)" \
		-c "DELETE FROM shop.items WHERE sku = 1" \
		-c "SELECT string_agg(k, ',' ORDER BY k) FROM ri_policy._changed, unnest(keys) k
			 WHERE reference = (SELECT id FROM ri_policy._reference WHERE name = 'lines_sku')")" "1,9"
check "and the next pass finds the orphans" \
	"$(sql -d "$dst" -c "CALL ri_policy.validate('lines_sku')" \
		-c "SELECT string_agg(key::text, ' ' ORDER BY key) FROM ri_policy.violations
			 WHERE reference = 'lines_sku'")" '{"sku": 1} {"sku": 3} {"sku": 9}'
# the restore created the tracking triggers and enabled them, which
# tracking cannot follow: that pass was full; the triggers fire ALWAYS
check "the first pass after a restore is full" \
	"$(sql -d "$dst" -c "SELECT rows_checked = (SELECT count(*) FROM shop.lines)
						  FROM ri_policy.validation_progress WHERE reference = 'lines_sku'")" "t"
q="SELECT string_agg(DISTINCT tgenabled::text, '') FROM pg_trigger
     WHERE tgfoid = 'ri_policy._track_trigger'::regproc"
check "the restored tracking triggers fire ALWAYS" "$(sql -d "$dst" -c "$q")" "A"
# a data-only restore with --disable-triggers loads rows past the triggers
# (ALTER TABLE ... DISABLE TRIGGER ALL, then ENABLE): the next pass is full
sql -d "$dst" -c "CALL ri_policy.validate('lines_sku')"
pg_dump -d "$src" --data-only --disable-triggers -t shop.lines | sql -d "$dst" >/dev/null
check "after a data-only restore with --disable-triggers the next pass is full, and right" \
	"$(sql -d "$dst" -c "CALL ri_policy.validate('lines_sku')" \
		-c "SELECT rows_checked = (SELECT count(*) FROM shop.lines)
			  FROM ri_policy.validation_progress WHERE reference = 'lines_sku'" \
		-c "SELECT string_agg(key::text || ' ' || child_rows, ', ' ORDER BY key)
			  FROM ri_policy.violations WHERE reference = 'lines_sku'")" \
	"$(printf '%s\n' t '{"sku": 1} 2, {"sku": 3} 2, {"sku": 9} 1')"
check "and the tracking triggers fire ALWAYS again" "$(sql -d "$dst" -c "$q")" "A"
q="SELECT name, child, kind, orphan_keys, orphan_rows, last_validated IS NOT NULL
     FROM ri_policy.references WHERE child::text ~ '^t[12]\.' ORDER BY 2, 1"
check "foreign keys of one name in two schemas keep their results" \
	"$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
q="SELECT id, name, child FROM ri_policy._names ORDER BY id"
check "every reference keeps its id" "$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
q="SELECT last_value FROM ri_policy._reference_id_seq"
check "and the next reference gets a new one" "$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
check "a restored foreign key validates by its new name" \
	"$(sql -d "$dst" -c "INSERT INTO t1.customers VALUES (1)" \
		-c "CALL ri_policy.validate('t1.orders.orders_fk')" \
		-c "SELECT string_agg(key::text, ' ') FROM ri_policy.violations
			 WHERE child = 't1.orders'::regclass")" '{"customer_id": 2}'
# a pass is about the database it began in: its transaction ids and block
# numbers mean nothing in another, where it starts over
check "an interrupted pass restored elsewhere starts over" \
	"$(sql -d "$dst" -c "CALL ri_policy.validate('notes_customer')" 2>&1)" \
	'NOTICE:  the interrupted validation of reference "notes_customer" starts over: it began in another database'
check "and finds every orphan" \
	"$(sql -d "$dst" -c "SELECT count(*), sum(child_rows) FROM ri_policy.violations
						 WHERE reference = 'notes_customer'")" \
	"$(sql -d "$src" -c "SELECT count(DISTINCT customer), count(*) FROM shop.notes
						 WHERE customer NOT IN (SELECT id FROM shop.customers)")"

q="SELECT name, on_delete, on_update, is_deferrable, initially_deferred, on_delete_columns, not_valid
     FROM ri_policy.references WHERE kind = 'declared' ORDER BY name, child::text"
check "a reference keeps everything a foreign key had" "$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
check "and is promoted to the same key" \
	"$(sql -d "$dst" -c "SELECT ri_policy.promote('shop.pair_refs.pair_fk')" \
		-c "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pair_fk'")" \
	"$(printf '\n%s' 'FOREIGN KEY (a, b) REFERENCES shop.pairs(a, b) MATCH FULL ON UPDATE CASCADE ON DELETE SET DEFAULT (b) DEFERRABLE INITIALLY DEFERRED NOT VALID')"
q="SELECT * FROM ri_policy.warned ORDER BY at, constraint_name"
check "the record of warn mode is restored" "$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
check "with its one row" "$(sql -d "$dst" -c "SELECT count(*) FROM ri_policy.warned")" "1"

# A 0.4 dump: restored into the extension created at 0.4, then updated.
# (The rows are made as 0.4 made them: this library runs only 0.5's
# objects.)
src04=ri_policy_dump_src04
dst04=ri_policy_dump_dst04
sql -d postgres -c "DROP DATABASE IF EXISTS $src04" -c "DROP DATABASE IF EXISTS $dst04" \
	-c "CREATE DATABASE $src04" -c "CREATE DATABASE $dst04"
trap 'sql -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" \
	-c "DROP DATABASE IF EXISTS $src04" -c "DROP DATABASE IF EXISTS $dst04"' EXIT
sql -d "$src04" <<'SQL'
CREATE EXTENSION ri_policy VERSION '0.4';
CREATE TABLE p (id int PRIMARY KEY);
INSERT INTO p VALUES (1), (2);
CREATE TABLE c (pid int);
INSERT INTO c VALUES (1), (3), (4);
INSERT INTO ri_policy._reference (name, child, child_columns, parent, parent_columns,
								  eq_operators, match, on_delete, tracked_since)
VALUES ('r', 'c', '{pid}', 'p', '{id}', '{"=(integer,integer)"}', 'simple', 'no action',
		now() - interval '1 hour');
INSERT INTO ri_policy._violation VALUES ('r', '{"pid": 3}', 1, now(), now()),
										('r', '{"pid": 4}', 1, now(), now());
INSERT INTO ri_policy._progress (reference, status, started_at, finished_at, rows_checked,
								 orphan_keys, leaves, last_done_at, last_full_at)
VALUES ('r', 'done', now(), now(), 3, 2, 1, now(), now());
CREATE TABLE fc (pid int);
INSERT INTO fc VALUES (5);
ALTER TABLE fc ADD CONSTRAINT fc_fk FOREIGN KEY (pid) REFERENCES p NOT VALID;
INSERT INTO ri_policy._violation VALUES ('fc_fk', '{"pid": 5}', 1, now(), now());
INSERT INTO ri_policy._progress (reference, status, started_at, finished_at, rows_checked,
								 orphan_keys, leaves, last_done_at, last_full_at)
VALUES ('fc_fk', 'done', now(), now(), 1, 1, 1, now(), now());
CREATE TRIGGER ri_policy_track_0a0b0c0d_ci AFTER INSERT ON c
	REFERENCING NEW TABLE AS ri_new FOR EACH STATEMENT
	EXECUTE FUNCTION ri_policy._track_trigger('r', 'simple', 'child', '1', 'pid');
SQL
sql -d "$dst04" -c "CREATE EXTENSION ri_policy VERSION '0.4'"
pg_dump -d "$src04" | sql -d "$dst04" >/dev/null
sql -d "$dst04" -c "ALTER EXTENSION ri_policy UPDATE"
q="SELECT reference, child, key, child_rows FROM ri_policy.violations ORDER BY 1, 3"
check "a 0.4 dump restored at 0.4 and updated keeps its results" \
	"$(sql -d "$dst04" -c "$q")" "$(printf '%s\n' 'fc_fk|fc|{"pid": 5}|1' 'r|c|{"pid": 3}|1' 'r|c|{"pid": 4}|1')"
check "and its tracking, under the new trigger names" \
	"$(sql -d "$dst04" -c "SELECT count(*) FROM pg_trigger
						  WHERE tgfoid = 'ri_policy._track_trigger'::regproc
							AND tgname ~ '^ri_policy_track_[0-9]+_'")" "8"
echo "1..$n"
exit $fail
