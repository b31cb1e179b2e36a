#!/bin/sh
# test/bench/validate.sh -- what deferred batch validation costs.
#
# Run it through `make bench` (test/bench/run.sh calls it), or on its own
# against any server on this machine reachable through the PG* environment
# variables, as a superuser that may create databases, with ri_policy
# installed.  (It reads the server backend's memory from /proc, so the
# server must run on this machine.)
#
# A child of BENCH_CHILD_ROWS rows (default 5M) references a parent of
# BENCH_PARENT_ROWS rows (100k); one child row in 1,000 is an orphan
# (997 distinct missing keys).  Side by side, alternating, median of
# BENCH_VALIDATE_ROUNDS rounds (3):
#   count      SELECT count(*) FROM child: the floor, reading every row
#   anti-join  the one-shot query a data-quality tool would run:
#              SELECT pid, count(*) FROM child WHERE NOT EXISTS (...) GROUP BY pid
#   validate   CALL ri_policy.validate(..., restart => true), default batches,
#              outside a transaction block (a commit per batch), with the
#              default ri_policy.max_parallel_workers, and again in one
#              process (ri_policy.max_parallel_workers = 0)
#   fk         ALTER TABLE ... ADD FOREIGN KEY ... NOT VALID, then
#              VALIDATE CONSTRAINT, against a copy of the parent holding
#              every key (VALIDATE stops at the first orphan otherwise)
# The same pair with the keys spread out (multiplied by 1000003) measures
# validate's hash-table path against the anti-join.
# Throughput is child rows per second; the ratio validate/anti-join is
# t(anti-join) / t(validate) (target >= 0.8, aim >= 2).
#
# Then, for each key type of BENCH_KEY_TYPES (default: uuid, text of 15 to
# 40 characters, and a two-column (int, text) key; set but empty: none)
# and each orphan rate of
# BENCH_ORPHAN_PERCENTS (default: 0.1 and 1 percent of the child's rows, of
# 997 and 9,973 distinct keys), a child of BENCH_KEYS_CHILD_ROWS rows
# (default BENCH_CHILD_ROWS) referencing a parent of BENCH_PARENT_ROWS keys:
# count(*), the anti-join and validate, side by side, median of
# BENCH_KEYS_ROUNDS rounds (3).  Each child is dropped once measured.
#
# During one more validate run it samples, every 10 ms, the backend's
# private memory (RssAnon in /proc/<pid>/status) and its current
# transaction's age (pg_stat_activity.xact_start): the peak of each is
# reported, with the peak memory of the same run on a child a fifth the
# size, to show that memory does not grow with the table.
set -eu

child_rows=${BENCH_CHILD_ROWS:-5000000}
parent_rows=${BENCH_PARENT_ROWS:-100000}
rounds=${BENCH_VALIDATE_ROUNDS:-3}
db=ri_policy_bench_validate

