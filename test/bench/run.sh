#!/bin/sh
# test/bench/run.sh -- entry point of the ri_policy benchmarks.
#
# Run with `make bench`: it builds and installs the extension, then runs this
# script inside a throwaway PostgreSQL 15 cluster (pg_virtualenv, trusted
# local connections, PGHOST/PGPORT/PGUSER=postgres set).  It also runs against
# any server reachable through the usual PG* environment variables, as a
# superuser that may create databases, with ri_policy installed.
#
# Each benchmark is a script beside this one.  It prints its progress on
# stderr and its summary lines (ratios measured side by side in one run, since
# these machines are noisy) on stdout; this script collects the summaries into
# one table at the end.  Benchmarks create their own databases and drop them
# when they finish.  Not part of `make test`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

# The benchmarks, in the order they run.
benches="guard.sh validate.sh lifecycle.sh discover.sh"

summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
trap 'exit 130' INT TERM

server=$(psql -X -At -d postgres -c "SELECT current_setting('server_version')")
echo "ri_policy benchmarks on PostgreSQL $server ($(nproc 2>/dev/null || echo '?') CPUs)" >&2

for b in $benches; do
	echo "== $b" >&2
	sh "$here/$b" >>"$summary"
done

echo
echo "ri_policy benchmarks, PostgreSQL $server (medians; ratios measured side by side in this run)"
echo "--------------------------------------------------------------------------------------------"
cat "$summary"
