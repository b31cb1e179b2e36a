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
#   clean      CALL ri_policy.validate() of the same child against the
#              copy of the parent holding every key (no orphans), the
#              work "fk" does
# The same keys spread out (multiplied by 1000003) measure the path for a
# parent too large for memory: validate() with
# maintenance_work_mem = 1MB, which the parent's keys outgrow, so that
# every distinct key of a batch is probed in the parent's index instead
# (checked: the pass says so at DEBUG1), against the anti-join with
# work_mem = 1MB: a parent too large for the memory either may use, at
# this size.
# Throughput is child rows per second; the ratio validate/anti-join is
# t(anti-join) / t(validate).
#
# Then, for each key type of BENCH_KEY_TYPES (default: dense int, sparse
# bigint (keys times 1000003), uuid, text of 15 to 40 characters, and a
# two-column (int, text) key; set but empty: none)
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
# reported, with the peak memory of the same run on the larger child below
# (or, without it, one a fifth the size), to show that memory does not grow
# with the table.
#
# A second size, BENCH_LARGE_CHILD_ROWS (20M) and BENCH_LARGE_PARENT_ROWS
# (1M), dense int keys, one row in 1,000 an orphan: count(*), the
# anti-join and validate, median of BENCH_VALIDATE_ROUNDS, to show how cost
# grows (BENCH_LARGE_CHILD_ROWS=0: not measured).
#
# Each figure is one row of a table on stdout (| what | figure | target |
# met |), which test/bench/run.sh gathers with the other benchmarks' rows.
set -eu

child_rows=${BENCH_CHILD_ROWS:-5000000}
parent_rows=${BENCH_PARENT_ROWS:-100000}
rounds=${BENCH_VALIDATE_ROUNDS:-3}
large_rows=${BENCH_LARGE_CHILD_ROWS:-20000000}
large_parent=${BENCH_LARGE_PARENT_ROWS:-1000000}
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
SELECT ri_policy.declare_reference('child', '{pid}', 'parent_all', name => 'bench_clean');
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
probe="SET maintenance_work_mem = '1MB'"
sql -c "SET client_min_messages = debug1" -c "$probe" \
	-c "CALL ri_policy.validate('bench_sparse', restart => true)" 2>&1 |
	grep -q 'probing its index instead' ||
	{ say "with maintenance_work_mem = 1MB, the sparse parent's keys did not go to its index"; exit 1; }

: >"$tmp/count"; : >"$tmp/anti"; : >"$tmp/validate"; : >"$tmp/fk"; : >"$tmp/vone"
: >"$tmp/clean"; : >"$tmp/sprobe"; : >"$tmp/santi1"
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
	time_it "CALL ri_policy.validate('bench_clean', restart => true)" >>"$tmp/clean"
	t0=$(now_ms)
	sql -c "$probe" -c "CALL ri_policy.validate('bench_sparse', restart => true)" >/dev/null
	echo $(($(now_ms) - t0)) >>"$tmp/sprobe"
	t0=$(now_ms)
	sql -c "SET work_mem = '1MB'" -c "SELECT pid, count(*) FROM child_sparse c WHERE pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parent_sparse p WHERE p.id = c.pid) GROUP BY pid" >/dev/null
	echo $(($(now_ms) - t0)) >>"$tmp/santi1"
	say "round $r/$rounds: count $(tail -1 "$tmp/count") ms, anti-join $(tail -1 "$tmp/anti") ms, validate $(tail -1 "$tmp/validate") ms, fk $(tail -1 "$tmp/fk") ms"
done

t_count=$(median <"$tmp/count")
t_anti=$(median <"$tmp/anti")
t_val=$(median <"$tmp/validate")
t_fk=$(median <"$tmp/fk")
t_vone=$(median <"$tmp/vone")
t_clean=$(median <"$tmp/clean")
t_sprobe=$(median <"$tmp/sprobe")
t_santi1=$(median <"$tmp/santi1")
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

