#!/bin/sh
# A value of ri_policy.mode refused when the library loads (a role's
# connection option) gives way to the server's, database's and role's
# values, however they are spelt (the server command line as pg_ctl -o and
# container images give it, the configuration files, ALTER ROLE) and
# whatever held the refused value at load (a function's SET clause, SET
# LOCAL); an error on the way, or a load that fails part way, loses
# nothing; and a session whose server value cannot be re-derived fails
# closed.  Starts a throwaway server of its own (the tests' cluster cannot be
# restarted with other options); prints TAP; exits non-zero on failure.  Run
# by test/run-tests.sh.
set -eu

bindir=$(pg_config --bindir)
dir=$(mktemp -d)
port=$(( 20000 + $$ % 20000 ))
# the server cannot run as root
as_owner() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
cleanup() { as_owner "'$bindir/pg_ctl' -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

as_owner "'$bindir/initdb' -D '$dir/data' -A trust -U postgres" >/dev/null
start() {
	as_owner "'$bindir/pg_ctl' -D '$dir/data' -l '$dir/log' -w -o \"-p $port -k $dir -c listen_addresses='' $1\" start" >/dev/null
}
stop() { as_owner "'$bindir/pg_ctl' -D '$dir/data' -m fast -w stop" >/dev/null; }
sql() { psql -X -q -At -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

# what an attempt to create a foreign key as regress_so returns (after the
# statement $2, if any, in the same session): the SQLSTATE and DETAIL, or ""
attempt() {
	{
		[ -n "${2:-}" ] && echo "$2;"
		echo "DROP TABLE IF EXISTS regress_so.c;"
		echo "CREATE TABLE regress_so.c (a int REFERENCES regress_so.parent);"
	} | PGOPTIONS="$1" psql -X -q -At -h "$dir" -p "$port" -U regress_so -d postgres \
		-v VERBOSITY=verbose 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]*\): .*/\1/p; s/^DETAIL:  /  /p' | tr -d '\n'
}

