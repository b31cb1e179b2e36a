#!/bin/bash
# A database using ri_policy survives pg_upgrade from Debian 12's
# PostgreSQL 15 to a newer major, and works afterwards; test/cassert.sh runs
# it against its assertion build of 18 after the suite.
#
#   test/pg_upgrade.sh NEW_PG_CONFIG
#
# The old server is a copy of this machine's PostgreSQL 15
# (/usr/lib/postgresql/15, which make test installs), the new one a copy
# of the installation whose pg_config is given (one prefix, as a build
# from source makes); both copies are made for the run and removed after
# it.  The extension is built (without warnings) from a copy of the
# worktree for each, and installed into the copies only.
#
# On 15: declared references, validated (results and progress recorded),
# one of them tracked with changes recorded since its last pass, a foreign
# key validated (so the registry knows it), and the guard's settings made
# with ALTER ROLE, ALTER ROLE IN DATABASE and ALTER DATABASE.  Then
# pg_upgrade --check and pg_upgrade (--copy) to the new major, and on it:
# everything is there, validate() and the tracked reference's next pass
# find what they should, the guard applies each role's setting, and on 18+
# NOT ENFORCED keys are listed as such by ri_policy.references.  The same
# guard checks run before the upgrade.  Prints "ok"/"not ok" lines and a
# closing "pg_upgrade: N passed, N failed"; the logs stay in
# $UPGRADE_CACHE/last-run (default /var/cache/ri_policy-upgrade).  As
# root, the servers run as postgres.
set -euo pipefail
unset MAKELEVEL MAKEFLAGS MFLAGS

