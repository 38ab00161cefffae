#!/usr/bin/env bash
# scripts/postgres.sh makes sure PostgreSQL's server binaries (initdb, postgres) are
# installed, for the tests that start a real throwaway server themselves
# (examples/internal/pgtest): it installs Debian's postgresql package with apt-get when
# they are missing and the script runs as root, and says what to do otherwise. It
# prints the binaries' directory on stdout (what pgtest reads from PGTEST_BINDIR, and
# finds by itself under /usr/lib/postgresql).
#
# The package creates a default cluster and may start it as a service; this script
# leaves nothing running: a cluster that is online after its install is stopped and set
# to manual start. The tests never use that cluster: each runs its own initdb in a
# temporary directory.
set -euo pipefail
log() { printf 'postgres.sh: %s\n' "$*" >&2; }

bindir() {
	local d best="" bestv=0 v
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/postgres" ] || continue
		v=$(basename "$(dirname "$d")")
		if [ "$v" -gt "$bestv" ] 2>/dev/null; then best=$d bestv=$v; fi
	done
	[ -n "$best" ] && echo "$best"
}

if d=$(bindir); then
	echo "$d"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	log "no PostgreSQL server binaries under /usr/lib/postgresql and not root: install Debian's postgresql package (apt-get install postgresql) or set PGTEST_BINDIR"
	exit 1
fi
log "installing Debian's postgresql package (apt-get; about a minute once)"
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
apt-get update -qq >&2
apt-get install -y -qq postgresql >&2
log "installed in $(($(date +%s) - start))s"
# Stop what the package may have started, and keep it from starting at boot.
if command -v pg_lsclusters >/dev/null; then
	pg_lsclusters -h | while read -r ver cluster _port status _rest; do
		if [ "$status" = online ]; then
			log "stopping the package's default cluster $ver/$cluster"
			pg_ctlcluster "$ver" "$cluster" stop >&2 || true
		fi
		if [ -f "/etc/postgresql/$ver/$cluster/start.conf" ]; then
			echo manual >"/etc/postgresql/$ver/$cluster/start.conf"
		fi
	done
fi
bindir
