#!/bin/sh
# test/bench/lifecycle.sh -- what tracking costs writers, and what it saves
# validation.
#
# Run it through `make bench` (test/bench/run.sh calls it), or on its own
# against any server reachable through the PG* environment variables, as a
# superuser that may create databases, with ri_policy installed.
#
# Three children of one parent, each with an index on its reference column:
#   none      no foreign key, nothing declared
#   fk        an enforced foreign key
#   tracked   a declared reference with ri_policy.track()
# (a) bulk load: INSERT ... SELECT of BENCH_LOAD_ROWS rows (1M) into each,
#     emptied before each run, BENCH_LOAD_ROUNDS (5) rounds, variants in
#     turn (each round starting with the next one); median time, and the
#     median over rounds of each round's throughput ratio to "none".
# (b) concurrent single-row inserts with pgbench (BENCH_CLIENTS clients, 8)
#     whose rows reference BENCH_HOT_PARENTS hot parent rows (5),
#     BENCH_PGBENCH_SECONDS (3) per run into an emptied table,
#     BENCH_PGBENCH_ROUNDS (7) rounds, variants in turn as in (a); median
#     tps, and the median ratio as in (a) (runs seconds apart, so less
#     noisy than a ratio of medians).
# (c) on a tracked BENCH_CHILD_ROWS-row child (5M): a full validation pass
#     against an incremental one after 1,000 rows changed their key
#     (0.02%); median of BENCH_INCR_ROUNDS (3).
# (d) the shapes without an index: a narrow child (one int column, no index)
#     of a BENCH_NX_PARENTS-row parent (1,000): INSERT ... SELECT of
#     BENCH_LOAD_ROWS rows, untracked ("none") against tracked, in turn,
#     BENCH_LOAD_ROUNDS rounds; and single-row inserts into the same
#     children with pgbench as in (b), BENCH_PGBENCH_ROUNDS rounds.
# (e) for each key type of BENCH_INCR_KEY_TYPES (default: int, sparse
#     bigint, uuid, text of 15 to 40 characters; set but empty: none), a
#     tracked BENCH_CHILD_ROWS-row child with an index on its key,
#     referencing a 100k-row parent of its own: a full pass against an
#     incremental one after 500 child rows inserted with new (orphaned)
#     keys and 500 parent rows deleted (orphaning 500 * child/100k child
#     rows, 25,000 of 5M), median of BENCH_INCR_ROUNDS; each result checked
#     against the anti-join.  Then repair(action => 'delete') of the
#     orphans found, in rows per second.
# Throughput ratios are against "none" (targets: tracked >= 0.9); (c) and
# (e) are incremental time / full time (target <= 0.02).
set -eu

load_rows=${BENCH_LOAD_ROWS:-1000000}
load_rounds=${BENCH_LOAD_ROUNDS:-5}
clients=${BENCH_CLIENTS:-8}
hot=${BENCH_HOT_PARENTS:-5}
pg_seconds=${BENCH_PGBENCH_SECONDS:-3}
pg_rounds=${BENCH_PGBENCH_ROUNDS:-7}
child_rows=${BENCH_CHILD_ROWS:-5000000}
incr_rounds=${BENCH_INCR_ROUNDS:-3}
nx_parents=${BENCH_NX_PARENTS:-1000}
incr_key_types=${BENCH_INCR_KEY_TYPES-int bigint uuid text}
db=ri_policy_bench_lifecycle