[ $# -eq 1 ] || { echo "usage: $0 NEW_PG_CONFIG" >&2; exit 2; }
tree=$(cd "$(dirname "$0")/.." && pwd)
# the version this tree installs, which the upgraded database must keep
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$tree/ri_policy.control")
new_config=$1
cache=${UPGRADE_CACHE:-/var/cache/ri_policy-upgrade}
started=$SECONDS

say() { echo "pg_upgrade: $*"; }
die() { echo "pg_upgrade: $*" >&2; exit 1; }

[ -x /usr/lib/postgresql/15/bin/postgres ] && [ -x /usr/lib/postgresql/15/bin/pg_config ] ||
	die "needs Debian's postgresql-15 and postgresql-server-dev-15 (make test installs them)"
new_prefix=$(dirname "$("$new_config" --bindir)")
case $("$new_config" --pkglibdir)/$("$new_config" --sharedir) in
	"$new_prefix"/*/"$new_prefix"/*) ;;
	*) die "$new_config: its lib and share directories are not below $new_prefix" ;;
esac

work=$(mktemp -d)
chmod 755 "$work"
last="$cache/last-run"
mkdir -p "$cache"
rm -rf "$last" && mkdir -p "$last"
if [ "$(id -u)" -eq 0 ]; then
	as_pg() { su postgres -s /bin/sh -c "cd $work && $1"; }
else
	as_pg() { sh -c "cd $work && $1"; }
fi
cleanup() {
	local d
	for d in old new; do
		if [ -f "$work/$d/postmaster.pid" ]; then
			as_pg "$work/bin-$d/pg_ctl -D $work/$d stop -m immediate" >/dev/null 2>&1 || true
		fi
	done
	rm -rf "$work"
}
trap cleanup EXIT

# --- both servers, copied ----------------------------------------------------
#
# PostgreSQL finds its share and lib directories relative to its binaries,
# so a copy of an installation works from anywhere, and what is installed
# into it stays there: ri_policy is never installed into /usr, nor into
# the installation given.

mkdir -p "$work/pg-old/usr/lib/postgresql" "$work/pg-old/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$work/pg-old/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$work/pg-old/usr/share/postgresql/"
ln -s /usr/include "$work/pg-old/usr/include"
cp -a "$new_prefix" "$work/pg-new"
old_config="$work/pg-old/usr/lib/postgresql/15/bin/pg_config"
new_config="$work/pg-new/bin/pg_config"
old_bin=$("$old_config" --bindir)
new_bin=$("$new_config" --bindir)
new_version=$("$new_config" --version)
new_num=$(echo "$new_version" | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
ln -s "$old_bin" "$work/bin-old"
ln -s "$new_bin" "$work/bin-new"

# --- ri_policy for both ------------------------------------------------------

for side in old new; do
	config=$old_config
	[ "$side" = new ] && config=$new_config
	mkdir "$work/tree-$side"
	tar -C "$tree" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./results --exclude='./regression.*' --exclude=./log --exclude=./tmp_check \
		-cf - . | tar -C "$work/tree-$side" -xf -
	if ! (cd "$work/tree-$side" && nice -n 10 make -j2 PG_CONFIG="$config" &&
		make PG_CONFIG="$config" install) >"$last/build-$side.log" 2>&1; then
		cat "$last/build-$side.log"
		die "building ri_policy for $("$config" --version) failed"
	fi
	if grep -i 'warning' "$last/build-$side.log"; then
		die "building ri_policy for $("$config" --version) gave warnings"
	fi
done

# --- the old cluster -----------------------------------------------------------

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local p=$1
	while ! port_free "$p"; do p=$((p + 1)); done
	echo "$p"
}
old_port=$(free_port 27432)	# below the ephemeral range, as in test/cassert.sh
new_port=$(free_port $((old_port + 1)))
sock="$work/sock"
mkdir "$sock"
[ "$(id -u)" -eq 0 ] && chown postgres "$sock" "$work" "$last"

# initdb options both clusters must share: 18 turns data checksums on by default
initdb_opts="-A trust -U postgres -N -k -E UTF8 --locale=C.UTF-8"
server_conf() {	# server_conf DATA PORT
	{
		echo "port = $2"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$sock'"
		echo "fsync = off"
		echo "log_line_prefix = '%m [%p] '"
	} >>"$1/postgresql.conf"
}
as_pg "$old_bin/initdb -D $work/old $initdb_opts" >"$last/initdb-old.log" 2>&1 ||
	{ cat "$last/initdb-old.log"; die "initdb (15) failed"; }
server_conf "$work/old" "$old_port"
as_pg "$old_bin/pg_ctl -D $work/old -l $last/server-old.log -w start" >/dev/null ||
	{ cat "$last/server-old.log"; die "the 15 server did not start"; }

db=ri_upgrade
# q [-U ROLE] SQL: the output of a script, unaligned, in database $db (as
# postgres unless a role is given), without notices or warnings
q() {
	local role=postgres
	if [ "$1" = -U ]; then role=$2; shift 2; fi
	PGOPTIONS='-c client_min_messages=error' "$bin/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		-h "$sock" -p "$port" -U "$role" -d "$db" -f - <<<"$1" 2>&1
}
passed=0
failed=0
# check DESCRIPTION EXPECTED [-U ROLE] SQL
check() {
	local desc=$1 want=$2 got
	shift 2
	got=$(q "$@") || true
	if [ "$got" = "$want" ]; then
		passed=$((passed + 1))
		echo "ok $((passed + failed)) - $desc"
	else
		failed=$((failed + 1))
		echo "not ok $((passed + failed)) - $desc"
		echo "#   wanted: $want" | sed '2,$s/^/#           /'
		echo "#   got:    $got" | sed '2,$s/^/#           /'
	fi
}

bin=$old_bin port=$old_port
"$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d postgres \
	>"$last/setup.log" 2>&1 <<EOF || { cat "$last/setup.log"; die "setting up the 15 database failed"; }
CREATE DATABASE $db;
\c $db
CREATE EXTENSION ri_policy;
CREATE ROLE regress_up_block LOGIN;
CREATE ROLE regress_up_migrator LOGIN;
CREATE ROLE regress_up_app LOGIN;
ALTER ROLE regress_up_block SET ri_policy.mode = 'block';
ALTER ROLE regress_up_migrator SET ri_policy.mode = 'block';
ALTER ROLE regress_up_migrator IN DATABASE $db SET ri_policy.mode = 'allow';
ALTER DATABASE $db SET ri_policy.mode = 'warn';
ALTER DATABASE $db SET ri_policy.batch_size = 7;
CREATE SCHEMA app;
-- what a statement raises: "SQLSTATE message", or "ok"
CREATE FUNCTION app.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
\$\$;
GRANT USAGE, CREATE ON SCHEMA app TO regress_up_block, regress_up_migrator, regress_up_app;

CREATE TABLE app.customers (id int PRIMARY KEY);
INSERT INTO app.customers SELECT generate_series(1, 100);
GRANT REFERENCES ON app.customers TO PUBLIC;

-- a declared reference, validated: 2 orphan keys in 3 rows
CREATE TABLE app.orders (id int PRIMARY KEY, customer_id int);
INSERT INTO app.orders SELECT g, g % 100 + 1 FROM generate_series(1, 500) g;
INSERT INTO app.orders VALUES (1001, 101), (1002, 101), (1003, 102);
SELECT ri_policy.declare_reference('app.orders', '{customer_id}', 'app.customers', name => 'orders_customer');
CALL ri_policy.validate('orders_customer');

-- a declared reference, tracked, validated, then changed: the changes wait
-- in the change log for the next pass
CREATE TABLE app.payments (id int PRIMARY KEY, customer_id int);
CREATE INDEX ON app.payments (customer_id);
INSERT INTO app.payments SELECT g, g % 100 + 1 FROM generate_series(1, 300) g;
SELECT ri_policy.declare_reference('app.payments', '{customer_id}', 'app.customers', name => 'payments_customer');
SELECT ri_policy.track('payments_customer');
CALL ri_policy.validate('payments_customer');
INSERT INTO app.payments VALUES (1001, 201);

-- a declared reference compared by an operator of an extension's type,
-- whose OID pg_upgrade does not keep
CREATE EXTENSION citext;
CREATE TABLE app.tags (tag citext PRIMARY KEY);
INSERT INTO app.tags VALUES ('red'), ('Green');
CREATE TABLE app.labels (id int, tag citext);
INSERT INTO app.labels VALUES (1, 'RED'), (2, 'green'), (3, 'blue');
SELECT ri_policy.declare_reference('app.labels', '{tag}', 'app.tags', name => 'labels_tag');
CALL ri_policy.validate('labels_tag');

-- a foreign key, validated (the registry knows it by then), with orphans
-- that NOT VALID let in
SET ri_policy.mode = 'allow';
CREATE TABLE app.invoices (id int PRIMARY KEY, customer_id int);
INSERT INTO app.invoices VALUES (1, 1), (2, 301);
ALTER TABLE app.invoices ADD CONSTRAINT invoices_customer FOREIGN KEY (customer_id)
	REFERENCES app.customers NOT VALID;
CALL ri_policy.validate('app.invoices.invoices_customer');
EOF

# guard_checks: the guard applies each role's setting (both clusters)
guard_checks() {
	check "$1: ALTER ROLE SET ri_policy.mode = block" "block" \
		-U regress_up_block "SHOW ri_policy.mode"
	check "$1: ALTER ROLE IN DATABASE wins over ALTER ROLE" "allow" \
		-U regress_up_migrator "SHOW ri_policy.mode"
	check "$1: ALTER DATABASE SET applies to a role with no setting" "warn 7" \
		-U regress_up_app "SELECT current_setting('ri_policy.mode') || ' ' || current_setting('ri_policy.batch_size')"
	check "$1: block refuses a foreign key (42501)" \
		"42501 foreign key constraint on table \"x\" referencing table \"customers\" is not allowed" \
		-U regress_up_block "SELECT app.sqlstate_of('CREATE TABLE app.x (customer_id int REFERENCES app.customers)')"
	check "$1: and the table is not there" "" -U regress_up_block "SELECT to_regclass('app.x')"
	check "$1: warn lets it through and records it" "app.w_$1 1" \
		-U regress_up_app "CREATE TABLE app.w_$1 (customer_id int REFERENCES app.customers);
SELECT table_name || ' ' || count(*) FROM ri_policy.warned WHERE table_name = 'app.w_$1' GROUP BY table_name"
	check "$1: allow lets it through, unrecorded" "0" \
		-U regress_up_migrator "CREATE TABLE app.a_$1 (customer_id int REFERENCES app.customers);
SELECT count(*) FROM ri_policy.warned WHERE table_name = 'app.a_$1'"
}

guard_checks 15
check "15: what ri_policy.references lists" \
	"a_15_customer_id_fkey enforced  
invoices_customer not valid 1 1
labels_tag declared 1 1
orders_customer declared 2 3
payments_customer declared 0 0
w_15_customer_id_fkey enforced  " \
	"SELECT name || ' ' || kind || ' ' || coalesce(orphan_keys::text, '') || ' ' || coalesce(orphan_rows::text, '')
	   FROM ri_policy.references WHERE child::text LIKE 'app.%' ORDER BY name"

# Debian 12's 15.20 (not 15.18) gives every column an attribute option
# pg_attver, which pg_dump --binary-upgrade carries over and 18.6 refuses
# ('unrecognized parameter "pg_attver"'): pg_upgrade fails for any database
# with a table, with or without ri_policy.  The test removes it from the
# old catalog, and says so.
attver=$(q "SELECT count(*) FROM pg_attribute WHERE attrelid >= 16384
			  AND attoptions::text LIKE '%pg_attver=%'")
if [ "$attver" != 0 ]; then
	say "NOTE: $("$old_config" --version) set pg_attver on $attver columns of $db;" \
		"removed from the old catalog before pg_upgrade"
	q "UPDATE pg_attribute
		  SET attoptions = nullif(ARRAY(SELECT o FROM unnest(attoptions) o
										 WHERE o NOT LIKE 'pg_attver=%'), '{}')
		WHERE attrelid >= 16384 AND attoptions::text LIKE '%pg_attver=%'" >/dev/null
fi
as_pg "$old_bin/pg_ctl -D $work/old -w stop -m fast" >/dev/null || die "the 15 server did not stop"

# --- pg_upgrade ------------------------------------------------------------------

as_pg "$new_bin/initdb -D $work/new $initdb_opts" >"$last/initdb-new.log" 2>&1 ||
	{ cat "$last/initdb-new.log"; die "initdb ($new_version) failed"; }
server_conf "$work/new" "$new_port"
upgrade="$new_bin/pg_upgrade -b $old_bin -B $new_bin -d $work/old -D $work/new \
-p $old_port -P $new_port -s $sock -U postgres --copy"
if ! as_pg "$upgrade --check" >"$last/pg_upgrade-check.log" 2>&1; then
	cat "$last/pg_upgrade-check.log"
	die "pg_upgrade --check failed"
fi
if ! as_pg "$upgrade" >"$last/pg_upgrade.log" 2>&1; then
	cat "$last/pg_upgrade.log"
	find "$work/new" -path '*pg_upgrade_output.d*' -name '*.log' -exec tail -n 30 {} + 2>/dev/null || true
	die "pg_upgrade failed"
fi
say "upgraded from $("$old_config" --version) to $new_version ($((SECONDS - started)) s)"
as_pg "$new_bin/pg_ctl -D $work/new -l $last/server-new.log -w start" >/dev/null ||
	{ cat "$last/server-new.log"; die "the upgraded server did not start"; }

# --- on the new major ------------------------------------------------------------

bin=$new_bin port=$new_port
check "$new_num: the extension is there, at its version" "$version" \
	"SELECT extversion FROM pg_extension WHERE extname = 'ri_policy'"
check "$new_num: results and progress kept" \
	"a_15_customer_id_fkey enforced  
invoices_customer not valid 1 1
labels_tag declared 1 1
orders_customer declared 2 3
payments_customer declared 0 0
w_15_customer_id_fkey enforced  " \
	"SELECT name || ' ' || kind || ' ' || coalesce(orphan_keys::text, '') || ' ' || coalesce(orphan_rows::text, '')
	   FROM ri_policy.references WHERE child::text LIKE 'app.%' ORDER BY name"
check "$new_num: the pinned operators, by name" \
	'labels_tag {"public.=(public.citext,public.citext)"}
orders_customer {"pg_catalog.=(integer,integer)"}
payments_customer {"pg_catalog.=(integer,integer)"}' \
	"SELECT name || ' ' || eq_operators::text FROM ri_policy._reference ORDER BY name"
check "$new_num: citext's operator, whose OID pg_upgrade does not keep, still compares: validate() finds the same orphan" \
	'{"tag": "YELLOW"} {"tag": "blue"}' \
	"INSERT INTO app.labels VALUES (4, 'YELLOW'), (5, 'Red');
CALL ri_policy.validate('labels_tag');
SELECT string_agg(key::text, ' ' ORDER BY key::text) FROM ri_policy.violations
 WHERE reference = 'labels_tag'"
check "$new_num: the violations of the declared reference kept" \
	'orders_customer {"customer_id": 101} 2
orders_customer {"customer_id": 102} 1' \
	"SELECT reference || ' ' || key::text || ' ' || child_rows FROM ri_policy.violations
	  WHERE reference = 'orders_customer' ORDER BY key::text"
check "$new_num: validate() of the declared reference, in batches of the database's batch_size (7 rows)" \
	"done 2 503 1" \
	"INSERT INTO app.orders VALUES (1004, 103);
DELETE FROM app.orders WHERE id = 1003;
CALL ri_policy.validate('orders_customer');
SELECT status || ' ' || orphan_keys || ' ' || rows_checked || ' ' || (batches > 1)::int
  FROM ri_policy.validation_progress WHERE reference = 'orders_customer'"
check "$new_num: and it finds what changed" '{"customer_id": 101} {"customer_id": 103}' \
	"SELECT string_agg(key::text, ' ' ORDER BY key::text) FROM ri_policy.violations
	  WHERE reference = 'orders_customer'"
check "$new_num: the tracked reference's next pass finds the change made before the upgrade and one after, incrementally" \
	'done  {"customer_id": 201} {"customer_id": 202}' \
	"INSERT INTO app.payments VALUES (1002, 202);
CALL ri_policy.validate('payments_customer');
SELECT p.status || ' ' || coalesce(p.why_full, '') || ' ' ||
	   (SELECT string_agg(key::text, ' ' ORDER BY key::text) FROM ri_policy.violations
		 WHERE reference = 'payments_customer')
  FROM ri_policy.validation_progress p WHERE p.reference = 'payments_customer'"
check "$new_num: it is still tracked, and its triggers record" "1 1" \
	"DELETE FROM app.customers WHERE id = 5;
SELECT (SELECT (tracked_since IS NOT NULL)::int FROM ri_policy._reference WHERE name = 'payments_customer')
	   || ' ' || (SELECT count(*) FROM ri_policy._changed)"
check "$new_num: the foreign key the registry knows validates again" "invoices_customer 2" \
	"SET session_replication_role = replica;	-- no foreign key triggers
INSERT INTO app.invoices VALUES (3, 302);
RESET session_replication_role;
CALL ri_policy.validate('app.invoices.invoices_customer');
SELECT reference || ' ' || count(*) FROM ri_policy.violations
 WHERE reference = 'invoices_customer' GROUP BY reference"
guard_checks "$new_num"
if [ "$new_num" -ge 18 ]; then
	check "$new_num: NOT ENFORCED keys are listed as such (a new one, and an upgraded one altered)" \
		"a_15_customer_id_fkey not enforced
ne_customer_id_fkey not enforced" \
		-U regress_up_block "CREATE TABLE app.ne (customer_id int REFERENCES app.customers NOT ENFORCED);
\\c - postgres
ALTER TABLE app.a_15 ALTER CONSTRAINT a_15_customer_id_fkey NOT ENFORCED;
SELECT name || ' ' || kind FROM ri_policy.references WHERE kind = 'not enforced' ORDER BY name"
fi

as_pg "$new_bin/pg_ctl -D $work/new -w stop -m fast" >/dev/null || { failed=$((failed + 1)); say "the server did not stop"; }
if grep -q 'TRAP:\|terminated by signal' "$last"/server-*.log; then
	failed=$((failed + 1))
	grep -n -A 12 'TRAP:\|terminated by signal' "$last"/server-*.log
fi
say "$passed passed, $failed failed ($((SECONDS - started)) s)"
[ "$failed" -eq 0 ]
