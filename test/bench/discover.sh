#!/bin/sh
# test/bench/discover.sh -- discover() on a large database stays within its
# budget.
#
# Run it through `make bench` (test/bench/run.sh calls it), or on its own
# against any server reachable through the PG* environment variables, as a
# superuser that may create databases, with ri_policy installed.
#
# BENCH_DISCOVER_TABLES tables (200) holding BENCH_DISCOVER_ROWS rows in all
# (50M): one in ten is a parent (a bigint key, 10,000 rows each), the others
# children with their share of the remaining rows, each with a column named
# after a parent whose values all have a parent row (each parent has keys of
# its own), a misleading status_id that matches none, and a payload.  No foreign key, nothing declared.
# discover() runs with its defaults (sample_rows 1000, row_budget 1M), its
# time_budget set to BENCH_DISCOVER_BUDGET (30 s), then with a budget too
# small to verify them all (BENCH_DISCOVER_SMALL_BUDGET, 0.5 s).  Reported:
# the total time, time per table and per candidate (median and maximum),
# values probed, and whether the budgets held: total time within the time
# budget plus one candidate's time (and a second for connecting), values
# probed within row_budget; and
# recall (every child's real relationship found) and precision (no
# status_id proposed).
set -eu

tables=${BENCH_DISCOVER_TABLES:-200}
rows=${BENCH_DISCOVER_ROWS:-50000000}
budget=${BENCH_DISCOVER_BUDGET:-30}
small=${BENCH_DISCOVER_SMALL_BUDGET:-0.5}
db=ri_policy_bench_discover

sql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db"' EXIT
sql -c "CREATE EXTENSION ri_policy"

parents=$(( (tables + 9) / 10 ))
children=$(( tables - parents ))
[ "$children" -gt 0 ] || { echo "BENCH_DISCOVER_TABLES must be at least 2" >&2; exit 1; }
parent_rows=10000
child_rows=$(( (rows - parents * parent_rows) / children ))
[ "$child_rows" -gt 0 ] || child_rows=1000

echo "  loading $parents parents of $parent_rows rows and $children children of $child_rows rows" >&2
started=$(date +%s)
sql <<SQL
CREATE SCHEMA bench;
CREATE TABLE bench.statuses (id int PRIMARY KEY);
INSERT INTO bench.statuses SELECT generate_series(1000, 1010);
DO \$\$
BEGIN
	FOR p IN 1..$parents LOOP
		EXECUTE format('CREATE TABLE bench.item%ss (id bigint PRIMARY KEY, label text)', p);
		-- keys of their own: an item3_id is no item30s' key
		EXECUTE format('INSERT INTO bench.item%ss SELECT %s * 1000000 + g, ''x'' FROM generate_series(1, $parent_rows) g', p, p);
	END LOOP;
END
\$\$;
SQL
# children one statement each, so that each commits and the load is not one
# enormous transaction
c=1
while [ "$c" -le "$children" ]; do
	p=$(( (c - 1) % parents + 1 ))
	sql -c "CREATE TABLE bench.child$c (id bigint, item${p}_id bigint, status_id int, payload text)" \
		-c "INSERT INTO bench.child$c SELECT g, $p * 1000000 + 1 + (g::bigint * 7919) % $parent_rows, g % 5, 'payload'
			  FROM generate_series(1, $child_rows) g" \
		-c "ANALYZE bench.child$c"
	c=$((c + 1))
done
sql -c "ANALYZE"
echo "  loaded in $(( $(date +%s) - started )) s" >&2

run() {	# run BUDGET_SECONDS: one line of figures
	sql -c "SELECT pg_stat_clear_snapshot()" >/dev/null
	sql <<SQL
\set QUIET on
CREATE TEMP TABLE d AS
SELECT *, clock_timestamp() AS at FROM ri_policy.discover(time_budget => '$1 s', all_candidates => true);
WITH t AS (SELECT extract(epoch FROM max(at) - min(at)) * 1000 AS span FROM d)
SELECT format('%s %s %s %s %s %s %s %s %s %s',
	(SELECT count(*) FROM d),
	(SELECT count(*) FILTER (WHERE verdict <> 'not verified') FROM d),
	(SELECT coalesce(sum(sampled), 0) FROM d),
	(SELECT round(coalesce(sum(ms), 0)) FROM d),
	(SELECT round(coalesce(max(ms), 0)) FROM d),
	(SELECT round(coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 0)::numeric, 1) FROM d),
	(SELECT count(DISTINCT child) FILTER (WHERE verdict <> 'not verified') FROM d),
	(SELECT count(*) FROM d WHERE verdict = 'candidate'
		AND child_column = regexp_replace(parent::text, '^bench\.(item[0-9]+)s$', '\1_id')),
	(SELECT count(*) FROM d WHERE verdict = 'candidate'
		AND child_column <> regexp_replace(parent::text, '^bench\.(item[0-9]+)s$', '\1_id')),
	(SELECT count(*) FROM d WHERE verdict = 'not verified'));
SQL
}

echo "  discover(), time_budget $budget s" >&2
t0=$(date +%s%N)
big=$(run "$budget")
t1=$(date +%s%N)
echo "  discover(), time_budget $small s" >&2
little=$(run "$small")
t2=$(date +%s%N)

echo "$tables $rows $children $budget $small $(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 )) $big $little" | awk '{
	tables = $1; rows = $2; children = $3; budget = $4 * 1000; small = $5 * 1000
	total = $6; total_s = $7
	n = $8; done = $9; probed = $10; ms = $11; max = $12; med = $13; tabs = $14; true_found = $15; false_found = $16
	n_s = $18; done_s = $19; probed_s = $20; max_s = $22; skipped_s = $27
	ok1 = (total <= budget + max + 1000 && probed <= 1000000) ? "ok" : "MISSED"
	ok2 = (total_s <= small + max_s + 1000) ? "ok" : "MISSED"
	printf "| discover(), %d tables, %.0fM rows, time_budget %d s | %d ms in all (%.1f ms a table, %.1f ms a candidate; median %.1f, max %d ms); %d of %d candidates verified; %d values probed | within the budget and row_budget (1M) | %s |\n",
		tables, rows / 1e6, budget / 1000, total, total / tables, (done ? ms / done : 0), med, max, done, n, probed, ok1
	printf "| discover(), recall and precision | %d of %d children found, %d false candidates | | |\n", true_found, children, false_found
	printf "| discover(), time_budget %.1f s | %d ms in all (with connecting); %d of %d candidates verified, %d reported unverified | within the budget | %s |\n",
		small / 1000, total_s, done_s, n_s, skipped_s, ok2
}'
