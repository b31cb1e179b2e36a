#!/bin/sh
# Installs what building, testing and the demo need on Debian 12, skipping
# what is already there.  Needs root (apt-get) only when something is missing.
set -eu

pkgs="gcc libc6-dev make postgresql-15 postgresql-server-dev-15 \
postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron \
python3-psycopg2"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root, or install them with apt-get" >&2
	exit 1
fi

echo "install-deps: installing$missing"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
