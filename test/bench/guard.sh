#!/bin/sh
# test/bench/guard.sh -- what the foreign-key policy guard costs.
#
# Run it through `make bench` (test/bench/run.sh calls it), or on its own
# against any server reachable through the PG* environment variables, as a
# superuser that may create databases, with ri_policy installed.
#
# (a) Guard overhead on DDL that creates no foreign key.  A single pgbench
#     client loops over
#         CREATE TABLE bench_guard_t (id int PRIMARY KEY, v text);
#         DROP TABLE bench_guard_t;
#     (each statement its own transaction) in three set-ups: without the
#     extension; with it and ri_policy.mode = allow; with it and
#     ri_policy.mode = block, the worst case (the ddl_command_start trigger
#     inspects every CREATE TABLE).  Each pgbench run is a new connection.
#     All three run in one database, the extension being dropped for the runs
#     without it and created again for the others: this statement spends much
#     of its time creating files, and on these machines that cost differs
#     from one database directory to another by far more than the few
#     percent measured here.  For the same reason the database is put on
#     tmpfs when possible (see "Where the database lives"; BENCH_TMPFS).
#     The set-ups take turns, in a rotating order, for BENCH_ROUNDS rounds of
#     BENCH_SECONDS seconds each; the catalogs are vacuumed after every run.
#     The ratio is the median over rounds of (time per cycle with the
#     extension) / (time per cycle without it), i.e. tps(no ext) / tps(ext),
#     from runs seconds apart.  Target: <= 1.05.
#
# (b) A blocked ALTER TABLE big ADD FOREIGN KEY (pid) REFERENCES parent on a
#     BENCH_ROWS-row table, against the same statement allowed (which
#     validates, i.e. scans, every row).  Both are timed inside the server:
#     a plpgsql function runs the statement in a BEGIN ... EXCEPTION block
#     (a subtransaction: the allowed one is rolled back there so that it can
#     be repeated; the blocked one must fail with SQLSTATE 42501) and returns
#     the elapsed clock_timestamp() milliseconds, rollback included for both.
#     The mode is set with SET ri_policy.mode, as superuser.  Allowed and
#     blocked alternate for BENCH_FK_ROUNDS rounds, after one warm-up each;
#     the ratio is median(blocked) / median(allowed).  Target: <= 0.02.
#
# Knobs (environment): BENCH_ROUNDS (default 15), BENCH_SECONDS (2),
# BENCH_ROWS (1000000), BENCH_FK_ROUNDS (7).  Progress goes to stderr, the
# two summary lines to stdout.  The database created here, ri_policy_bench,
# is dropped on exit.
set -eu

rounds=${BENCH_ROUNDS:-15}			# (a) rounds
seconds=${BENCH_SECONDS:-2}			# (a) seconds per pgbench run
rows=${BENCH_ROWS:-1000000}			# (b) rows in the child table
fk_rounds=${BENCH_FK_ROUNDS:-7}		# (b) timed runs of each variant

db=ri_policy_bench

# psql for set-up and checks, quiet (no NOTICEs about IF [NOT] EXISTS), with
# the connection options in $pgopts if any.  pgbench connects with the
# environment as it is, plus the mode under test.
pgopts=""
psql_q() {
	PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning $pgopts" \
		psql -X -q -At -v ON_ERROR_STOP=1 "$@"
}

say() { echo "guard: $*" >&2; }

