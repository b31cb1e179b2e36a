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
# stderr and its figures (ratios measured side by side in one run, since
# these machines are noisy) on stdout, one row each of a Markdown table,
# "| what | figure | target | met |", met being ok or MISSED where there is
# a target; this script gathers them into one table at the end and counts
# the targets met.  BENCH_ONLY (say "validate.sh lifecycle.sh") runs fewer.  Benchmarks create their own databases and drop them
# when they finish.  Not part of `make test`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

# The benchmarks, in the order they run.
benches=${BENCH_ONLY:-guard.sh validate.sh lifecycle.sh discover.sh}

summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
trap 'exit 130' INT TERM

server=$(psql -X -At -d postgres -c "SELECT current_setting('server_version')")
echo "ri_policy benchmarks on PostgreSQL $server ($(nproc 2>/dev/null || echo '?') CPUs)" >&2

for b in $benches; do
	echo "== $b" >&2
	sh "$here/$b" >>"$summary"
done

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo "?")
echo
echo "ri_policy benchmarks, PostgreSQL $server, $(nproc 2>/dev/null || echo '?') CPUs ($cpu), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "(medians; each ratio measured side by side in this run)"
echo
echo "| what | figure | target | met |"
echo "|---|---|---|---|"
cat "$summary"
awk -F' [|] ' '$4 ~ /^(ok|MISSED)/ { n++; if ($4 ~ /^ok/) met++ }
	END { printf "\ntargets met: %d of %d\n", met, n }' "$summary"