sql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
say() { echo "lifecycle: $*" >&2; }
now_ms() { date +%s%3N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
tmp=$(mktemp -d)
cleanup() {
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
sql >/dev/null <<SQL
CREATE EXTENSION ri_policy;
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent SELECT generate_series(1, 100000);
CREATE TABLE child_none (id bigserial, pid int, v text);
CREATE TABLE child_fk (id bigserial, pid int REFERENCES parent, v text);
CREATE TABLE child_tracked (id bigserial, pid int, v text);
CREATE INDEX ON child_none (pid);
CREATE INDEX ON child_fk (pid);
CREATE INDEX ON child_tracked (pid);
SELECT ri_policy.declare_reference('child_tracked', '{pid}', 'parent', name => 'tracked');
SELECT ri_policy.track('tracked');
CALL ri_policy.validate('tracked');
VACUUM ANALYZE parent;
SQL

variants="none fk tracked"
# the variants in turn, starting with a different one in each round, so that
# none always runs right after the others' writes (autovacuum, checkpoints)
rotated() { echo $variants $variants | cut -d' ' -f$(($1 % 3 + 1))-$(($1 % 3 + 3)); }

# (a) bulk load
for v in $variants; do : >"$tmp/load_$v"; done
: >"$tmp/lratio_fk"; : >"$tmp/lratio_tracked"
for r in $(seq 1 "$load_rounds"); do
	for v in $(rotated "$r"); do
		sql -c "TRUNCATE child_$v"
		sql -c "CHECKPOINT"
		t0=$(now_ms)
		sql -c "INSERT INTO child_$v (pid, v) SELECT g % 100000 + 1, 'x' FROM generate_series(1, $load_rows) g"
		echo $(($(now_ms) - t0)) >>"$tmp/load_$v"
	done
	n=$(tail -1 "$tmp/load_none")
	echo "$n $(tail -1 "$tmp/load_fk")" | awk '{ print $1 / $2 }' >>"$tmp/lratio_fk"
	echo "$n $(tail -1 "$tmp/load_tracked")" | awk '{ print $1 / $2 }' >>"$tmp/lratio_tracked"
	say "(a) round $r/$load_rounds: none $(tail -1 "$tmp/load_none") ms, fk $(tail -1 "$tmp/load_fk") ms, tracked $(tail -1 "$tmp/load_tracked") ms"
done

# (b) concurrent single-row inserts on hot parents
for v in $variants; do
	printf '\\set p random(1, %d)\nINSERT INTO child_%s (pid, v) VALUES (:p, '"'"'x'"'"');\n' "$hot" "$v" >"$tmp/insert_$v.sql"
	: >"$tmp/tps_$v"
done
: >"$tmp/ratio_fk"; : >"$tmp/ratio_tracked"
for r in $(seq 1 "$pg_rounds"); do
	for v in $(rotated "$r"); do
		# from an empty table each time, as in (a): a table grown by the
		# earlier runs would be vacuumed during the later ones
		sql -c "TRUNCATE child_$v" -c "CHECKPOINT"
		pgbench -n -c "$clients" -j 2 -T "$pg_seconds" -f "$tmp/insert_$v.sql" "$db" 2>/dev/null |
			awk '/^tps/ { printf "%d\n", $3 }' >>"$tmp/tps_$v"
	done
	n=$(tail -1 "$tmp/tps_none")
	echo "$(tail -1 "$tmp/tps_fk") $n" | awk '{ print $1 / $2 }' >>"$tmp/ratio_fk"
	echo "$(tail -1 "$tmp/tps_tracked") $n" | awk '{ print $1 / $2 }' >>"$tmp/ratio_tracked"
	say "(b) round $r/$pg_rounds: none $n tps, fk $(tail -1 "$tmp/tps_fk") tps, tracked $(tail -1 "$tmp/tps_tracked") tps"
done

# (c) incremental validation after 0.02% of rows changed
say "(c) loading $child_rows rows"
sql >/dev/null <<SQL
CREATE TABLE big (id int, pid int);
INSERT INTO big SELECT g, CASE WHEN g % 1000 = 0 THEN 100001 + g % 997 ELSE g % 100000 + 1 END
  FROM generate_series(1, $child_rows) g;
CREATE INDEX ON big (pid);
CREATE INDEX ON big (id);
VACUUM ANALYZE big;
SELECT ri_policy.declare_reference('big', '{pid}', 'parent', name => 'big_ref');
SELECT ri_policy.track('big_ref');
SQL
: >"$tmp/full"; : >"$tmp/incr"
# timed inside one session (psql's \timing), so that connecting is not counted
for r in $(seq 1 "$incr_rounds"); do
	sql -c '\timing on' \
		-c "CALL ri_policy.validate('big_ref', \"full\" => true)" \
		-c "UPDATE big SET pid = (pid + $r * 7919) % 100500 + 1 WHERE id IN (SELECT (g * 4999 + $r) % $child_rows + 1 FROM generate_series(1, 1000) g)" \
		-c "CALL ri_policy.validate('big_ref')" >"$tmp/times"
	awk '/^Time:/ { n++; if (n == 1) print $2 > "'"$tmp/full_r"'"; if (n == 3) print $2 > "'"$tmp/incr_r"'" }' "$tmp/times"
	cat "$tmp/full_r" >>"$tmp/full"
	cat "$tmp/incr_r" >>"$tmp/incr"
	got=$(sql -c "SELECT coalesce(sum(child_rows), 0) FROM ri_policy.violations WHERE reference = 'big_ref'")
	want=$(sql -c "SELECT count(*) FROM big WHERE NOT EXISTS (SELECT 1 FROM parent p WHERE p.id = big.pid)")
	[ "$got" = "$want" ] || { say "incremental result $got, expected $want"; exit 1; }
	say "(c) round $r/$incr_rounds: full $(tail -1 "$tmp/full") ms, incremental $(tail -1 "$tmp/incr") ms (exact: $got orphan rows)"
done

# (d) a narrow child without an index
say "(d) narrow children without an index, $nx_parents parent keys"
sql >/dev/null <<SQL
CREATE TABLE nx_parent (id int PRIMARY KEY);
INSERT INTO nx_parent SELECT generate_series(1, $nx_parents);
CREATE TABLE nx_none (pid int);
CREATE TABLE nx_tracked (pid int);
SELECT ri_policy.declare_reference('nx_tracked', '{pid}', 'nx_parent', name => 'nx');
SELECT ri_policy.track('nx');
CALL ri_policy.validate('nx');
VACUUM ANALYZE nx_parent;
SQL
: >"$tmp/nxl_none"; : >"$tmp/nxl_tracked"; : >"$tmp/nxl_ratio"
for r in $(seq 1 "$load_rounds"); do
	order="none tracked"
	[ $((r % 2)) -eq 0 ] && order="tracked none"
	for v in $order; do
		sql -c "TRUNCATE nx_$v" -c "CHECKPOINT"
		t0=$(now_ms)
		sql -c "INSERT INTO nx_$v (pid) SELECT g % $nx_parents + 1 FROM generate_series(1, $load_rows) g"
		echo $(($(now_ms) - t0)) >>"$tmp/nxl_$v"
	done
	echo "$(tail -1 "$tmp/nxl_none") $(tail -1 "$tmp/nxl_tracked")" | awk '{ print $1 / $2 }' >>"$tmp/nxl_ratio"
	say "(d) bulk round $r/$load_rounds: none $(tail -1 "$tmp/nxl_none") ms, tracked $(tail -1 "$tmp/nxl_tracked") ms"
done
: >"$tmp/nxs_none"; : >"$tmp/nxs_tracked"; : >"$tmp/nxs_ratio"
for v in none tracked; do
	printf '\\set p random(1, %d)\nINSERT INTO nx_%s (pid) VALUES (:p);\n' "$nx_parents" "$v" >"$tmp/nx_$v.sql"
done
for r in $(seq 1 "$pg_rounds"); do
	order="none tracked"
	[ $((r % 2)) -eq 0 ] && order="tracked none"
	for v in $order; do
		sql -c "TRUNCATE nx_$v" -c "CHECKPOINT"
		pgbench -n -c "$clients" -j 2 -T "$pg_seconds" -f "$tmp/nx_$v.sql" "$db" 2>/dev/null |
			awk '/^tps/ { printf "%d\n", $3 }' >>"$tmp/nxs_$v"
	done
	echo "$(tail -1 "$tmp/nxs_tracked") $(tail -1 "$tmp/nxs_none")" | awk '{ print $1 / $2 }' >>"$tmp/nxs_ratio"
	say "(d) single-row round $r/$pg_rounds: none $(tail -1 "$tmp/nxs_none") tps, tracked $(tail -1 "$tmp/nxs_tracked") tps"
done
sql -c "SELECT ri_policy.drop_reference('nx')" -c "DROP TABLE nx_none, nx_tracked, nx_parent" >/dev/null

# (e) incremental passes after parent deletes, by key type
: >"$tmp/incr_keys"
incr_key_expr() {	# the key of number n, as type $1
	case $1 in
	int) echo "n" ;;
	bigint) echo "n::bigint * 1000003" ;;
	uuid) echo "md5('k' || n)::uuid" ;;
	text) echo "lpad(n::text, 15 + n % 26, 'k')" ;;
	esac
}
for kt in $incr_key_types; do
	case $kt in
	int|bigint|uuid|text) ;;
	*) say "unknown key type $kt"; exit 1 ;;
	esac
	say "(e) key type $kt: loading $child_rows rows"
	sql >/dev/null <<SQL