# The second size: dense int keys, 20M / 1M.
mem_large=""
if [ "$large_rows" -gt 0 ]; then
	say "loading $large_rows child rows, $large_parent parent rows"
	sql >/dev/null <<SQL
CREATE TABLE parent_large (id int PRIMARY KEY);
INSERT INTO parent_large SELECT generate_series(1, $large_parent);
CREATE TABLE child_large (id int, pid int);
INSERT INTO child_large
SELECT g, CASE WHEN g % 1000 = 0 THEN $large_parent + 1 + g % 997
			   ELSE g % $large_parent + 1 END
  FROM generate_series(1, $large_rows) g;
VACUUM ANALYZE parent_large, child_large;
SELECT ri_policy.declare_reference('child_large', '{pid}', 'parent_large', name => 'bench_large');
SQL
	time_it "CALL ri_policy.validate('bench_large', restart => true)" >/dev/null
	: >"$tmp/lcount"; : >"$tmp/lanti"; : >"$tmp/lval"
	for r in $(seq 1 "$rounds"); do
		time_it "SELECT count(*) FROM child_large" >>"$tmp/lcount"
		time_it "SELECT pid, count(*) FROM child_large c WHERE pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parent_large p WHERE p.id = c.pid) GROUP BY pid" >>"$tmp/lanti"
		time_it "CALL ri_policy.validate('bench_large', restart => true)" >>"$tmp/lval"
		say "$large_rows rows, round $r/$rounds: count $(tail -1 "$tmp/lcount") ms, anti-join $(tail -1 "$tmp/lanti") ms, validate $(tail -1 "$tmp/lval") ms"
	done
	got=$(sql -c "SELECT sum(child_rows) FROM ri_policy.violations WHERE reference = 'bench_large'")
	[ "$got" = "$((large_rows / 1000))" ] || { say "validate found $got orphan rows of bench_large"; exit 1; }
	set -- $(sample_run bench_large)
	mem_large=$1
	echo "$(median <"$tmp/lcount") $(median <"$tmp/lanti") $(median <"$tmp/lval")" >"$tmp/large"
	sql -c "SELECT ri_policy.drop_reference('bench_large')" -c "DROP TABLE child_large, parent_large" >/dev/null
fi
if [ -z "$mem_large" ]; then
	set -- $(sample_run bench_small)
	mem_small=$1
fi

# Other key types: uuid, text, (int, text).  parent_<type> holds the keys
# of 1 .. parent_rows; a child row g references key g % parent_rows + 1, or
# (one in 1/percent) an orphaned key of g % <distinct>.
key_types=${BENCH_KEY_TYPES-int bigint uuid text int_text}
orphan_percents=${BENCH_ORPHAN_PERCENTS:-0.1 1}
keys_rows=${BENCH_KEYS_CHILD_ROWS:-$child_rows}
keys_rounds=${BENCH_KEYS_ROUNDS:-3}
: >"$tmp/keys"
key_expr() {	# the key of number n, padded with pad (columns n and pad), as type $1
	case $1 in
	int) echo "CASE WHEN pad = 'o' THEN $parent_rows + 1 + n ELSE n END" ;;
	bigint) echo "(CASE WHEN pad = 'o' THEN $parent_rows + 1 + n ELSE n END)::bigint * 1000003" ;;
	uuid) echo "md5(pad || n)::uuid" ;;
	text) echo "lpad(n::text, 15 + n % 26, pad)" ;;
	int_text) echo "n, lpad(n::text, 15 + n % 26, pad)" ;;
	esac
}
for kt in $key_types; do
	case $kt in
	int) cols="k int"; keycols="k"; names="{k}" ;;
	bigint) cols="k bigint"; keycols="k"; names="{k}" ;;
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

