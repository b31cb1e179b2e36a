#!/bin/sh
# test/bench/citus.sh -- validation on a Citus cluster vs the same data on one
# node, and vs the best check Citus itself can run.
#
# Run it with `make bench-citus` (test/citus.sh starts a throwaway Citus
# cluster, a coordinator and two workers on this machine, and runs it
# there), or on its own against a Citus coordinator reachable through the
# PG* environment variables, as a superuser, with ri_policy installed.  It
# works in the current database and drops what it created.
#
# A child of BENCH_CHILD_ROWS rows (default 5M) references a parent of
# BENCH_PARENT_ROWS rows (100k); one child row in 1,000 is an orphan.  The
# same rows are loaded twice: as plain tables on the coordinator (one node)
# and as distributed tables that are not co-located (the child on its own
# id, in 6 shards; the parent on its key, in 4), where Citus has no foreign
# key and no anti-join.  The parent's keys are 1..BENCH_PARENT_ROWS, one run
# of consecutive integers, which validation sends to the workers as a range;
# a second distributed parent holds the same keys and 20 more, apart, that
# no child row references (21 runs), which it sends as a bitmap instead; a
# third holds them and 20 more 100 million apart (too sparse for a bitmap),
# which it sends as a multirange of those 21 runs; a fourth holds them and
# 1,100 more a million apart (too many runs for a multirange), which it
# sends as a set that each shard hashes (ri_policy._int8_in_keys()).  The
# same rows again with text keys ('key-' and the number), plain and
# distributed alike, which validation sends as an array (a set of their
# bytes, tried, filtered a shard's rows no faster than PostgreSQL's hashed
# "= ANY").
# Side by side, alternating, median of BENCH_CITUS_ROUNDS rounds (3):
#   one node   CALL ri_policy.validate(..., restart => true) on the plain tables
#   citus      the same on the distributed tables (through Citus)
#   bitmap     the same against the second parent
#   multirange the same against the third
#   set        the same against the fourth
#   not in     SELECT pid, count(*) FROM child WHERE pid NOT IN
#              (SELECT id FROM parent) GROUP BY pid, which Citus runs
#   cte        the same with the parent's keys in a MATERIALIZED CTE
#   text one node, text citus, text not in: the same with the text keys
# Ratios are times: t(one node) / t(citus) (target >= 0.5) and
# t(best of not in, cte) / t(citus) (target > 1).
set -eu

child_rows=${BENCH_CHILD_ROWS:-5000000}
parent_rows=${BENCH_PARENT_ROWS:-100000}
rounds=${BENCH_CITUS_ROUNDS:-3}

