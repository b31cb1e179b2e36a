#!/bin/sh
# Runs the pg_regress suite (sql/, expected/), the pgTAP suite
# (test/pgtap/), test/dump_restore.sh, test/server_options.sh and
# test/frameworks.sh and test/validate_fuzz.py (a few fixed seeds) against
# the server the PG* variables name; make test runs it inside a throwaway
# pg_virtualenv cluster.  Prints regression.diffs when a pg_regress test
# fails, and a closing "N passed, N failed" line (a TAP "not ok ... # TODO"
# counts as neither); exits non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."
status=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

if ! make -s installcheck 2>&1 | tee "$log/regress"; then
	status=1
fi
if grep -q 'FAILED\|failed (ignored)\|tests failed' "$log/regress" || [ ! -s "$log/regress" ]; then
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

PGDATABASE=$db pg_prove --ext .sql -r -v test/pgtap >"$log/tap" 2>&1 || status=1
grep -v '^ok ' "$log/tap"

echo "=== test/dump_restore.sh ==="
test/dump_restore.sh >"$log/dump" 2>&1 || status=1
cat "$log/dump"

echo "=== test/server_options.sh ==="
test/server_options.sh >"$log/options" 2>&1 || status=1
cat "$log/options"

echo "=== test/frameworks.sh ==="
test/frameworks.sh >"$log/frameworks" 2>&1 || status=1
cat "$log/frameworks"

# the randomized differential test of validation, on fixed seeds (make fuzz
# runs fresh ones)
echo "=== test/validate_fuzz.py ==="
/usr/bin/python3 test/validate_fuzz.py --tap --seeds 1,3,6,9,21,50 >"$log/fuzz" 2>&1 || status=1
cat "$log/fuzz"

# pg_regress prints "test x ... ok" up to 15, TAP ("ok 1 - x") from 16 on
passed=$(grep -c '^\(test\|     \) .* \.\.\. ok\|^ok [0-9]' "$log/regress")
failed=$(grep -c '\.\.\. FAILED\|^not ok [0-9]' "$log/regress")
for f in tap dump options frameworks fuzz; do
	passed=$((passed + $(grep -c '^ok ' "$log/$f")))
	failed=$((failed + $(grep '^not ok ' "$log/$f" | grep -vc '# TODO')))
done
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "ri_policy: $passed passed, $failed failed"
exit "$status"
