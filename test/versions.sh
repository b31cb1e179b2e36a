#!/bin/bash
# Runs the whole suite (test/run-tests.sh) against Debian's own packages of
# each PostgreSQL major in VERSIONS (default "17 18 19"); make test-versions
# runs it.
#
# Each major gets a minimal Debian root, made with debootstrap from the suite
# that packages it: 15 from bookworm, 17 from trixie, 18 from forky, 19 from
# sid with experimental (where 19's release candidates are).  Into it go the
# packages test/install-deps.sh installs for make test, for that major
# (postgresql-NN, postgresql-server-dev-NN, make, gcc, pg_prove, ...):
# pgTAP and pg_cron as Debian's postgresql-NN-pgtap and postgresql-NN-cron
# where the suite has them; else pgTAP built from Debian's pgtap source
# package, and no pg_cron (test/pgtap/cron.sql is then skipped, and the run
# says so).  Each
# root is kept as a tarball in VERSIONS_CACHE (default
# /var/cache/ri_policy-versions), made again only when this script's recipe
# for it changes or VERSIONS_REFRESH=1 is set: a second run only unpacks it.
#
# For each major, a fresh copy of the root gets /proc and a /dev of its own
# (a few device nodes bound from the host, and a /dev/shm) mounted, and a
# copy of the worktree; ri_policy is built there (any compiler warning fails
# that major), a throwaway cluster is started in it as user postgres, and
# the suite runs in it (chroot).  A "TRAP:" or "terminated by signal" in the
# server's log fails the major too.  Everything is unmounted and removed on
# exit, however the script ends; the logs of the last run of each major stay
# in $VERSIONS_CACHE/last-run/NN.  Prints one line per major and a closing
# "N passed, N failed" over all of them.  Needs root.
#
# Settings (environment): VERSIONS, VERSIONS_CACHE, VERSIONS_REFRESH,
# VERSIONS_MIRROR (default: the Debian mirror this machine's apt uses),
# VERSIONS_JOBS (make -j, default 2).
set -euo pipefail
# the extension's build runs make again, inside the root
unset MAKELEVEL MAKEFLAGS MFLAGS

tree=$(cd "$(dirname "$0")/.." && pwd)
cache=${VERSIONS_CACHE:-/var/cache/ri_policy-versions}
versions=${VERSIONS:-17 18 19}
jobs=${VERSIONS_JOBS:-2}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
nice="nice -n 10"
started=$SECONDS

say() { echo "versions: $*"; }
die() { echo "versions: $*" >&2; exit 1; }
phase() { say "$1 ($((SECONDS - started)) s)"; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mount)"

# The Debian suites that package a major: the root's own suite, then the
# suite its PostgreSQL comes from if that is another one.
suites_of() {
	case $1 in
		15) echo bookworm ;;
		17) echo trixie ;;
		18) echo forky ;;
		19) echo sid experimental ;;
		*) return 1 ;;
	esac
}
for v in $versions; do
	suites_of "$v" >/dev/null || die "no Debian suite packages PostgreSQL $v (known: 15 17 18 19)"
done

# --- what this needs on the host (Debian 12) -------------------------------

missing=""
for p in debootstrap zstd; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing$missing"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

mirror=${VERSIONS_MIRROR:-$(apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(REPO_URI)' 2>/dev/null |
	awk -F'|' '$1 == "Debian" && $2 == "Debian" { print $3; exit }')}
[ -n "$mirror" ] ||
	mirror=$(apt-get indextargets --format '$(RELEASE)|$(REPO_URI)' 2>/dev/null |
		awk -F'|' '$1 !~ /-/ && $2 ~ /\/debian\/?$/ { print $2; exit }')

mkdir -p "$cache/logs" "$cache/last-run" "$cache/run"
exec 9>"$cache/lock"
flock 9 || die "cannot lock $cache/lock"

# --- mounts ------------------------------------------------------------------
#
# The root sees /proc and a /dev of its own: a tmpfs with the few device
# nodes that package scripts and PostgreSQL use, bound from the host, and a
# shm directory for PostgreSQL's dynamic shared memory.  The host's /dev is
# never bound whole, so nothing below it can be reached or removed.

