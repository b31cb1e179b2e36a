#!/bin/sh
# Runs the pg_regress suite (sql/, expected/) and the pgTAP suite
# (test/pgtap/) against the server the PG* variables name; make test runs it
# inside a throwaway pg_virtualenv cluster.  Prints regression.diffs when a
# pg_regress test fails; exits non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."
status=0

if ! make -s installcheck; then
	echo "=== regression.diffs ==="
	cat regression.diffs 2>/dev/null
	status=1
fi

# pgTAP files run in a database of their own, with the extensions they use.
db=ri_policy_tap
psql -X -q -v ON_ERROR_STOP=1 -d postgres \
	-c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" &&
psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
	-c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION dblink" \
	-c "CREATE EXTENSION ri_policy" || status=1

PGDATABASE=$db make -s prove || status=1

echo "=== test/dump_restore.sh ==="
test/dump_restore.sh || status=1

if [ "$status" -eq 0 ]; then
	echo "ri_policy: all tests passed"
else
	echo "ri_policy: some tests FAILED"
fi
exit "$status"
