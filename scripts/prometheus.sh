#!/usr/bin/env bash
# scripts/prometheus.sh prints the absolute path of a directory that holds `prometheus` and
# `promtool` of github.com/prometheus/prometheus v0.316.0 (Prometheus 3.16.0) on stdout.
# All logging goes to stderr.
#
# Order of preference:
#   1. $PROMETHEUS_BIN_DIR if set (both binaries in it must be executable and report 3.16.0);
#   2. `prometheus` on PATH, with `promtool` beside it, if both report 3.16.0;
#   3. a cached build in ${GANTRY_CACHE:-$HOME/.cache/gantry}/prometheus-0.316.0/;
#   4. otherwise it builds both (CGO_ENABLED=0, static) from the Go module proxy into that
#      cache, once: concurrent callers wait on a lock and reuse the result.
#
# The cold build takes about 6 minutes on 2 cores, module downloads included: 357 s measured on
# an idle machine with empty module and build caches (1183 s at a load average of 11-17). It uses a throwaway module in a temp dir,
# like scripts/jaeger.sh, so that nothing of Prometheus's enters the repository's go.mod; v0.316.0
# has no replace or exclude directives to replicate (the awk below would copy them if a
# later version had some). The binaries are stamped through -ldflags on
# github.com/prometheus/common/version, as Prometheus's own promu build does, because `go build`
# of a dependency does not run its Makefile: `prometheus --version` reports 3.16.0, revision
# v0.316.0.
#
# Two differences from an official release, both deliberate:
#   - build tags remove_all_sd,enable_consul_sd: only the Consul service discovery (and the
#     always-present file, HTTP and static ones) is compiled in, which leaves out the Kubernetes,
#     AWS, Azure, GCE, ... clients and most of the build time. A config using another *_sd_configs
#     fails `promtool check config` with this build; an official binary on PATH has them all;
#   - no builtinassets tag: the web UI's assets are not embedded (its pages answer an error), while
#     the HTTP API (/api/v1/...) that the tests use is all there.
set -euo pipefail

VERSION=0.316.0 # the Go module version
RELEASE=3.16.0  # the Prometheus release of that module version (its VERSION file)
TAGS=remove_all_sd,enable_consul_sd
log() { printf 'prometheus.sh: %s\n' "$*" >&2; }

# version_ok DIR succeeds when DIR holds executable prometheus and promtool binaries that report
# the release above.
version_ok() {
	local b v
	for b in prometheus promtool; do
		[ -x "$1/$b" ] || return 1
		# Capture first: `... | grep -q` could die of SIGPIPE under pipefail.
		v=$("$1/$b" --version 2>&1 || true)
		[[ $v == *"version $RELEASE "* ]] || return 1
	done
}

absdir() { (cd "$1" && pwd); }

if [ -n "${PROMETHEUS_BIN_DIR:-}" ]; then
	if [ -d "$PROMETHEUS_BIN_DIR" ] && version_ok "$PROMETHEUS_BIN_DIR"; then
		absdir "$PROMETHEUS_BIN_DIR"
		exit 0
	fi
	log "ignoring PROMETHEUS_BIN_DIR=$PROMETHEUS_BIN_DIR: no executable prometheus and promtool $RELEASE in it"
fi

if command -v prometheus >/dev/null 2>&1; then
	d=$(absdir "$(dirname "$(command -v prometheus)")")
	if version_ok "$d"; then
		printf '%s\n' "$d"
		exit 0
	fi
	log "ignoring $d/prometheus: not prometheus $RELEASE with promtool $RELEASE beside it"
fi

cache=${GANTRY_CACHE:-$HOME/.cache/gantry}/prometheus-$VERSION
if [ -x "$cache/prometheus" ] && [ -x "$cache/promtool" ]; then
	absdir "$cache"
	exit 0
fi

mkdir -p "$cache"
cache=$(absdir "$cache")

exec 9>"$cache/.lock"
if ! flock -n 9; then
	log "another process is building prometheus; waiting for $cache/.lock"
	flock 9
fi
# Another caller may have finished the build while we waited.
if [ -x "$cache/prometheus" ] && [ -x "$cache/promtool" ]; then
	printf '%s\n' "$cache"
	exit 0
fi

command -v go >/dev/null 2>&1 || { log "go not found on PATH; cannot build prometheus v$VERSION"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/prometheus-build.XXXXXX")
trap 'rm -rf "$tmp" "$cache"/*.tmp.$$' EXIT
log "building prometheus and promtool v$VERSION from the Go module proxy in $tmp (takes up to 20 minutes on 2 cores, once)"

cd "$tmp"
# Checksum-database lookups are not always reachable from the build machines (scripts/consul.sh
# has the same problem); the module proxy's go.sum entries are all this throwaway module gets.
export GO111MODULE=on GOFLAGS=-mod=mod GOWORK=off GOSUMDB=off CGO_ENABLED=0
go mod init prometheusbuild >&2
go get -tool "github.com/prometheus/prometheus/cmd/prometheus@v$VERSION" \
	"github.com/prometheus/prometheus/cmd/promtool@v$VERSION" >&2

# Replicate prometheus' own replace and exclude directives (a dependency's are ignored outside
# its main module); v0.316.0 has none.
moddir=$(go list -m -f '{{.Dir}}' "github.com/prometheus/prometheus")
awk '
	/^replace \($/ { inblk=1; next }
	inblk && /^\)/ { inblk=0; next }
	inblk { sub(/\/\/.*/, ""); if (NF >= 4 && $2 == "=>") print "-replace=" $1 "=" $3 "@" $4; next }
	/^replace / { sub(/\/\/.*/, ""); if (NF >= 5 && $3 == "=>") print "-replace=" $2 "=" $4 "@" $5; next }
	/^exclude \($/ { inexc=1; next }
	inexc && /^\)/ { inexc=0; next }
	inexc { sub(/\/\/.*/, ""); if (NF >= 2) print "-exclude=" $1 "@" $2; next }
	/^exclude / { sub(/\/\/.*/, ""); if (NF >= 3) print "-exclude=" $2 "@" $3 }
' "$moddir/go.mod" | while read -r edit; do
	go mod edit "$edit"
done
go mod tidy >&2

pkg=github.com/prometheus/common/version
ldflags="-s -w -X $pkg.Version=$RELEASE -X $pkg.Revision=v$VERSION -X $pkg.Branch=module-proxy"
ldflags+=" -X $pkg.BuildUser=gantry-scripts-prometheus.sh -X $pkg.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
for b in prometheus promtool; do
	go build -trimpath -tags "$TAGS" -ldflags "$ldflags" \
		-o "$cache/$b.tmp.$$" "github.com/prometheus/prometheus/cmd/$b" >&2
	"$cache/$b.tmp.$$" --version >&2
done
# promtool first: callers that find prometheus in the cache find promtool beside it.
mv -f "$cache/promtool.tmp.$$" "$cache/promtool"
mv -f "$cache/prometheus.tmp.$$" "$cache/prometheus"
log "built $cache/prometheus and $cache/promtool"
printf '%s\n' "$cache"