n=0
failed=0
check() {	# check DESCRIPTION HAVE WANT
	n=$((n + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		echo "#   have: $2"
		echo "#   want: $3"
		failed=$((failed + 1))
	fi
}

start "-c ri_policy.mode=block"
sql <<'SQL'
CREATE EXTENSION ri_policy;
CREATE ROLE regress_so LOGIN;
CREATE SCHEMA regress_so AUTHORIZATION regress_so;
CREATE TABLE regress_so.parent (id int PRIMARY KEY);
ALTER TABLE regress_so.parent OWNER TO regress_so;
SQL
argv='42501  Parameter "ri_policy.mode" is set to "block" on the server command line.'
check "-c ri_policy.mode=block on the command line: blocked" "$(attempt '')" "$argv"
check "a connection option cannot lower it" "$(attempt '-c ri_policy.mode=allow')" "$argv"
check "nor one that says warn" "$(attempt '-c ri_policy.mode=warn')" "$argv"
stop

start "--ri_policy.mode=block"
check "--ri_policy.mode=block on the command line: a connection option cannot lower it" \
	"$(attempt '-c ri_policy.mode=allow')" "$argv"
stop

start "-c ri_policy.mode=warn -c ri_policy.mode=block"
check "the last of several command-line values holds" "$(attempt '-c ri_policy.mode=allow')" "$argv"
stop

# names in any case, and options bundled as getopt reads them
start "-c RI_Policy.Mode=block"
check "-c RI_Policy.Mode=block on the command line: a connection option cannot lower it" \
	"$(attempt '-c ri_policy.mode=allow')" "$argv"
check "nor one that names it in capitals" "$(attempt '-c RI_POLICY.MODE=allow')" "$argv"
stop
start "-Fc ri_policy.mode=block"
check "-Fc ri_policy.mode=block (bundled options): a connection option cannot lower it" \
	"$(attempt '-c ri_policy.mode=allow')" "$argv"
stop

# a role's and the configuration files' values, named in any case
start ""
sql -c "ALTER ROLE regress_so SET \"RI_Policy.Mode\" = 'block'"
check "ALTER ROLE ... SET \"RI_Policy.Mode\": a connection option in capitals cannot lower it" \
	"$(attempt '-c RI_POLICY.MODE=allow')" \
	'42501  Parameter "ri_policy.mode" is set to "block" for role "regress_so".'
sql -c "ALTER ROLE regress_so RESET ALL"
cp "$dir/data/postgresql.conf" "$dir/postgresql.conf.saved"
echo "RI_POLICY.MODE = 'block'" >>"$dir/data/postgresql.conf"
sql -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
check "RI_POLICY.MODE = 'block' in postgresql.conf: a connection option cannot lower it" \
	"$(attempt '-c ri_policy.mode=allow')" \
	'42501  Parameter "ri_policy.mode" is set to "block" in the server configuration file.'
cp "$dir/postgresql.conf.saved" "$dir/data/postgresql.conf"
stop

# an error while the values are put back (here a lock timeout on
# pg_db_role_setting, which another session holds) leaves the refusal to
# be dealt with by the next statement; it is not forgotten
start ""
sql -c "ALTER ROLE regress_so SET ri_policy.mode = 'block'"
# (the lock is taken once the session has connected: connecting reads it)
(sleep 1; sql -c "BEGIN" -c "LOCK pg_db_role_setting IN ACCESS EXCLUSIVE MODE" \
	-c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null) &
locker=$!
check "a refusal outlives an error while the values are put back" \
	"$(attempt '-c ri_policy.mode=allow' "SELECT pg_sleep(2); SET lock_timeout = '100ms'; CREATE TABLE regress_so.t (x int); SELECT pg_sleep(5); RESET lock_timeout")" \
	'55P0342501  Parameter "ri_policy.mode" is set to "block" for role "regress_so".'
wait $locker
sql -c "ALTER ROLE regress_so RESET ri_policy.mode"
stop

# a loading of the library that fails part way (a placeholder whose name
# the client's encoding cannot show makes the warning about it fail) is
# done again at the next use, without redefining what it defined (an
# assertion failure on builds with assertions), and the role's value holds
start ""
sql -c "ALTER ROLE regress_so SET ri_policy.mode = 'block'"
check "a failed loading, then another: no crash, and the role's value holds" \
	"$(attempt '-c ri_policy.mode=allow' "SET client_encoding = 'LATIN1'; SELECT set_config(convert_from('\\x72695f706f6c6963792e78e282ac'::bytea, 'UTF8'), '1', false); SELECT ri_policy._fk_kind(0); SELECT ri_policy._fk_kind(0); SET client_encoding = 'UTF8'")" \
	'22P0522P05  "ri_policy" is now a reserved prefix.42501  Parameter "ri_policy.mode" is set to "block" for role "regress_so".'
check "the server is still up" "$(sql -c 'SELECT 1')" "1"
check "a loading that failed while defining a setting, then another: the same" \
	"$(attempt '-c ri_policy.mode=allow' "SELECT set_config('ri_policy.batch_size', convert_from('\\x78e282ac'::bytea, 'UTF8'), false); SET client_encoding = 'LATIN1'; SELECT ri_policy._fk_kind(0); SET client_encoding = 'UTF8'; SELECT ri_policy._fk_kind(0)")" \
	'22P0542501  Parameter "ri_policy.mode" is set to "block" for role "regress_so".'
check "the server is still up" "$(sql -c 'SELECT 1')" "1"
sql -c "ALTER ROLE regress_so RESET ri_policy.mode"
stop

# the command line read as the postmaster got it, whatever its arguments
# hold: postmaster.opts does not escape a double quote, so that one
# holding '" "' reads as more arguments (here one that says allow)
cat >"$dir/start_quoted.sh" <<'SH'
exec "$1/pg_ctl" -D "$2/data" -l "$2/log" -w -o "-p $3 -k $2 -c listen_addresses='' -c ri_policy.mode=block -c 'application_name=x\" \"-c\" \"ri_policy.mode=allow'" start
SH
as_owner "sh '$dir/start_quoted.sh' '$bindir' '$dir' '$port'" >/dev/null
check "an argument holding '\" \"' is not read as two" "$(attempt '-c ri_policy.mode=allow')" "$argv"
stop

# where the kernel's copy of the command line cannot be read (here an
# empty file mounted over it, in the server's own mount namespace), the
# session fails closed rather than read postmaster.opts alone
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 &&
	unshare -m --propagation private true 2>/dev/null; then
	: >"$dir/empty"
	chmod 644 "$dir/empty"
	cat >"$dir/start_hidden.sh" <<'SH'
su postgres -s /bin/sh -c "exec '$1/postgres' -D '$2/data' -p $3 -k '$2' -c listen_addresses= -c ri_policy.mode=block" >>"$2/log" 2>&1 &
for i in $(seq 1 100); do [ -S "$2/.s.PGSQL.$3" ] && break; sleep 0.1; done
mount --bind "$2/empty" "/proc/$(head -1 "$2/data/postmaster.pid")/cmdline"
wait
SH
	unshare -m --propagation private sh "$dir/start_hidden.sh" "$bindir" "$dir" "$port" &
	for i in $(seq 1 100); do [ -S "$dir/.s.PGSQL.$port" ] && break; sleep 0.1; done
	sleep 0.5
	check "the kernel's command line unreadable: the session is blocked, and says why" \
		"$(attempt '-c ri_policy.mode=allow')" \
		'42501  Parameter "ri_policy.mode" is set to "block" for this session, because a value sent at connection start was refused and the server'"'"'s own value could not be determined.'
	stop
	wait
else
	n=$((n + 1))
	echo "ok $n # skip the kernel's command line unreadable (needs root and unshare)"
fi

# postmaster.opts that does not say what the kernel says (here a double
# quote added inside an argument) fails closed
start "-c ri_policy.mode=allow"
opts=$(cat "$dir/data/postmaster.opts")
printf '%s "-c" "cluster_name=a"b"\n' "$opts" >"$dir/data/postmaster.opts"
check "postmaster.opts changed: the session is blocked, and says why" \
	"$(attempt '-c ri_policy.mode=allow')" \
	'42501  Parameter "ri_policy.mode" is set to "block" for this session, because a value sent at connection start was refused and the server'"'"'s own value could not be determined.'
printf '%s\n' "$opts" >"$dir/data/postmaster.opts"
stop

# a role's own setting still comes before the command line, as in PostgreSQL
start "-c ri_policy.mode=allow"
sql -c "ALTER ROLE regress_so SET ri_policy.mode = 'block'"
check "the role's value over an allow on the command line" \
	"$(attempt '-c ri_policy.mode=allow')" \
	'42501  Parameter "ri_policy.mode" is set to "block" for role "regress_so".'
sql -c "ALTER ROLE regress_so RESET ri_policy.mode"
stop

# a refused connection option is noticed even when the library is first
# loaded inside a function whose own SET (or SET LOCAL) of the mode, by its
# owner, hides it: when the function returns, the role's value is back, not
# the built-in default (0.7 let the role create keys from then on)
start ""
sql <<'SQL'
ALTER ROLE regress_so SET ri_policy.mode = 'block';
CREATE FUNCTION public.so_helper() RETURNS text LANGUAGE plpgsql
	SECURITY DEFINER SET ri_policy.mode = 'warn' AS $$
BEGIN
	CREATE TEMP TABLE IF NOT EXISTS so_tmp (x int);
	RETURN current_setting('ri_policy.mode');
END $$;
CREATE FUNCTION public.so_helper_local() RETURNS text LANGUAGE plpgsql
	SECURITY DEFINER AS $$
BEGIN
	SET LOCAL ri_policy.mode = 'warn';
	CREATE TEMP TABLE IF NOT EXISTS so_tmp (x int);
	RETURN current_setting('ri_policy.mode');
END $$;
CREATE FUNCTION public.so_load() RETURNS text LANGUAGE plpgsql
	SECURITY DEFINER SET ri_policy.mode = 'warn' AS $$
BEGIN
	PERFORM ri_policy._fk_kind(0);
	RETURN current_setting('ri_policy.mode');
END $$;
GRANT EXECUTE ON FUNCTION public.so_helper(), public.so_helper_local(), public.so_load() TO regress_so;
SQL
role_block='42501  Parameter "ri_policy.mode" is set to "block" for role "regress_so".'
check "loaded inside a function's SET clause: the role's value is back after it" \
	"$(attempt '-c ri_policy.mode=allow' 'SELECT public.so_helper()')" "$role_block"
check "loaded inside a function's SET LOCAL: the role's value is back after the transaction" \
	"$(attempt '-c ri_policy.mode=allow' 'SELECT public.so_helper_local()')" "$role_block"
check "loaded by a call inside a function's SET clause, before any DDL: the same" \
	"$(attempt '-c ri_policy.mode=allow' 'SELECT public.so_load()')" "$role_block"
check "without the connection option, the same" \
	"$(attempt '' 'SELECT public.so_helper()')" "$role_block"
sql -c "ALTER ROLE regress_so RESET ri_policy.mode" \
	-c "DROP FUNCTION public.so_helper(), public.so_helper_local(), public.so_load()"
stop

# when the server's own value cannot be read back, the session fails closed
start "-c ri_policy.mode=allow"
chmod 000 "$dir/data/postmaster.opts"
check "postmaster.opts unreadable: the session is blocked, and says why" \
	"$(attempt '-c ri_policy.mode=allow')" \
	'42501  Parameter "ri_policy.mode" is set to "block" for this session, because a value sent at connection start was refused and the server'"'"'s own value could not be determined.'
check "without a refused value nothing changes" "$(attempt '')" ""
chmod 600 "$dir/data/postmaster.opts"
stop

echo "1..$n"
[ "$failed" -eq 0 ]