# The median of the numbers given as arguments.
median() {
	printf '%s\n' "$@" | sort -g | awk '
		{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# a / b
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f\n", a / b }'; }

drop_db() {
	psql_q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
	psql_q -d postgres -c "DROP TABLESPACE IF EXISTS $db"
}

workdir=$(mktemp -d)
ts_dir=""
cleanup() {
	drop_db || true
	rm -rf "$workdir"
	if [ -n "$ts_dir" ]; then rm -rf "$ts_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop_db

# Where the database lives.  Creating a table creates four files, and on
# these machines (ext4 on a virtual disk) file creation now and then gets
# several times slower, for seconds at a time (CREATE/DROP falls from ~1100
# to ~250 cycles/s): that noise, far larger than the guard's cost, is not
# what we measure.  So when the server runs on
# this machine and we can give its OS user a directory on tmpfs (/dev/shm),
# the database goes into a tablespace there.  That also makes the statement
# cheaper, so the guard's share of it larger: the ratio can only get worse.
# BENCH_TMPFS=0 keeps the default storage.
storage="default storage"
datadir=$(psql_q -d postgres -c "SHOW data_directory")
if [ "${BENCH_TMPFS:-1}" != 0 ] && [ -d "$datadir" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	# shellcheck disable=SC2012 # ls -n is the POSIX way to a file's owner
	owner=$(ls -nd "$datadir" | awk '{ print $3 }')
	if [ "$(id -u)" = "$owner" ] || [ "$(id -u)" = 0 ]; then
		ts_dir=$(mktemp -d /dev/shm/ri_policy_bench.XXXXXX)
		chown "$owner" "$ts_dir"
		psql_q -d postgres -c "CREATE TABLESPACE $db LOCATION '$ts_dir'"
		storage="tables on tmpfs"
	fi
fi
if [ -n "$ts_dir" ]; then
	psql_q -d postgres -c "CREATE DATABASE $db TABLESPACE $db"
else
	psql_q -d postgres -c "CREATE DATABASE $db"
fi
say "database $db, $storage"

# ---------------------------------------------------------------------------
# (a) CREATE/DROP TABLE without a foreign key
# ---------------------------------------------------------------------------

script=$workdir/create_drop.sql
cat >"$script" <<'EOF'
CREATE TABLE bench_guard_t (id int PRIMARY KEY, v text);
DROP TABLE bench_guard_t;
EOF

# Put the database in the state a set-up needs (noext, allow or block), and
# check, through a new connection that gets the mode the way pgbench's will,
# that the guard does what the set-up says.
setup() {
	if [ "$1" = noext ]; then
		psql_q -d $db -c "DROP EXTENSION IF EXISTS ri_policy"
		if [ "$(psql_q -d $db -c "SELECT count(*) FROM pg_event_trigger")" != 0 ]; then
			say "$db has event triggers without ri_policy"
			exit 1
		fi
		return
	fi
	psql_q -d $db -c "CREATE EXTENSION IF NOT EXISTS ri_policy"
	pgopts="-c ri_policy.mode=$1"
	psql_q -d $db <<EOF
DO \$\$
DECLARE
	outcome text := 'created';
BEGIN
	BEGIN
		CREATE TEMP TABLE bench_p (id int PRIMARY KEY);
		CREATE TEMP TABLE bench_c (pid int REFERENCES bench_p);
		RAISE EXCEPTION USING ERRCODE = 'RPB01', MESSAGE = 'undo';
	EXCEPTION
		WHEN SQLSTATE 'RPB01' THEN NULL;
		WHEN insufficient_privilege THEN outcome := 'blocked';
	END;
	IF (outcome = 'blocked') <> ('$1' = 'block') THEN
		RAISE EXCEPTION 'ri_policy.mode = %: the foreign key was %',
			current_setting('ri_policy.mode'), outcome;
	END IF;
END
\$\$;
EOF
	pgopts=""
}

# Run the CREATE/DROP loop in one set-up for the given number of seconds;
# print its tps (CREATE/DROP cycles per second).
run_ddl() {
	setup "$1"
	psql_q -d $db -c "DROP TABLE IF EXISTS bench_guard_t"
	opts=""
	[ "$1" = noext ] || opts="-c ri_policy.mode=$1"
	out=$(PGOPTIONS="${PGOPTIONS:-} $opts" pgbench -n -c 1 -j 1 -f "$script" -T "$2" $db)
	tps=$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
	if [ -z "$tps" ]; then
		printf '%s\n' "$out" >&2
		say "could not read tps from pgbench ($1)"
		exit 1
	fi
	# Keep the catalogs from growing (and autovacuum from waking up
	# during another set-up's turn).
	psql_q -d $db -c "VACUUM pg_class, pg_attribute, pg_type, pg_depend, pg_constraint, pg_index"
	echo "$tps"
}

say "(a) warm-up"
psql_q -d $db -c "CHECKPOINT"
for m in noext allow block; do
	run_ddl "$m" 2 >/dev/null
done

say "(a) CREATE/DROP TABLE, $rounds rounds of ${seconds}s per set-up"
tps_noext="" tps_allow="" tps_block="" r_allow="" r_block=""
i=1
while [ "$i" -le "$rounds" ]; do
	# Rotate the order so that no set-up always runs first or last.
	case $((i % 3)) in
	1) order="noext allow block" ;;
	2) order="allow block noext" ;;
	0) order="block noext allow" ;;
	esac
	for m in $order; do
		t=$(run_ddl "$m" "$seconds")
		case $m in
		noext) n=$t ;;
		allow) a=$t ;;
		block) b=$t ;;
		esac
	done
	tps_noext="$tps_noext $n"
	tps_allow="$tps_allow $a"
	tps_block="$tps_block $b"
	r_allow="$r_allow $(ratio "$n" "$a")"
	r_block="$r_block $(ratio "$n" "$b")"
	say "(a) round $i/$rounds: tps no ext $(printf %.0f "$n"), allow $(printf %.0f "$a"), block $(printf %.0f "$b")"
	i=$((i + 1))
done

# shellcheck disable=SC2086 # word splitting of the lists is intended
{
	m_noext=$(median $tps_noext)
	m_allow=$(median $tps_allow)
	m_block=$(median $tps_block)
	m_r_allow=$(median $r_allow)
	m_r_block=$(median $r_block)
}