sql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
say() { echo "citus: $*" >&2; }
now_ms() { date +%s%3N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
cleanup() {
	sql -c "SELECT ri_policy.drop_reference(r) FROM unnest(ARRAY['bench_one', 'bench_citus', 'bench_bitmap', 'bench_multirange', 'bench_set', 'bench_tone', 'bench_tcitus']) r
			 WHERE r IN (SELECT name FROM ri_policy.references)" \
		-c "DROP TABLE IF EXISTS bench_child, bench_parent, bench_dchild, bench_dparent, bench_dparent2, bench_dparent3, bench_dparent4, bench_tchild, bench_tparent, bench_dtchild, bench_dtparent" \
		>/dev/null 2>&1 || true
	rm -f "$tmp"/* 2>/dev/null; rmdir "$tmp" 2>/dev/null || true
}
tmp=$(mktemp -d)
trap cleanup EXIT
trap 'exit 130' INT TERM

say "loading $child_rows child rows, $parent_rows parent rows, twice"
sql >/dev/null <<SQL
CREATE TABLE bench_parent (id int PRIMARY KEY);
INSERT INTO bench_parent SELECT generate_series(1, $parent_rows);
CREATE TABLE bench_child (id bigint, pid int);
INSERT INTO bench_child
SELECT g, CASE WHEN g % 1000 = 0 THEN $parent_rows + 1 + g / 1000 % 997
			   ELSE 1 + g % $parent_rows END
  FROM generate_series(1, $child_rows) g;
CREATE TABLE bench_dparent (LIKE bench_parent INCLUDING ALL);
CREATE TABLE bench_dchild (LIKE bench_child);
CREATE TABLE bench_dparent2 (LIKE bench_parent INCLUDING ALL);
CREATE TABLE bench_dparent3 (LIKE bench_parent INCLUDING ALL);
CREATE TABLE bench_dparent4 (LIKE bench_parent INCLUDING ALL);
SELECT create_distributed_table('bench_dparent', 'id', shard_count => 4);
SELECT create_distributed_table('bench_dparent2', 'id', shard_count => 4);
SELECT create_distributed_table('bench_dparent3', 'id', shard_count => 4);
SELECT create_distributed_table('bench_dparent4', 'id', shard_count => 4);
SELECT create_distributed_table('bench_dchild', 'id', shard_count => 6, colocate_with => 'none');
INSERT INTO bench_dparent SELECT * FROM bench_parent;
INSERT INTO bench_dchild SELECT * FROM bench_child;
INSERT INTO bench_dparent2 SELECT * FROM bench_parent
UNION ALL SELECT 2 * $parent_rows + 2 * g FROM generate_series(1, 20) g;
INSERT INTO bench_dparent3 SELECT * FROM bench_parent
UNION ALL SELECT 100000000 * g FROM generate_series(1, 20) g;
INSERT INTO bench_dparent4 SELECT * FROM bench_parent
UNION ALL SELECT 200000000 + 1000000 * g FROM generate_series(1, 1100) g;
VACUUM ANALYZE bench_parent;
VACUUM ANALYZE bench_child;
VACUUM ANALYZE bench_dparent;
VACUUM ANALYZE bench_dchild;
VACUUM ANALYZE bench_dparent2;
VACUUM ANALYZE bench_dparent3;
VACUUM ANALYZE bench_dparent4;
SELECT ri_policy.declare_reference('bench_child', '{pid}', 'bench_parent', name => 'bench_one');
SELECT ri_policy.declare_reference('bench_dchild', '{pid}', 'bench_dparent', name => 'bench_citus');
SELECT ri_policy.declare_reference('bench_dchild', '{pid}', 'bench_dparent2', name => 'bench_bitmap');
SELECT ri_policy.declare_reference('bench_dchild', '{pid}', 'bench_dparent3', name => 'bench_multirange');
SELECT ri_policy.declare_reference('bench_dchild', '{pid}', 'bench_dparent4', name => 'bench_set');
CREATE TABLE bench_tparent (id text PRIMARY KEY);
INSERT INTO bench_tparent SELECT 'key-' || id FROM bench_parent;
CREATE TABLE bench_tchild (id bigint, pid text);
INSERT INTO bench_tchild SELECT id, 'key-' || pid FROM bench_child;
CREATE TABLE bench_dtparent (LIKE bench_tparent INCLUDING ALL);
CREATE TABLE bench_dtchild (LIKE bench_tchild);
SELECT create_distributed_table('bench_dtparent', 'id', shard_count => 4);
SELECT create_distributed_table('bench_dtchild', 'id', shard_count => 6, colocate_with => 'none');
INSERT INTO bench_dtparent SELECT * FROM bench_tparent;
INSERT INTO bench_dtchild SELECT * FROM bench_tchild;
VACUUM ANALYZE bench_tparent;
VACUUM ANALYZE bench_tchild;
VACUUM ANALYZE bench_dtparent;
VACUUM ANALYZE bench_dtchild;
SELECT ri_policy.declare_reference('bench_tchild', '{pid}', 'bench_tparent', name => 'bench_tone');
SELECT ri_policy.declare_reference('bench_dtchild', '{pid}', 'bench_dtparent', name => 'bench_tcitus');
SQL

run() {
	case $1 in
	one) sql -c "CALL ri_policy.validate('bench_one', restart => true)" ;;
	citus) sql -c "CALL ri_policy.validate('bench_citus', restart => true)" ;;
	bitmap) sql -c "CALL ri_policy.validate('bench_bitmap', restart => true)" ;;
	multirange) sql -c "CALL ri_policy.validate('bench_multirange', restart => true)" ;;
	set) sql -c "CALL ri_policy.validate('bench_set', restart => true)" ;;
	notin) sql -o /dev/null -c "SELECT pid, count(*) FROM bench_dchild
				WHERE pid NOT IN (SELECT id FROM bench_dparent) GROUP BY pid" ;;
	cte) sql -o /dev/null -c "WITH p AS MATERIALIZED (SELECT id FROM bench_dparent)
				SELECT pid, count(*) FROM bench_dchild
				 WHERE pid NOT IN (SELECT id FROM p) GROUP BY pid" ;;
	tone) sql -c "CALL ri_policy.validate('bench_tone', restart => true)" ;;
	tcitus) sql -c "CALL ri_policy.validate('bench_tcitus', restart => true)" ;;
	tnotin) sql -o /dev/null -c "SELECT pid, count(*) FROM bench_dtchild
				WHERE pid NOT IN (SELECT id FROM bench_dtparent) GROUP BY pid" ;;
	esac
}
all="one citus bitmap multirange set notin cte tone tcitus tnotin"
for what in $all; do run "$what"; done	# warm up
for r in $(seq "$rounds"); do
	for what in $all; do
		t0=$(now_ms)
		run "$what"
		echo $(($(now_ms) - t0)) >>"$tmp/$what"
	done
	say "round $r: one node $(tail -1 "$tmp/one") ms, citus $(tail -1 "$tmp/citus") ms, bitmap $(tail -1 "$tmp/bitmap") ms, multirange $(tail -1 "$tmp/multirange") ms, set $(tail -1 "$tmp/set") ms, not in $(tail -1 "$tmp/notin") ms, cte $(tail -1 "$tmp/cte") ms; text: one node $(tail -1 "$tmp/tone") ms, citus $(tail -1 "$tmp/tcitus") ms, not in $(tail -1 "$tmp/tnotin") ms"
done

# both validations must have found the same orphans as NOT IN
check=$(sql -c "SELECT (SELECT count(*) FROM ri_policy.violations WHERE reference = 'bench_one')
				   || ' ' || (SELECT count(*) FROM ri_policy.violations WHERE reference = 'bench_citus')
				   || ' ' || (SELECT count(*) FROM ri_policy.violations WHERE reference = 'bench_bitmap')
				   || ' ' || (SELECT count(*) FROM ri_policy.violations WHERE reference = 'bench_set')
				   || ' ' || (SELECT count(*) FROM ri_policy.violations WHERE reference = 'bench_multirange')
				   || ' ' || (SELECT count(DISTINCT pid) FROM bench_dchild
							   WHERE pid NOT IN (SELECT id FROM bench_dparent))")
set -- $check
[ "$1" = "$6" ] && [ "$2" = "$6" ] && [ "$3" = "$6" ] && [ "$4" = "$6" ] && [ "$5" = "$6" ] ||
	{ say "orphan keys differ: one node $1, citus $2, bitmap $3, set $4, multirange $5, not in $6"; exit 1; }
tcheck=$(sql -c "SELECT (SELECT count(*) FROM ri_policy.violations WHERE reference = 'bench_tone')
					|| ' ' || (SELECT count(*) FROM ri_policy.violations WHERE reference = 'bench_tcitus')")
[ "$tcheck" = "$6 $6" ] || { say "text orphan keys differ: one node, citus $tcheck; not in $6"; exit 1; }

one=$(median <"$tmp/one"); citus=$(median <"$tmp/citus"); set=$(median <"$tmp/set")
bitmap=$(median <"$tmp/bitmap"); multirange=$(median <"$tmp/multirange")
notin=$(median <"$tmp/notin"); cte=$(median <"$tmp/cte")
tone=$(median <"$tmp/tone"); tcitus=$(median <"$tmp/tcitus"); tnotin=$(median <"$tmp/tnotin")
best=$notin; bestname="NOT IN"
[ "$cte" -lt "$best" ] && { best=$cte; bestname="MATERIALIZED CTE"; }
awk -v one="$one" -v citus="$citus" -v set="$set" -v bitmap="$bitmap" -v multirange="$multirange" -v best="$best" \
	-v bn="$bestname" -v notin="$notin" -v cte="$cte" -v rows="$child_rows" -v prows="$parent_rows" \
	-v keys="$6" -v tone="$tone" -v tcitus="$tcitus" -v tnotin="$tnotin" 'BEGIN {
	printf "Citus validate(), %d-row child, %d-row parent (%d orphan keys), 2 workers:\n", rows, prows, keys
	printf "  vs the same on one node           %.2fx its speed (%d vs %d ms)   target >= 0.5x\n", one / citus, citus, one
	printf "  vs the best Citus-native check    %.2fx its speed (%d vs %d ms, %s; NOT IN %d ms, CTE %d ms)   target > 1x\n", best / citus, citus, best, bn, notin, cte
	printf "  parent keys in a bitmap (21 runs) %.2fx one node, %.2fx the best Citus-native check (%d ms)\n", one / bitmap, best / bitmap, bitmap
	printf "  parent keys in a multirange (21 runs, far apart) %.2fx one node, %.2fx the best Citus-native check (%d ms)\n", one / multirange, best / multirange, multirange
	printf "  parent keys in a set (1,101 runs) %.2fx one node, %.2fx the best Citus-native check (%d ms)\n", one / set, best / set, set
	printf "  text keys (an array)              %.2fx one node (%d vs %d ms), %.2fx NOT IN (%d ms)\n", tone / tcitus, tcitus, tone, tnotin / tcitus, tnotin
}'