mount_root() {
	local r=$1 n
	mount -t proc proc "$r/proc"
	mount -t tmpfs -o mode=755,nosuid ri_policy-dev "$r/dev"
	for n in null zero full random urandom tty; do
		touch "$r/dev/$n"
		mount --bind "/dev/$n" "$r/dev/$n"
	done
	mkdir -m 1777 "$r/dev/shm"
	mkdir "$r/dev/pts"
	ln -s /proc/self/fd "$r/dev/fd"
	ln -s /proc/self/fd/0 "$r/dev/stdin"
	ln -s /proc/self/fd/1 "$r/dev/stdout"
	ln -s /proc/self/fd/2 "$r/dev/stderr"
}

# mounts_below DIR: the mount points at or below DIR, deepest first
mounts_below() {
	awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

# unmount_root DIR: unmounts everything below DIR; fails if anything stays
unmount_root() {
	local m
	for m in $(mounts_below "$1"); do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	[ -z "$(mounts_below "$1")" ]
}

# kill_root_processes DIR: ends what still runs chrooted in DIR (a server
# that a test started and an interrupted run left behind)
kill_root_processes() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$1" ] && kill -KILL "${p#/proc/}" 2>/dev/null
	done
	return 0
}

# remove_root DIR: removes a root, never while anything is mounted below it
remove_root() {
	[ -e "$1" ] || return 0
	kill_root_processes "$1"
	unmount_root "$1" || die "cannot unmount everything below $1; not removing it"
	rm -rf "$1"
}

in_root() {	# in_root DIR COMMAND...: runs a command as root in the root
	local r=$1
	shift
	chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# what is mounted or running now, for the exit trap
current_root=""
current_data=""
current_bindir=""
cleanup() {
	if [ -n "$current_root" ]; then
		if [ -n "$current_data" ] && [ -f "$current_root$current_data/postmaster.pid" ]; then
			chroot --userspec=postgres:postgres "$current_root" \
				"$current_bindir/pg_ctl" -D "$current_data" stop -m immediate >/dev/null 2>&1 || true
		fi
		remove_root "$current_root" || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the roots -----------------------------------------------------------------

# packages_for MAJOR: what test/install-deps.sh installs for make test (on
# PostgreSQL 15), for that major instead; but not Django and ActiveRecord:
# the framework test is about Debian 12's versions of them (it skips
# itself where they are missing)
packages_for() {
	sed -n '/^pkgs="/,/"$/p' "$tree/test/install-deps.sh" | sed 's/^pkgs=//' | tr -d '"\\' |
		tr -s ' \t' '\n\n' | sed "s/^postgresql-15/postgresql-$1/; s/^postgresql-server-dev-15$/postgresql-server-dev-$1/" |
		grep -v '^python3-django$\|^ruby-activerecord$\|^ruby-pg$' | grep . | tr '\n' ' '
}

# setup_root DIR MAJOR PACKAGES BASE [EXTRA]: installs PACKAGES into a
# fresh debootstrap root (mounted), and records what it got in
# /etc/ri_policy-root.  Everything comes from the root's own suites,
# through its own apt; PostgreSQL's own packages from EXTRA where it is
# given.  Its postgresql-NN-* packages (pgTAP, pg_cron) may be missing:
# pgTAP is then built from Debian's source package, and pg_cron left out.
# (Called in a condition, where set -e does not hold: every step says when
# it fails.)
setup_root() {
	local r=$1 v=$2 base=$4 extra=${5:-} target="" p pgtap cron tools="" server="" optional=""
	for p in $3; do
		case $p in
			"postgresql-$v" | "postgresql-server-dev-$v") server="$server $p" ;;
			"postgresql-$v-"*) optional="$optional $p" ;;
			*) tools="$tools $p" ;;
		esac
	done
	# no service starts, no "main" cluster: the tests make their own
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d" &&
		chmod 755 "$r/usr/sbin/policy-rc.d" &&
		mkdir -p "$r/etc/postgresql-common/createcluster.d" &&
		echo "create_main_cluster = false" >"$r/etc/postgresql-common/createcluster.d/ri_policy.conf" ||
		return 1
	# documentation is not needed; Valid-Until is not checked because
	# mirrors of sid and experimental may be snapshots (the signatures are)
	printf 'path-exclude=/usr/share/%s/*\n' doc man info locale >"$r/etc/dpkg/dpkg.cfg.d/ri_policy" &&
		printf '%s\n' 'APT::Install-Recommends "false";' 'Acquire::Check-Valid-Until "false";' \
			>"$r/etc/apt/apt.conf.d/90ri_policy" || return 1
	{
		echo "deb $mirror $base main"
		echo "deb-src $mirror $base main"
		[ -z "$extra" ] || echo "deb $mirror $extra main"
	} >"$r/etc/apt/sources.list" || return 1
	[ -z "$extra" ] || target="-t $extra"

	in_root "$r" apt-get -q update || return 1
	# the tools first, from the root's own suite (19's packages in
	# experimental need perl and postgresql-common from sid to resolve)
	in_root "$r" apt-get -q -y install perl postgresql-common $tools || return 1
	in_root "$r" apt-get -q -y install $target $server || return 1

	pgtap="none" cron="none"
	for p in $optional; do
		if in_root "$r" apt-cache show "$p" >/dev/null 2>&1 &&
			in_root "$r" apt-get -q -y install $target "$p"; then
			case $p in
				*-pgtap) pgtap="$p $(in_root "$r" dpkg-query -W -f='${Version}' "$p")" ;;
				*-cron) cron="$p $(in_root "$r" dpkg-query -W -f='${Version}' "$p")" ;;
			esac
		else
			case $p in
				*-pgtap) pgtap="none ($p is not in $base${extra:+ or $extra})" ;;
				*-cron) cron="none ($p is not in $base${extra:+ or $extra})" ;;
			esac
		fi
	done
	if [[ $pgtap == none* ]]; then
		# pgTAP from Debian's pgtap source package, built against this major
		in_root "$r" apt-get -q -y install bzip2 xz-utils patch &&
			mkdir -p "$r/usr/src/pgtap" &&
			cat >"$r/usr/src/pgtap/build.sh" <<-'EOF' &&
				#!/bin/sh
				# only the upstream tarball (the archive may not serve the
				# rest), checked against the hash of the signed index
				set -eu
				cd /usr/src/pgtap
				chown _apt .
				apt-get -q --print-uris source pgtap | grep '_[^ ]*\.orig\.tar\.' | head -n 1 | {
					read -r uri name _ hash
					/usr/lib/apt/apt-helper download-file "$(echo "$uri" | tr -d "'")" "$name" "$hash"
				}
				tar -xf pgtap_*.orig.tar.*
				cd "$(find . -mindepth 1 -maxdepth 1 -type d | head -n 1)"
				make PG_CONFIG="$1"
				make PG_CONFIG="$1" install
			EOF
			in_root "$r" sh /usr/src/pgtap/build.sh "/usr/lib/postgresql/$v/bin/pg_config" || return 1
		pgtap="$(cd "$r/usr/src/pgtap" && ls pgtap_*.orig.tar.*) ${pgtap#none }"
		rm -rf "$r/usr/src/pgtap"
	fi
	in_root "$r" apt-get -q clean && rm -rf "$r"/var/lib/apt/lists/* || return 1
	cat >"$r/etc/ri_policy-root" <<-EOF
		major=$v
		suites="$base${extra:+ $extra}"
		postgresql="$(in_root "$r" dpkg-query -W -f='${Version}' "postgresql-$v")"
		pgtap="$pgtap"
		cron="$cron"
	EOF
}

# make_root MAJOR: the root's tarball, made again when its recipe changed
make_root() {
	local v=$1 tarball="$cache/root-$1.tar.zst" dir="$cache/run/build-$1" recipe log packages
	local -a suites
	read -ra suites <<<"$(suites_of "$v")"
	packages=$(packages_for "$v")
	recipe="$(suites_of "$v") $mirror $packages$(declare -f setup_root mount_root | sha256sum | cut -c1-16)"
	if [ -f "$tarball" ] && [ "${VERSIONS_REFRESH:-0}" != 1 ] &&
		[ "$(cat "$tarball.recipe" 2>/dev/null)" = "$recipe" ]; then
		return 0
	fi
	[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt; set VERSIONS_MIRROR"
	phase "making the root for PostgreSQL $v (debootstrap ${suites[0]}${suites[1]:+, then ${suites[1]}})"
	log="$cache/logs/root-$v.log"
	remove_root "$dir"
	current_root=$dir
	# Debian 12's debootstrap knows no suite after trixie by name: every
	# suite since bookworm is made the way sid is
	if ! $nice debootstrap --variant=minbase --keyring="$keyring" "${suites[0]}" "$dir" "$mirror" \
		/usr/share/debootstrap/scripts/sid >"$log" 2>&1; then
		tail -n 20 "$log"
		say "debootstrap of ${suites[0]} failed; see $log"
		remove_root "$dir"
		current_root=""
		return 1
	fi
	mount_root "$dir"
	if ! setup_root "$dir" "$v" "$packages" "${suites[@]}" >>"$log" 2>&1; then
		tail -n 20 "$log"
		say "installing PostgreSQL $v into the root failed; see $log"
		remove_root "$dir"
		current_root=""
		return 1
	fi
	unmount_root "$dir" || die "cannot unmount everything below $dir"
	tar -C "$dir" --numeric-owner -I 'zstd -q -T0 -3' -cf "$tarball.tmp" . &&
		mv "$tarball.tmp" "$tarball" &&
		echo "$recipe" >"$tarball.recipe" || die "cannot write $tarball"
	remove_root "$dir"
	current_root=""
	phase "made $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
}

# --- one major ---------------------------------------------------------------

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# run_major MAJOR: runs the suite in a fresh copy of the major's root;
# sets result (the summary line) and passed/failed
run_major() {
	local v=$1 r="$cache/run/$1" last="$cache/last-run/$1" info port status=0
	local bindir="/usr/lib/postgresql/$1/bin" data=/var/tmp/ri_policy-data sock=/run/ri_policy
	local postgresql="" pgtap="" cron="" suites=""
	passed=0 failed=0 skipped=""
	rm -rf "$last" && mkdir -p "$last"
	if ! make_root "$v"; then
		failed=1
		result="PostgreSQL $v: the root could not be made (see $cache/logs/root-$v.log)"
		return
	fi
	remove_root "$r"
	mkdir -p "$r"
	current_root=$r
	current_bindir=$bindir
	tar -C "$r" -I zstd -xf "$cache/root-$v.tar.zst"
	mount_root "$r"
	info=$(cat "$r/etc/ri_policy-root")
	eval "$info"
	echo "$info" >"$last/root.txt"
	phase "PostgreSQL $postgresql (Debian ${suites// / + }): building ri_policy"

	mkdir -p "$r/build/ri_policy"
	tar -C "$tree" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./results --exclude='./regression.*' --exclude=./log --exclude=./tmp_check \
		-cf - . | tar -C "$r/build/ri_policy" -xf -
	if [[ $cron == none* ]]; then
		rm -f "$r/build/ri_policy/test/pgtap/cron.sql"
		skipped="test/pgtap/cron.sql: no pg_cron, as $(echo "${cron#none (}" | tr -d ')')"
	fi

	if ! in_root "$r" $nice sh -c "cd /build/ri_policy &&
			make -j$jobs PG_CONFIG=$bindir/pg_config && make PG_CONFIG=$bindir/pg_config install" \
		>"$last/build.log" 2>&1; then
		cat "$last/build.log"
		failed=1
		result="PostgreSQL $postgresql (Debian ${suites// / + }): the build failed"
		return
	fi
	if grep -i 'warning' "$last/build.log"; then
		failed=1
		result="PostgreSQL $postgresql (Debian ${suites// / + }): the build gave warnings"
		return
	fi

	port=26432	# below the ephemeral range (32768-60999), where a client socket can hold it
	while ! port_free "$port"; do port=$((port + 1)); done
	mkdir -p "$r$data" "$r$sock"
	chroot "$r" chown postgres:postgres "$data" "$sock"
	current_data=$data
	if ! chroot --userspec=postgres:postgres "$r" /usr/bin/env -i LANG=C.UTF-8 \
		"$bindir/initdb" -D "$data" -A trust -U postgres -N >"$last/initdb.log" 2>&1; then
		cat "$last/initdb.log"
		failed=1
		result="PostgreSQL $postgresql (Debian ${suites// / + }): initdb failed"
		return
	fi
	{
		echo "port = $port"
		echo "listen_addresses = 'localhost'"
		echo "unix_socket_directories = '$sock'"
		echo "max_worker_processes = 16"
		echo "fsync = off"
		echo "log_line_prefix = '%m [%p] '"
		# pg_stat_statements (in Debian's server package) for advise()'s
		# RI cost figures
		if [[ $cron != none* ]]; then
			echo "shared_preload_libraries = 'pg_cron,pg_stat_statements'"
			echo "cron.database_name = 'postgres'"
		else
			echo "shared_preload_libraries = 'pg_stat_statements'"
		fi
		echo "pg_stat_statements.track = all"
	} >>"$r$data/postgresql.conf"
	if ! chroot --userspec=postgres:postgres "$r" /usr/bin/env -i LANG=C.UTF-8 \
		"$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w start >/dev/null; then
		cat "$r$data/server.log"
		failed=1
		result="PostgreSQL $postgresql (Debian ${suites// / + }): the server did not start"
		return
	fi

	phase "PostgreSQL $postgresql: running test/run-tests.sh on port $port"
	in_root "$r" PATH="$bindir:/usr/sbin:/usr/bin:/sbin:/bin" PG_CONFIG="$bindir/pg_config" \
		PGHOST="$sock" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres \
		sh -c 'cd /build/ri_policy && test/run-tests.sh' 2>&1 | tee "$last/tests.log" || status=1
	cp "$r/build/ri_policy/regression.diffs" "$last/" 2>/dev/null || true

	# after a crash the server may still be recovering: let it finish first
	for _ in $(seq 60); do
		in_root "$r" "$bindir/pg_isready" -q -h "$sock" -p "$port" && break
		sleep 1
	done
	if ! chroot --userspec=postgres:postgres "$r" "$bindir/pg_ctl" -D "$data" stop -m fast >/dev/null; then
		status=1
		say "the server did not shut down"
	fi
	current_data=""
	cp "$r$data/server.log" "$last/"
	if grep -q 'TRAP:\|terminated by signal' "$last/server.log"; then
		status=1
		echo "=== server crashes ($last/server.log) ==="
		grep -n -A 12 'TRAP:' "$last/server.log" || true
		grep -n 'terminated by signal' "$last/server.log" || true
	fi

	if [[ $(tail -n 1 "$last/tests.log") =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]}
	fi
	[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
	result="PostgreSQL $postgresql (Debian ${suites// / + }, pgTAP ${pgtap%% (*}, pg_cron ${cron%% (*}): $passed passed, $failed failed"
	remove_root "$r"
	current_root=""
}

# --- every major ---------------------------------------------------------------

summary=()
total_passed=0
total_failed=0
for v in $versions; do
	run_major "$v"
	summary+=("$result")
	[ -z "$skipped" ] || summary+=("  skipped on $v: $skipped")
	total_passed=$((total_passed + passed))
	total_failed=$((total_failed + failed))
	if [ -n "$current_root" ]; then
		remove_root "$current_root"
		current_root=""
	fi
done

echo "=== PostgreSQL versions ($((SECONDS - started)) s) ==="
printf '%s\n' "${summary[@]}"
echo "versions: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
