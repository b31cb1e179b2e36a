#!/bin/bash
# Builds a PostgreSQL branch from a git mirror with assertions, and runs
# test/cassert.sh (the suite, then test/pg_upgrade.sh from Debian 12's 15)
# against it: how 16 and 19, which no target builds, are checked by hand
# (README, Versions).
#
#   test/from-source.sh GIT_DIR BRANCH PREFIX
#   e.g. test/from-source.sh /path/to/postgresql.git REL_16_STABLE /opt/pg16
#
# The source is exported (git archive) to $PREFIX.src, configured with
# --enable-cassert --enable-debug (CFLAGS -O1), built with make -j2 and
# installed into PREFIX with the contrib modules the tests use; a second
# run with the same PREFIX reuses it.  All of it stays outside the
# repository.  pgTAP is built from Debian's pgtap source package by
# test/cassert.sh, whose cache is FROM_SOURCE_CACHE (default
# /var/cache/ri_policy-from-source).  Needs root, as test/cassert.sh does.
set -euo pipefail
unset MAKELEVEL MAKEFLAGS MFLAGS

[ $# -eq 3 ] || { echo "usage: $0 GIT_DIR BRANCH PREFIX" >&2; exit 2; }
git_dir=$1 branch=$2 prefix=$3
tree=$(cd "$(dirname "$0")/.." && pwd)
contrib="dblink citext hstore pageinspect pg_stat_statements file_fdw pg_buffercache"
commit=$(git --git-dir="$git_dir" rev-parse "$branch")

if [ "$(cat "$prefix/.from-source" 2>/dev/null)" != "$commit" ]; then
	echo "from-source: building $branch ($commit) into $prefix"
	rm -rf "$prefix.src" "$prefix"
	mkdir -p "$prefix.src"
	git --git-dir="$git_dir" archive "$commit" | tar -x -C "$prefix.src"
	(
		cd "$prefix.src" &&
			nice -n 10 ./configure --prefix="$prefix" --enable-cassert --enable-debug CFLAGS=-O1 &&
			nice -n 10 make -s -j2 &&
			for m in $contrib; do nice -n 10 make -s -C "contrib/$m" -j2 || exit 1; done &&
			make -s install &&
			for m in $contrib; do make -s -C "contrib/$m" install || exit 1; done
	) >"$prefix.build.log" 2>&1 || { tail -n 40 "$prefix.build.log"; exit 1; }
	echo "$commit" >"$prefix/.from-source"
fi

CASSERT_PG_CONFIG="$prefix/bin/pg_config" \
	CASSERT_CACHE=${FROM_SOURCE_CACHE:-/var/cache/ri_policy-from-source} \
	exec "$tree/test/cassert.sh"
