#!/bin/bash
# Runs the whole suite (test/run-tests.sh) against an assertion-enabled
# PostgreSQL built from source; make test-cassert runs it.
#
# The server is built from the upstream tarball that Debian's archive
# serves for the postgresql-NN source package (NN = CASSERT_MAJOR, 18 by
# default), or from CASSERT_TARBALL (any postgresql-NN*.tar.* upstream
# tarball, e.g. a 19 release candidate), configured with --enable-cassert
# --enable-debug, together with the contrib modules the tests use (dblink,
# pg_stat_statements, preloaded with track = all, ...), pgTAP (built from
# Debian's pgtap source package) and pg_cron (from Debian's pg-cron source
# package or, when the archive does not serve that, its
# postgresql-NN-cron binary package if this machine's libc is new enough
# for it; else test/pgtap/cron.sql is skipped, and the run says so; or
# from CASSERT_PG_CRON_TARBALL).  Everything is cached outside the
# tree, in CASSERT_CACHE (default /var/cache/ri_policy-cassert): a second
# run only rebuilds ri_policy and runs the suite.
#
# The extension is built from a copy of the worktree, so that no object
# built for this server is left in the tree for another one; the build
# must be free of warnings.  The suite runs in a throwaway cluster; a
# "TRAP:" or "terminated by signal" in its log fails the run, with the
# backtrace PostgreSQL logs and, from the core file (core_pattern "core"
# keeps only the last crash's), gdb's.  The logs of the last run stay
# in $CASSERT_CACHE/last-run.  Then, for a major after 15, test/pg_upgrade.sh
# upgrades a database using ri_policy from Debian 12's PostgreSQL 15 to
# this server (its logs in $CASSERT_CACHE/pg_upgrade/last-run).  Needs root
# (apt-get, and the cluster runs as user postgres) unless everything is
# installed and cached already.
#
# Settings (environment): CASSERT_CACHE, CASSERT_MAJOR, CASSERT_TARBALL,
# CASSERT_PG_CONFIG (an assertion-enabled server installed already, with
# the contrib modules of $contrib below: nothing else is built),
# CASSERT_SUITE (the Debian suite to take sources from, default sid),
# CASSERT_PG_CRON_TARBALL (a pg_cron source tarball, when Debian's is not
# served), CASSERT_JOBS (make -j, default 2), CASSERT_CFLAGS (default -O1).
set -euo pipefail
# PostgreSQL's build makes its generated headers only in a top-level make
# (MAKELEVEL 0): forget the make that runs us (make test-cassert)
unset MAKELEVEL MAKEFLAGS MFLAGS

tree=$(cd "$(dirname "$0")/.." && pwd)
cache=${CASSERT_CACHE:-/var/cache/ri_policy-cassert}
major=${CASSERT_MAJOR:-18}
suite=${CASSERT_SUITE:-sid}
jobs=${CASSERT_JOBS:-2}
cflags=${CASSERT_CFLAGS:--O1}
tarball=${CASSERT_TARBALL:-}
configure_opts="--enable-cassert --enable-debug"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
nice="nice -n 10"
started=$SECONDS

say() { echo "cassert: $*"; }
die() { echo "cassert: $*" >&2; exit 1; }
phase() { say "$1 ($((SECONDS - started)) s)"; }

# --- what building and testing need, from Debian 12 ----------------------

deps="gcc libc6-dev make perl bison flex libreadline-dev zlib1g-dev libicu-dev \
pkg-config bzip2 libtap-parser-sourcehandler-pgtap-perl gdb"
missing=""
for p in $deps; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || die "missing packages:$missing (run as root, or install them)"
	say "installing$missing"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

mkdir -p "$cache"/src "$cache"/logs
exec 9>"$cache/lock"
flock 9 || die "cannot lock $cache/lock"

# --- Debian's archive, through a private apt configuration ---------------
#
# Only the index of the one suite we take sources from; the system's own
# sources, preferences and dpkg status are left out.  The mirror is the
# one this machine's apt already uses for Debian.  Valid-Until is not
# checked because mirrors of sid may be snapshots; the signatures are.

apt="$cache/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$apt/download"
aptopts=(-q -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts="$apt/parts"
	-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$apt/parts"
	-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o Dir::State::status=/dev/null
	-o Acquire::Check-Valid-Until=false -o APT::Get::List-Cleanup=false)
[ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1 && chown _apt "$apt/download"

mirror=${CASSERT_MIRROR:-$(apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(REPO_URI)' 2>/dev/null |
	awk -F'|' '$1 == "Debian" && $2 == "Debian" { print $3; exit }')}
[ -n "$mirror" ] ||
	mirror=$(apt-get indextargets --format '$(RELEASE)|$(REPO_URI)' 2>/dev/null |
		awk -F'|' '$1 !~ /-/ && $2 ~ /\/debian\/?$/ { print $2; exit }')

archive=no
if [ -n "$mirror" ]; then
	cat >"$apt/sources.list" <<EOF
deb-src [signed-by=$keyring] $mirror $suite main
deb [signed-by=$keyring arch=$(dpkg --print-architecture)] $mirror $suite main
EOF
	if apt-get "${aptopts[@]}" update >"$cache/logs/apt-update.log" 2>&1; then
		archive=yes
	else
		say "apt-get update of $suite from $mirror failed (see $cache/logs/apt-update.log); using what is cached"
	fi
else
	say "no Debian mirror found in /etc/apt; using what is cached"
fi

# fetch_uri ARGS...: downloads the first file that "apt-get --print-uris
# ARGS" lists and whose name matches $pattern into $cache/src, checked
# against the hash of the signed index; prints its path.
fetch_uri() {
	local line uri name hash
	[ "$archive" = yes ] || return 1
	line=$(apt-get "${aptopts[@]}" --print-uris "$@" 2>/dev/null | grep -E "$pattern" | head -n 1) || true
	[ -n "$line" ] || return 1
	read -r uri name _ hash <<<"$line"
	uri=${uri//\'/}
	if [ ! -f "$cache/src/$name" ] ||
		[ "$(sha256sum <"$cache/src/$name" | cut -d' ' -f1)" != "${hash#SHA256:}" ]; then
		rm -f "$apt/download/$name"
		/usr/lib/apt/apt-helper "${aptopts[@]}" download-file "$uri" "$apt/download/$name" "$hash" \
			>>"$cache/logs/download.log" 2>&1 || return 1
		mv "$apt/download/$name" "$cache/src/$name"
	fi
	echo "$cache/src/$name"
}

# fetch_orig SRCPKG: the upstream tarball of a source package (cached
# copy if the archive cannot be reached).
fetch_orig() {
	local pattern="^'[^ ]*/$1_[^ ]*\.orig\.tar\.[a-z0-9]+' "
	fetch_uri source --only-source "$1" ||
		{ [ "$archive" = no ] && ls -t "$cache/src/$1"_*.orig.tar.* 2>/dev/null | head -n 1 | grep .; }
}

# sha SHA256 of a file
sha() { sha256sum <"$1" | cut -d' ' -f1; }

# --- PostgreSQL --------------------------------------------------------

# the contrib modules the tests use
contrib="dblink citext hstore pageinspect pg_stat_statements file_fdw pg_buffercache"

if [ -n "${CASSERT_PG_CONFIG:-}" ]; then
	# a server built and installed already, with those contrib modules
	# (README, Versions: 16 and 19 from a source mirror, by hand)
	PG_CONFIG=$CASSERT_PG_CONFIG
	prefix=$(dirname "$("$PG_CONFIG" --bindir)")
	top="postgresql-$("$PG_CONFIG" --version | cut -d' ' -f2)"
	[[ $top =~ ^postgresql-([0-9]+) ]] || die "$PG_CONFIG: no PostgreSQL version"
	major=${BASH_REMATCH[1]}
	say "using $top from $prefix (installed already)"
else
	if [ -z "$tarball" ]; then
		tarball=$(fetch_orig "postgresql-$major") ||
			die "the archive does not serve postgresql-$major's upstream tarball (suite $suite); give one as CASSERT_TARBALL"
	fi
	[ -f "$tarball" ] || die "no such tarball: $tarball"
	top=$({ tar -tf "$tarball" || true; } | head -n 1 | cut -d/ -f1)
	[[ $top =~ ^postgresql-([0-9]+) ]] || die "$tarball is not a PostgreSQL source tarball ($top)"
	major=${BASH_REMATCH[1]}
	prefix="$cache/$top"
	stamp="$(sha "$tarball") $configure_opts CFLAGS=$cflags contrib=$contrib"
	PG_CONFIG="$prefix/bin/pg_config"

	if [ "$(cat "$prefix/.cassert-stamp" 2>/dev/null)" = "$stamp" ]; then
		say "using $top from $prefix (built from $(basename "$tarball"))"
	else
		phase "building $top from $(basename "$tarball") into $prefix"
		rm -rf "$prefix" "$cache/build"
		mkdir -p "$cache/build"
		tar -xf "$tarball" -C "$cache/build"
		log="$cache/logs/postgresql-build.log"
		(
			cd "$cache/build/$top" &&
				$nice ./configure --prefix="$prefix" $configure_opts CFLAGS="$cflags" &&
				$nice make -s -j"$jobs" &&
				for m in $contrib; do $nice make -s -C contrib/$m -j"$jobs" || exit 1; done &&
				make -s install &&
				for m in $contrib; do make -s -C contrib/$m install || exit 1; done
		) >"$log" 2>&1 || { tail -n 40 "$log"; die "building $top failed; see $log"; }
		rm -rf "$cache/build"
		echo "$stamp" >"$prefix/.cassert-stamp"
		phase "built $top"
	fi
fi
[ "$("$PG_CONFIG" --configure | grep -c 'enable-cassert')" -eq 1 ] || die "$PG_CONFIG is not an assertion build"
bindir=$("$PG_CONFIG" --bindir)
sharedir=$("$PG_CONFIG" --sharedir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)

# --- pgTAP and pg_cron, built against it --------------------------------

# build_ext NAME SRCPKG [TARBALL]: builds and installs an extension from
# TARBALL or a source package's upstream tarball, once per tarball.
build_ext() {
	local name=$1 src=${3:-} dir log="$cache/logs/$1-build.log"
	[ -n "$src" ] || src=$(fetch_orig "$2") || return 1
	[ "$(cat "$prefix/.$name-stamp" 2>/dev/null)" = "$(sha "$src")" ] && return 0
	rm -rf "$cache/build" && mkdir -p "$cache/build"
	tar -xf "$src" -C "$cache/build"
	dir=$(find "$cache/build" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	(cd "$dir" && $nice make PG_CONFIG="$PG_CONFIG" && make PG_CONFIG="$PG_CONFIG" install) \
		>"$log" 2>&1 || { tail -n 20 "$log"; rm -rf "$cache/build"; return 2; }
	rm -rf "$cache/build"
	sha "$src" >"$prefix/.$name-stamp"
}

# deb_fits DEB: every versioned dependency of a binary package, other
# than the server itself, is met by what this machine has installed.
deb_fits() {
	local dep name ver have
	while read -r dep; do
		[[ $dep =~ ^([a-z0-9.+-]+)\ \(\>=\ ([^\)]+)\)$ ]] || continue
		name=${BASH_REMATCH[1]} ver=${BASH_REMATCH[2]}
		[[ $name == postgresql-* ]] && continue
		have=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null) || have=0
		if ! dpkg --compare-versions "$have" ge "$ver"; then
			say "$(basename "$1") needs $name >= $ver, this machine has ${have/#0/none}"
			return 1
		fi
	done < <(dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/^ *//; s/ *$//')
}

build_ext pgtap pgtap || die "cannot build pgTAP from Debian's pgtap source package"

# pg_cron: CASSERT_PG_CRON_TARBALL if given, else Debian's pg-cron source
# package.  The archive may list that without serving its files; then
# its postgresql-NN-cron binary package (built for the same major, whose
# ABI an assertion build shares) if this machine's libraries fit it.
cron=yes
if ! build_ext pg_cron pg-cron "${CASSERT_PG_CRON_TARBALL:-}"; then
	pattern="/postgresql-$major-cron_[^ ]*\.deb' "
	deb=$(fetch_uri download "postgresql-$major-cron") || deb=""
	if [ -n "$deb" ] && deb_fits "$deb"; then
		if [ "$(cat "$prefix/.pg_cron-stamp" 2>/dev/null)" != "$(sha "$deb")" ]; then
			rm -rf "$cache/build" && mkdir -p "$cache/build"
			dpkg-deb -x "$deb" "$cache/build"
			cp "$cache/build/usr/lib/postgresql/$major/lib/pg_cron.so" "$pkglibdir/"
			cp "$cache/build/usr/share/postgresql/$major/extension"/pg_cron* "$sharedir/extension/"
			rm -rf "$cache/build"
			sha "$deb" >"$prefix/.pg_cron-stamp"
		fi
	elif [ -f "$prefix/.pg_cron-stamp" ]; then
		deb="the pg_cron installed by an earlier run"
	else
		cron=no
	fi
	if [ "$cron" = yes ]; then
		say "pg_cron: Debian's pg-cron source is not served; using ${deb##*/}"
	else
		say "SKIPPED: pg_cron (Debian's pg-cron source is not served, and no usable" \
			"postgresql-$major-cron package); test/pgtap/cron.sql is not run"
	fi
fi

# --- ri_policy, from a copy of the worktree ------------------------------

work=$(mktemp -d)
chmod 755 "$work"
data="$work/data"
sock="$work/sock"
cleanup() {
	if [ -f "$data/postmaster.pid" ]; then
		as_pg "$bindir/pg_ctl -D $data stop -m immediate" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
if [ "$(id -u)" -eq 0 ]; then
	as_pg() { su postgres -s /bin/sh -c "$1"; }
else
	as_pg() { sh -c "$1"; }
fi

mkdir "$work/tree"
tar -C "$tree" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=./results --exclude='./regression.*' --exclude=./log --exclude=./tmp_check \
	-cf - . | tar -C "$work/tree" -xf -
[ "$cron" = yes ] || rm -f "$work/tree/test/pgtap/cron.sql"

last="$cache/last-run"
rm -rf "$last" && mkdir -p "$last"
phase "building ri_policy against $("$PG_CONFIG" --version)"
if ! (cd "$work/tree" && $nice make -j"$jobs" PG_CONFIG="$PG_CONFIG" &&
	make PG_CONFIG="$PG_CONFIG" install) >"$last/build.log" 2>&1; then
	cat "$last/build.log"
	die "building ri_policy failed"
fi
if grep -i 'warning' "$last/build.log"; then
	die "building ri_policy gave warnings"
fi

# --- a throwaway cluster -------------------------------------------------

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=25432	# below the ephemeral range (32768-60999), where a client socket can hold it
while ! port_free "$port"; do port=$((port + 1)); done

mkdir "$data" "$sock"
[ "$(id -u)" -eq 0 ] && chown postgres "$data" "$sock"
as_pg "$bindir/initdb -D $data -A trust -U postgres -N" >"$last/initdb.log" 2>&1 ||
	{ cat "$last/initdb.log"; die "initdb failed"; }
{
	echo "port = $port"
	echo "listen_addresses = 'localhost'"
	echo "unix_socket_directories = '$sock'"
	echo "max_worker_processes = 16"
	echo "wal_level = logical"
	echo "fsync = off"
	echo "log_line_prefix = '%m [%p] '"
	# pg_stat_statements for advise()'s RI cost figures
	if [ "$cron" = yes ]; then
		echo "shared_preload_libraries = 'pg_cron,pg_stat_statements'"
		echo "cron.database_name = 'postgres'"
	else
		echo "shared_preload_libraries = 'pg_stat_statements'"
	fi
	echo "pg_stat_statements.track = all"
} >>"$data/postgresql.conf"
# -c: allow core files (core_pattern "core" puts them in the data directory)
as_pg "$bindir/pg_ctl -D $data -l $data/server.log -c -w start" >/dev/null ||
	{ cat "$data/server.log"; die "the server did not start"; }

# --- the suite -----------------------------------------------------------

phase "running test/run-tests.sh on port $port"
status=0
(
	export PATH="$bindir:$PATH" PG_CONFIG PGHOST="$sock" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
	cd "$work/tree" && test/run-tests.sh
) 2>&1 | tee "$last/tests.log" || status=1
cp "$work/tree/regression.diffs" "$last/" 2>/dev/null || true

# after a crash the server may still be recovering: let it finish first
for _ in $(seq 60); do
	"$bindir/pg_isready" -q -h "$sock" -p "$port" && break
	sleep 1
done
if ! as_pg "$bindir/pg_ctl -D $data stop -m fast" >/dev/null; then
	status=1
	say "the server did not shut down"
fi
cp "$data/server.log" "$last/"

if grep -q 'TRAP:\|terminated by signal' "$data/server.log"; then
	status=1
	echo "=== server crashes (server.log) ==="
	grep -n -A 12 'TRAP:' "$data/server.log" || true
	grep -n 'terminated by signal' "$data/server.log" || true
	n=0
	for core in "$data"/core*; do
		[ -f "$core" ] || continue
		n=$((n + 1))
		[ "$n" -le 3 ] || break
		echo "=== backtrace from $(basename "$core") ==="
		gdb -q -batch -ex 'bt' "$bindir/postgres" "$core" 2>&1 | grep '^#' | awk '!seen[$0]++' |
			tee -a "$last/backtraces.txt"
	done
	[ "$n" -gt 0 ] || echo "(no core file written)"
fi

# --- pg_upgrade from Debian 12's 15 to this server ------------------------

upgrade=""
if [ "$major" -gt 15 ] && [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
	phase "test/pg_upgrade.sh: from Debian 12's PostgreSQL 15 to $top"
	if UPGRADE_CACHE="$cache/pg_upgrade" "$tree/test/pg_upgrade.sh" "$PG_CONFIG"; then
		upgrade=", and pg_upgrade from 15"
	else
		status=1
		upgrade=", pg_upgrade from 15 FAILED"
	fi
fi

[ "$cron" = yes ] || say "SKIPPED: test/pgtap/cron.sql (no pg_cron for PostgreSQL $major)"
if [ "$status" -eq 0 ]; then
	say "passed on $top with assertions$upgrade ($((SECONDS - started)) s)"
else
	say "FAILED on $top with assertions$upgrade ($((SECONDS - started)) s); logs in $last"
fi
exit "$status"
