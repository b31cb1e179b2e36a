#!/bin/sh
# Declared references, their violations and progress survive
# pg_dump | psql into a new database, and keep working there, tracking
# included.  Prints TAP;
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
     FROM ri_policy.references WHERE kind = 'declared'"
check "the reference is restored" "$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
q="SELECT key, child_rows, first_seen FROM ri_policy.violations ORDER BY key"
check "its violations are restored" "$(sql -d "$dst" -c "$q")" "$(sql -d "$src" -c "$q")"
q="SELECT status, rows_checked FROM ri_policy.validation_progress"
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
echo "1..$n"
exit $fail