# | what | figure | target | met |
verdict() { awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=" ? x >= t : x <= t); print (ok ? "ok" : "MISSED") }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }
rows_of() { awk -v n="$1" 'BEGIN { printf (n >= 1e6 ? "%gM" : "%gk"), (n >= 1e6 ? n / 1e6 : n / 1e3) }'; }
size="$(rows_of "$child_rows")/$(rows_of "$parent_rows")"

awk -v size="$(rows_of "$keys_rows")/$(rows_of "$parent_rows")" '
function name(t) { return t == "int" ? "dense int" : t == "bigint" ? "sparse bigint" : t == "int_text" ? "(int, text)" : t }
{
	dense = ($1 == "int")
	r = $4 / $5; c = $5 / $3
	printf "| validate() vs the NOT EXISTS anti-join, %s keys, %s%% orphans (%s) | %.2fx its throughput (%.0f vs %.0f ms) | >= %s | %s |\n",
		name($1), $2, size, r, $5, $4, (dense ? "2x" : "1.5x"), (r >= (dense ? 2 : 1.5) ? "ok" : "MISSED")
	printf "| validate() vs count(*), %s keys, %s%% orphans | %.2fx its time (%.0f vs %.0f ms) | <= %s | %s |\n",
		name($1), $2, c, $5, $3, (dense ? "1.5x" : "2.5x"), (c <= (dense ? 1.5 : 2.5) ? "ok" : "MISSED")
}' "$tmp/keys"
if [ -s "$tmp/large" ]; then
	set -- $(cat "$tmp/large")
	lsize="$(rows_of "$large_rows")/$(rows_of "$large_parent")"
	r=$(ratio "$2" "$3"); c=$(ratio "$3" "$1")
	row "validate() vs the anti-join, dense int keys, 0.1% orphans ($lsize)" "${r}x its throughput ($3 vs $2 ms)" ">= 2x" "$(verdict "$r" ">=" 2)"
	row "validate() vs count(*), dense int keys ($lsize)" "${c}x its time ($3 vs $1 ms)" "<= 1.5x" "$(verdict "$c" "<=" 1.5)"
fi
r=$(ratio "$t_fk" "$t_clean")
row "validate() vs ADD FOREIGN KEY ... NOT VALID + VALIDATE CONSTRAINT, clean child ($size)" "${r}x faster ($t_clean vs $t_fk ms)" ">= 2x" "$(verdict "$r" ">=" 2)"
r=$(ratio "$t_santi1" "$t_sprobe")
row "validate() with the parent over maintenance_work_mem (1MB: index probes), sparse bigint, vs the anti-join with work_mem 1MB ($size)" "${r}x its throughput ($t_sprobe vs $t_santi1 ms)" ">= 1x" "$(verdict "$r" ">=" 1)"
row "validate() in parallel vs in one process, dense int ($size)" "$(ratio "$t_vone" "$t_val")x faster ($t_val vs $t_vone ms; $batches batches)" "" ""
if [ -n "$mem_large" ]; then
	r=$(ratio "$mem_large" "$mem_big")
	row "peak private memory (RssAnon) of the validating backend, $size vs $(rows_of "$large_rows")/$(rows_of "$large_parent") child" \
		"$(awk -v a="$mem_big" -v b="$mem_large" 'BEGIN { printf "%.1f MB vs %.1f MB", a / 1024, b / 1024 }') (${r}x)" "flat (<= 1.1x)" "$(verdict "$r" "<=" 1.1)"
else
	r=$(ratio "$mem_big" "$mem_small")
	row "peak private memory (RssAnon) of the validating backend, $size vs a fifth of it" \
		"$(awk -v a="$mem_small" -v b="$mem_big" 'BEGIN { printf "%.1f MB vs %.1f MB", b / 1024, a / 1024 }') (${r}x)" "flat (<= 1.1x)" "$(verdict "$r" "<=" 1.1)"
fi
# one batch: a pass that commits per batch holds no transaction for long; a
# tenth of the pass is far above any one batch's share
share=$(ratio "$xact_big" "$t_val")
row "longest transaction of a validate() pass ($size)" "$xact_big ms of a $t_val ms pass" "one batch (< 0.1 of the pass)" "$(verdict "$share" "<=" 0.1)"