# ---------------------------------------------------------------------------
# (b) blocked ADD FOREIGN KEY vs allowed, on a large table
# ---------------------------------------------------------------------------

say "(b) setting up: parent of 10000 rows, big of $rows rows"
psql_q -d $db <<EOF
CREATE EXTENSION IF NOT EXISTS ri_policy;
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent SELECT g FROM generate_series(1, 10000) g;
CREATE TABLE big (id int NOT NULL, pid int NOT NULL);
INSERT INTO big SELECT g, g % 10000 + 1 FROM generate_series(1, $rows) g;
VACUUM (ANALYZE) parent, big;
CHECKPOINT;
EOF

say "(b) ALTER TABLE big ADD FOREIGN KEY, allowed and blocked, $fk_rounds rounds"
fk_out=$(psql_q -d $db <<EOF
-- Run a statement in a subtransaction and return its elapsed time in ms,
-- rollback included.  'allowed': it must succeed (it is then rolled back);
-- 'blocked': it must fail with SQLSTATE 42501.
CREATE FUNCTION pg_temp.elapsed_ms(stmt text, expect text)
RETURNS float8
LANGUAGE plpgsql
AS \$\$
DECLARE
	t0 timestamptz;
	t1 timestamptz;
	outcome text;
BEGIN
	t0 := clock_timestamp();
	BEGIN
		EXECUTE stmt;
		RAISE EXCEPTION USING ERRCODE = 'RPB01', MESSAGE = 'undo';
	EXCEPTION
		WHEN SQLSTATE 'RPB01' THEN
			t1 := clock_timestamp();
			outcome := 'allowed';
		WHEN insufficient_privilege THEN
			t1 := clock_timestamp();
			outcome := 'blocked';
	END;
	IF outcome <> expect THEN
		RAISE EXCEPTION 'expected the statement to be %, it was % (ri_policy.mode = %)',
			expect, outcome, current_setting('ri_policy.mode');
	END IF;
	RETURN 1000 * extract(epoch FROM t1 - t0);
END
\$\$;

CREATE TEMP TABLE timings (round int, variant text, ms float8);
\set stmt 'ALTER TABLE big ADD FOREIGN KEY (pid) REFERENCES parent'

-- Round 0 is the warm-up (caches, the library).  \gexec runs each column of
-- each row as a query of its own, in order: allowed, then blocked.
SELECT 'SET ri_policy.mode = allow',
       format(\$\$INSERT INTO timings SELECT %s, 'allowed', pg_temp.elapsed_ms(%L, 'allowed')\$\$, r, :'stmt'),
       'SET ri_policy.mode = block',
       format(\$\$INSERT INTO timings SELECT %s, 'blocked', pg_temp.elapsed_ms(%L, 'blocked')\$\$, r, :'stmt')
FROM generate_series(0, $fk_rounds) r
\gexec

SELECT round, string_agg(variant || ' ' || round(ms::numeric, 3) || ' ms', ', ' ORDER BY variant)
FROM timings GROUP BY round ORDER BY round;

SELECT 'medians', percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE variant = 'allowed'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE variant = 'blocked')
FROM timings WHERE round > 0;
EOF
)
printf '%s\n' "$fk_out" | grep -v '^medians' | sed 's/^\([0-9]*\)|/guard: (b) round \1: /' >&2
m_fk_allowed=$(printf '%s\n' "$fk_out" | awk -F'|' '$1 == "medians" { print $2 }')
m_fk_blocked=$(printf '%s\n' "$fk_out" | awk -F'|' '$1 == "medians" { print $3 }')
fk_ratio=$(ratio "$m_fk_blocked" "$m_fk_allowed")

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------

awk -v n="$m_noext" -v a="$m_allow" -v b="$m_block" -v ra="$m_r_allow" -v rb="$m_r_block" \
	-v fa="$m_fk_allowed" -v fb="$m_fk_blocked" -v fr="$fk_ratio" -v rows="$rows" -v storage="$storage" '
function verdict(ok) { return ok ? "ok" : "MISSED" }
BEGIN {
	printf "| guard on DDL that creates no FK (CREATE/DROP TABLE), mode block vs no extension, %s | %.3fx the time (%.0f vs %.0f tps; allow %.3fx) | <= 1.05x | %s |\n",
		storage, rb, b, n, ra, verdict(rb <= 1.05 && ra <= 1.05)
	printf "| blocked ADD FOREIGN KEY on %s rows vs the same allowed | %.4fx the time (%.3f vs %.1f ms) | <= 0.02x | %s |\n",
		(rows >= 1000000 && rows % 1000000 == 0 ? rows / 1000000 "M" : rows), fr, fb, fa, verdict(fr <= 0.02)
}'
