#!/bin/bash
# Runs the Citus tests (test/citus/*.sql, pgTAP) against a throwaway Citus
# cluster: a coordinator and two workers on localhost, from the same
# binaries, in a temporary directory, stopped and removed at the end.
# make test-citus runs it, as root on Debian 12: it builds Citus 13.2.2 into
# Debian's PostgreSQL 15 once per machine (../shared/vendor/build-citus.sh,
# /work/shared/vendor/build-citus.sh, or CITUS_VENDOR/build-citus.sh), then
# ri_policy.
#
# With "--run COMMAND ARGS...", runs that instead of the tests, with the PG*
# variables naming the coordinator (make bench-citus: test/bench/citus.sh).
#
# Settings (environment): PG_CONFIG (default Debian's PostgreSQL 15),
# CITUS_VENDOR (where build-citus.sh is), CITUS_PORT (the coordinator's
# port; the workers take the next two; default 27450), CITUS_KEEP=1 keeps
# the cluster running after the tests (then stop it yourself: the script
# prints how).  Prints a closing "ri_policy: N passed, N failed" line and
# exits non-zero when anything failed.
set -euo pipefail
tree=$(cd "$(dirname "$0")/.." && pwd)
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
vendor=${CITUS_VENDOR:-}
if [ -z "$vendor" ]; then
	# beside the checkout, as on the project's machines; else where they keep it
	for v in "$tree/../shared/vendor" /work/shared/vendor; do
		[ -x "$v/build-citus.sh" ] && { vendor=$v; break; }
	done
fi
port=${CITUS_PORT:-27450}
bin=$("$pg_config" --bindir)
started=$SECONDS

say() { echo "test-citus: $*"; }
die() { echo "test-citus: $*" >&2; exit 1; }

[ -x "$vendor/build-citus.sh" ] || die "no build-citus.sh in ../shared/vendor or /work/shared/vendor (set CITUS_VENDOR)"
"$vendor/build-citus.sh" "$pg_config"
say "Citus ready ($((SECONDS - started)) s)"
make -C "$tree" -s PG_CONFIG="$pg_config" >/dev/null
make -C "$tree" -s PG_CONFIG="$pg_config" install >/dev/null
# the tests run pgTAP; Debian's package is there after make deps
[ -f "$("$pg_config" --sharedir)/extension/pgtap.control" ] || die "pgTAP is not installed"

dir=$(mktemp -d /tmp/ri_policy-citus.XXXXXX)
chown postgres "$dir"
nodes="coord w1 w2"
node_port() { case $1 in coord) echo "$port" ;; w1) echo $((port + 1)) ;; w2) echo $((port + 2)) ;; esac; }
as_pg() { su postgres -c "$*"; }
stop_all() {
	for n in $nodes; do
		[ -f "$dir/$n/postmaster.pid" ] && as_pg "$bin/pg_ctl -D $dir/$n -m fast stop" >/dev/null 2>&1
	done
	return 0
}
cleanup() {
	if [ -n "${CITUS_KEEP:-}" ]; then
		say "cluster kept in $dir; stop it with: for n in $nodes; do su postgres -c \"$bin/pg_ctl -D $dir/\$n stop\"; done"
		return
	fi
	stop_all
	rm -rf "$dir"
}
trap cleanup EXIT

for n in $nodes; do
	as_pg "$bin/initdb -D $dir/$n -A trust -U postgres" >/dev/null
	cat >>"$dir/$n/postgresql.conf" <<CONF
port = $(node_port "$n")
listen_addresses = 'localhost'
unix_socket_directories = '$dir'
shared_preload_libraries = 'citus'
citus.enable_statistics_collection = off
citus.node_conninfo = 'sslmode=disable'
max_worker_processes = 16
max_connections = 100
fsync = off
CONF
	as_pg "$bin/pg_ctl -D $dir/$n -l $dir/$n.log -w start" >/dev/null ||
		{ cat "$dir/$n.log"; die "node $n did not start"; }
done
export PGHOST=$dir PGUSER=postgres PGDATABASE=postgres
psqlx() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
for n in $nodes; do
	psqlx -p "$(node_port "$n")" -c "CREATE EXTENSION citus"
done
export PGPORT=$port
psqlx -c "SELECT citus_set_coordinator_host('localhost', $port)" >/dev/null
psqlx -c "SELECT citus_add_node('localhost', $((port + 1)))" \
	-c "SELECT citus_add_node('localhost', $((port + 2)))" >/dev/null
psqlx -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION dblink" -c "CREATE EXTENSION ri_policy"
say "cluster up on ports $port-$((port + 2)) ($((SECONDS - started)) s)"

if [ "${1:-}" = "--run" ]; then
	shift
	PATH=$bin:$PATH "$@"
	exit
fi

log=$dir/tap
status=0
PATH=$bin:$PATH pg_prove --ext .sql -r -v "${@:-$tree/test/citus}" >"$log" 2>&1 || status=1
grep -v '^ok ' "$log"
for n in $nodes; do
	if grep -n 'terminated by signal\|TRAP:' "$dir/$n.log"; then
		say "node $n crashed"
		status=1
	fi
done
passed=$(grep -c '^ok ' "$log" || true)
failed=$(grep '^not ok ' "$log" | grep -vc '# TODO' || true)
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
say "done ($((SECONDS - started)) s)"
echo "ri_policy: $passed passed, $failed failed"
exit "$status"