sql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
say() { echo "validate: $*" >&2; }
now_ms() { date +%s%3N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

cleanup() {
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	rm -f "$tmp"/* 2>/dev/null; rmdir "$tmp" 2>/dev/null || true
}
tmp=$(mktemp -d)
trap cleanup EXIT
trap 'exit 130' INT TERM

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"

say "loading $child_rows child rows, $parent_rows parent rows"
sql >/dev/null <<SQL
CREATE EXTENSION ri_policy;
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent SELECT generate_series(1, $parent_rows);
CREATE TABLE parent_all (id int PRIMARY KEY);
INSERT INTO parent_all SELECT generate_series(1, $parent_rows + 1000);
CREATE TABLE child (id int, pid int);
INSERT INTO child
SELECT g, CASE WHEN g % 1000 = 0 THEN $parent_rows + 1 + g % 997
			   ELSE g % $parent_rows + 1 END
  FROM generate_series(1, $child_rows) g;
CREATE TABLE child_small AS SELECT * FROM child WHERE id <= $child_rows / 5;
-- the same keys spread out (times 1000003): the hash table, not the bitmap
CREATE TABLE parent_sparse (id bigint PRIMARY KEY);
INSERT INTO parent_sparse SELECT id::bigint * 1000003 FROM parent;
CREATE TABLE child_sparse AS SELECT id, pid::bigint * 1000003 AS pid FROM child;
VACUUM ANALYZE parent, parent_all, child, child_small, parent_sparse, child_sparse;
SELECT ri_policy.declare_reference('child', '{pid}', 'parent', name => 'bench_ref');
SELECT ri_policy.declare_reference('child_small', '{pid}', 'parent', name => 'bench_small');
SELECT ri_policy.declare_reference('child_sparse', '{pid}', 'parent_sparse', name => 'bench_sparse');
SELECT count(*) FROM child;
SQL

expect=$((child_rows / 1000))
time_it() {
	t0=$(now_ms)
	sql -c "$1" >/dev/null
	echo $(($(now_ms) - t0))
}
time_single() {	# the same, read by one process
	t0=$(now_ms)
	sql -c "SET ri_policy.max_parallel_workers = 0" -c "$1" >/dev/null
	echo $(($(now_ms) - t0))
}

say "warming up"
time_it "SELECT count(*) FROM child" >/dev/null
time_it "CALL ri_policy.validate('bench_ref', restart => true)" >/dev/null
got=$(sql -c "SELECT sum(child_rows) FROM ri_policy.violations WHERE reference = 'bench_ref'")
[ "$got" = "$expect" ] || { say "validate found $got orphan rows, expected $expect"; exit 1; }

: >"$tmp/count"; : >"$tmp/anti"; : >"$tmp/validate"; : >"$tmp/fk"; : >"$tmp/santi"; : >"$tmp/sval"; : >"$tmp/vone"
for r in $(seq 1 "$rounds"); do
	time_it "SELECT count(*) FROM child" >>"$tmp/count"
	time_it "SELECT pid, count(*) FROM child c WHERE pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parent p WHERE p.id = c.pid) GROUP BY pid" >>"$tmp/anti"
	time_it "CALL ri_policy.validate('bench_ref', restart => true)" >>"$tmp/validate"
	time_single "CALL ri_policy.validate('bench_ref', restart => true)" >>"$tmp/vone"
	t0=$(now_ms)
	sql -c "SET ri_policy.mode = allow" \
		-c "ALTER TABLE child ADD CONSTRAINT child_fk FOREIGN KEY (pid) REFERENCES parent_all NOT VALID" \
		-c "ALTER TABLE child VALIDATE CONSTRAINT child_fk" >/dev/null
	echo $(($(now_ms) - t0)) >>"$tmp/fk"
	sql -c "ALTER TABLE child DROP CONSTRAINT child_fk"
	time_it "SELECT pid, count(*) FROM child_sparse c WHERE pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parent_sparse p WHERE p.id = c.pid) GROUP BY pid" >>"$tmp/santi"
	time_it "CALL ri_policy.validate('bench_sparse', restart => true)" >>"$tmp/sval"
	say "round $r/$rounds: count $(tail -1 "$tmp/count") ms, anti-join $(tail -1 "$tmp/anti") ms, validate $(tail -1 "$tmp/validate") ms, fk $(tail -1 "$tmp/fk") ms"
done

t_count=$(median <"$tmp/count")
t_anti=$(median <"$tmp/anti")
t_val=$(median <"$tmp/validate")
t_fk=$(median <"$tmp/fk")
t_santi=$(median <"$tmp/santi")
t_sval=$(median <"$tmp/sval")
t_vone=$(median <"$tmp/vone")
batches=$(sql -c "SELECT batches FROM ri_policy.validation_progress WHERE reference = 'bench_ref'")

# Peak private memory and longest transaction of one validate run.
sample_run() {
	ref=$1
	psql -X -q -d "$db" -c "SET application_name = 'ri_policy_bench'" \
		-c "CALL ri_policy.validate('$ref', restart => true)" >/dev/null &
	run=$!
	pid=""
	while [ -z "$pid" ] && kill -0 "$run" 2>/dev/null; do
		pid=$(sql -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'ri_policy_bench'")
	done
	peak_kb=0
	peak_xact=0
	while kill -0 "$run" 2>/dev/null; do
		kb=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ "${kb:-0}" -gt "$peak_kb" ] && peak_kb=$kb
		age=$(sql -c "SELECT coalesce(round(extract(epoch FROM clock_timestamp() - xact_start) * 1000), 0)
						FROM pg_stat_activity WHERE pid = $pid AND state = 'active'" 2>/dev/null || echo 0)
		[ "${age:-0}" -gt "$peak_xact" ] && peak_xact=$age
		sleep 0.01
	done
	wait "$run"
	echo "$peak_kb $peak_xact"
}
say "sampling memory and transaction age"
set -- $(sample_run bench_ref)
mem_big=$1
xact_big=$2
set -- $(sample_run bench_small)
mem_small=$1

# Other key types: uuid, text, (int, text).  parent_<type> holds the keys
# of 1 .. parent_rows; a child row g references key g % parent_rows + 1, or
# (one in 1/percent) an orphaned key of g % <distinct>.
key_types=${BENCH_KEY_TYPES-uuid text int_text}
orphan_percents=${BENCH_ORPHAN_PERCENTS:-0.1 1}
keys_rows=${BENCH_KEYS_CHILD_ROWS:-$child_rows}
keys_rounds=${BENCH_KEYS_ROUNDS:-3}
: >"$tmp/keys"
key_expr() {	# the key of number n, padded with pad (columns n and pad), as type $1
	case $1 in
	uuid) echo "md5(pad || n)::uuid" ;;
	text) echo "lpad(n::text, 15 + n % 26, pad)" ;;
	int_text) echo "n, lpad(n::text, 15 + n % 26, pad)" ;;
	esac
}
for kt in $key_types; do
	case $kt in
	uuid) cols="k uuid"; keycols="k"; names="{k}" ;;
	text) cols="k text"; keycols="k"; names="{k}" ;;
	int_text) cols="a int, b text"; keycols="a, b"; names="{a,b}" ;;
	*) say "unknown key type $kt"; exit 1 ;;
	esac
	say "key type $kt: loading the parent"
	sql >/dev/null <<SQL
CREATE TABLE parent_$kt ($cols, PRIMARY KEY ($keycols));
INSERT INTO parent_$kt SELECT $(key_expr "$kt")
  FROM (SELECT g AS n, 'k' AS pad FROM generate_series(1, $parent_rows) g) s;
VACUUM ANALYZE parent_$kt;
SQL
	for pct in $orphan_percents; do
		every=$(awk -v p="$pct" 'BEGIN { printf "%d", 100 / p }')
		distinct=$( [ "$every" -ge 1000 ] && echo 997 || echo 9973 )
		say "key type $kt, $pct% orphans: loading $keys_rows child rows"
		join=$(echo "$keycols" | awk -F', ' '{ for (i = 1; i <= NF; i++) printf "%sp.%s = c.%s", (i > 1 ? " AND " : ""), $i, $i }')
		sql >/dev/null <<SQL
CREATE TABLE child_$kt ($cols);
INSERT INTO child_$kt
SELECT $(key_expr "$kt")
  FROM (SELECT CASE WHEN g % $every = 0 THEN g % $distinct ELSE g % $parent_rows + 1 END AS n,
			   CASE WHEN g % $every = 0 THEN 'o' ELSE 'k' END AS pad
		  FROM generate_series(1, $keys_rows) g) s;
VACUUM ANALYZE child_$kt;
SELECT ri_policy.declare_reference('child_$kt', '$names', 'parent_$kt', name => 'bench_$kt');
SQL
		anti="SELECT $keycols, count(*) FROM child_$kt c WHERE NOT EXISTS (SELECT 1 FROM parent_$kt p WHERE $join) GROUP BY $keycols"
		time_it "CALL ri_policy.validate('bench_$kt', restart => true)" >/dev/null
		got=$(sql -c "SELECT sum(child_rows) FROM ri_policy.violations WHERE reference = 'bench_$kt'")
		want=$(sql -c "SELECT sum(count) FROM ($anti) x")
		[ "$got" = "$want" ] || { say "validate found $got orphan rows of bench_$kt, expected $want"; exit 1; }
		: >"$tmp/kc"; : >"$tmp/ka"; : >"$tmp/kv"
		for r in $(seq 1 "$keys_rounds"); do
			time_it "SELECT count(*) FROM child_$kt" >>"$tmp/kc"
			time_it "$anti" >>"$tmp/ka"
			time_it "CALL ri_policy.validate('bench_$kt', restart => true)" >>"$tmp/kv"
			say "key type $kt, $pct% orphans, round $r/$keys_rounds: count $(tail -1 "$tmp/kc") ms, anti-join $(tail -1 "$tmp/ka") ms, validate $(tail -1 "$tmp/kv") ms"
		done
		echo "$kt $pct $(median <"$tmp/kc") $(median <"$tmp/ka") $(median <"$tmp/kv")" >>"$tmp/keys"
		sql -c "SELECT ri_policy.drop_reference('bench_$kt')" -c "DROP TABLE child_$kt" >/dev/null
	done
	sql -c "DROP TABLE parent_$kt"
done

awk -v n="$child_rows" -v tc="$t_count" -v ta="$t_anti" -v tv="$t_val" -v tf="$t_fk" \
	-v sa="$t_santi" -v sv="$t_sval" -v vo="$t_vone" -v b="$batches" -v mb="$mem_big" -v ms="$mem_small" -v xb="$xact_big" -v p="$parent_rows" 'BEGIN {
	printf "validate %dM-row child, %dk-row parent     count: %.0f ms   anti-join: %.0f ms (%.2f Mrows/s)   validate: %.0f ms (%.2f Mrows/s, %d batches)   add fk + validate: %.0f ms\n",
		n / 1e6, p / 1e3, tc, ta, n / ta / 1e3, tv, n / tv / 1e3, b, tf
	printf "validate vs one-shot anti-join              ratio: %.2fx (target >= 0.8x %s)   validate vs count(*): %.2fx of its speed\n",
		ta / tv, (ta / tv >= 0.8 ? "ok" : "MISSED"), tc / tv
	printf "validate in parallel vs in one process      one process: %.0f ms   parallel: %.0f ms   speedup: %.2fx\n",
		vo, tv, vo / tv
	printf "validate, sparse bigint key (hash table)    anti-join: %.0f ms   validate: %.0f ms   ratio: %.2fx\n",
		sa, sv, sa / sv
	printf "validate peak backend memory (RssAnon)      %d-row child: %.1f MB   %d-row child: %.1f MB   longest transaction: %d ms\n",
		n, mb / 1024, n / 5, ms / 1024, xb
}'
awk -v n="$keys_rows" -v p="$parent_rows" '{
	printf "validate %-8s key, %4s%% orphans (%.1fM/%dk)   count: %.0f ms   anti-join: %.0f ms   validate: %.0f ms   ratio: %.2fx (target >= 1.5x %s)   vs count(*): %.2fx its time (target <= 2.5x)\n",
		$1, $2, n / 1e6, p / 1e3, $3, $4, $5, $4 / $5, ($4 / $5 >= 1.5 ? "ok" : "MISSED"), $5 / $3
}' "$tmp/keys"