CREATE TABLE ip_$kt (k $kt PRIMARY KEY);
INSERT INTO ip_$kt SELECT $(incr_key_expr "$kt") FROM generate_series(1, 100000) n;
CREATE TABLE ic_$kt (id int, k $kt);
INSERT INTO ic_$kt SELECT g, $(incr_key_expr "$kt") FROM (SELECT g, g % 100000 + 1 AS n
  FROM generate_series(1, $child_rows) g) s;
CREATE INDEX ON ic_$kt (k);
VACUUM ANALYZE ip_$kt, ic_$kt;
SELECT ri_policy.declare_reference('ic_$kt', '{k}', 'ip_$kt', name => 'incr_$kt');
SELECT ri_policy.track('incr_$kt');
SQL
	: >"$tmp/efull"; : >"$tmp/eincr"
	for r in $(seq 1 "$incr_rounds"); do
		# 500 new orphaned keys, and 500 parent keys (of rows spread
		# through the child) deleted: different ones each round
		sql -c '\timing on' \
			-c "CALL ri_policy.validate('incr_$kt', \"full\" => true)" \
			-c "INSERT INTO ic_$kt SELECT 0, $(incr_key_expr "$kt") FROM (SELECT 200000 + $r * 1000 + g AS n FROM generate_series(1, 500) g) s" \
			-c "DELETE FROM ip_$kt WHERE k IN (SELECT $(incr_key_expr "$kt") FROM (SELECT g * 61 + $r AS n FROM generate_series(1, 500) g) s)" \
			-c "CALL ri_policy.validate('incr_$kt')" >"$tmp/times"
		awk '/^Time:/ { n++; if (n == 1) print $2 > "'"$tmp/full_r"'"; if (n == 4) print $2 > "'"$tmp/incr_r"'" }' "$tmp/times"
		cat "$tmp/full_r" >>"$tmp/efull"
		cat "$tmp/incr_r" >>"$tmp/eincr"
		got=$(sql -c "SELECT coalesce(sum(child_rows), 0) FROM ri_policy.violations WHERE reference = 'incr_$kt'")
		want=$(sql -c "SELECT count(*) FROM ic_$kt c WHERE NOT EXISTS (SELECT 1 FROM ip_$kt p WHERE p.k = c.k)")
		[ "$got" = "$want" ] || { say "incremental result of $kt: $got, expected $want"; exit 1; }
		say "(e) $kt round $r/$incr_rounds: full $(tail -1 "$tmp/efull") ms, incremental $(tail -1 "$tmp/eincr") ms (exact: $got orphan rows)"
	done
	sql -c '\timing on' -c "CALL ri_policy.repair('incr_$kt', 'delete')" >"$tmp/times"
	rt=$(awk '/^Time:/ { print $2 }' "$tmp/times")
	left=$(sql -c "SELECT count(*) FROM ic_$kt c WHERE NOT EXISTS (SELECT 1 FROM ip_$kt p WHERE p.k = c.k)")
	[ "$left" = 0 ] || { say "repair of $kt left $left orphan rows"; exit 1; }
	say "(e) $kt repair: $got rows in $rt ms"
	echo "$kt $(median <"$tmp/efull") $(median <"$tmp/eincr") $got $rt" >>"$tmp/incr_keys"
	sql -c "SELECT ri_policy.drop_reference('incr_$kt')" -c "DROP TABLE ic_$kt, ip_$kt" >/dev/null
done

# | what | figure | target | met |
awk -v ln="$(median <"$tmp/load_none")" -v lf="$(median <"$tmp/load_fk")" -v lt="$(median <"$tmp/load_tracked")" \
	-v tn="$(median <"$tmp/tps_none")" -v tf="$(median <"$tmp/tps_fk")" -v tt="$(median <"$tmp/tps_tracked")" \
	-v rf="$(median <"$tmp/ratio_fk")" -v rt="$(median <"$tmp/ratio_tracked")" \
	-v lrf="$(median <"$tmp/lratio_fk")" -v lrt="$(median <"$tmp/lratio_tracked")" \
	-v vf="$(median <"$tmp/full")" -v vi="$(median <"$tmp/incr")" \
	-v nln="$(median <"$tmp/nxl_none")" -v nlt="$(median <"$tmp/nxl_tracked")" -v nlr="$(median <"$tmp/nxl_ratio")" \
	-v nsn="$(median <"$tmp/nxs_none")" -v nst="$(median <"$tmp/nxs_tracked")" -v nsr="$(median <"$tmp/nxs_ratio")" \
	-v rows="$load_rows" -v c="$clients" -v h="$hot" -v n="$child_rows" -v p="$nx_parents" 'BEGIN {
	printf "| tracked bulk load, %dk rows (INSERT ... SELECT), child with an index, vs no FK | %.2fx throughput (%d vs %d ms; enforced FK %.2fx) | >= 0.9x | %s |\n",
		rows / 1000, lrt, lt, ln, lrf, (lrt >= 0.9 ? "ok" : "MISSED")
	printf "| tracked single-row inserts, %d clients, %d hot parents, child with an index, vs no FK | %.2fx (%d vs %d tps; enforced FK %.2fx) | >= 0.9x | %s |\n",
		c, h, rt, tt, tn, rf, (rt >= 0.9 ? "ok" : "MISSED")
	printf "| tracked bulk load, %dk rows, narrow child without an index, %d parent keys, vs no FK | %.2fx throughput (%d vs %d ms) | >= 0.9x | %s |\n",
		rows / 1000, p, nlr, nlt, nln, (nlr >= 0.9 ? "ok" : "MISSED")
	printf "| tracked single-row inserts, %d clients, narrow child without an index, vs no FK | %.2fx (%d vs %d tps) | >= 0.9x | %s |\n",
		c, nsr, nst, nsn, (nsr >= 0.9 ? "ok" : "MISSED")
	printf "| incremental pass vs a full one, 1,000 of %.1fM child rows changed (dense int) | %.4fx (%.1f vs %.1f ms) | <= 0.02x | %s |\n",
		n / 1e6, vi / vf, vi, vf, (vi / vf <= 0.02 ? "ok" : "MISSED")
}'
awk -v n="$child_rows" '
function name(t) { return t == "int" ? "dense int" : t == "bigint" ? "sparse bigint" : t }
{
	printf "| incremental pass vs a full one, 500 child inserts + 500 parent deletes, %s keys (%.1fM rows) | %.4fx (%.1f vs %.1f ms) | <= 0.02x | %s |\n",
		name($1), n / 1e6, $3 / $2, $3, $2, ($3 / $2 <= 0.02 ? "ok" : "MISSED")
	printf "| repair() deleting the orphaned rows, %s keys | %.0f rows/s (%d rows in %.0f ms) | | |\n",
		name($1), ($5 > 0 ? $4 / $5 * 1000 : 0), $4, $5
}' "$tmp/incr_keys"
