#!/usr/bin/env bash
# scripts/jaeger.sh prints the absolute path of a Jaeger v2 all-in-one binary (the `jaeger`
# command of github.com/jaegertracing/jaeger v1.76.0, released as v2.13.0) on stdout.
# All logging goes to stderr.
#
# Order of preference:
#   1. $JAEGER_BIN if set (it must be executable and report the version below);
#   2. `jaeger` on PATH if `jaeger version` reports v2.13.0 (an official release) or v1.76.0 (a
#      build by this script);
#   3. a cached build in ${GANTRY_CACHE:-$HOME/.cache/gantry}/jaeger-1.76.0/jaeger;
#   4. otherwise it builds one (CGO_ENABLED=0, static) from the Go module proxy into that cache,
#      once: concurrent callers wait on a lock and reuse the result.
#
# The build takes about 7 minutes on 2 cores, module downloads included (412 s measured). It uses a
# throwaway module in a temp dir, like scripts/consul.sh, so that nothing of Jaeger's enters the
# repository's go.mod. The binary is stamped with the module version through -ldflags, because
# `go build` of a dependency does not run Jaeger's Makefile.
set -euo pipefail

VERSION=1.76.0
RELEASE=2.13.0 # the v2 tag released with v$VERSION
log() { printf 'jaeger.sh: %s\n' "$*" >&2; }

# version_ok PATH succeeds when PATH is a jaeger binary of the wanted version.
version_ok() {
	local v
	v=$("$1" version 2>/dev/null || true)
	[[ $v == *"\"gitVersion\":\"v$VERSION\""* || $v == *"\"gitVersion\":\"v$RELEASE\""* ]]
}

abs() { printf '%s\n' "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }

if [ -n "${JAEGER_BIN:-}" ]; then
	if [ -x "$JAEGER_BIN" ] && version_ok "$JAEGER_BIN"; then
		abs "$JAEGER_BIN"
		exit 0
	fi
	log "ignoring JAEGER_BIN=$JAEGER_BIN: not an executable jaeger v$RELEASE/v$VERSION"
fi

if command -v jaeger >/dev/null 2>&1; then
	p=$(command -v jaeger)
	if version_ok "$p"; then
		abs "$p"
		exit 0
	fi
	log "ignoring $p: not jaeger v$RELEASE/v$VERSION"
fi

cache=${GANTRY_CACHE:-$HOME/.cache/gantry}/jaeger-$VERSION
bin=$cache/jaeger
if [ -x "$bin" ]; then
	printf '%s\n' "$bin"
	exit 0
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
bin=$cache/jaeger

exec 9>"$cache/.lock"
if ! flock -n 9; then
	log "another process is building jaeger; waiting for $cache/.lock"
	flock 9
fi
# Another caller may have finished the build while we waited.
if [ -x "$bin" ]; then
	printf '%s\n' "$bin"
	exit 0
fi

command -v go >/dev/null 2>&1 || { log "go not found on PATH; cannot build jaeger v$VERSION"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jaeger-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building jaeger v$VERSION from the Go module proxy in $tmp (takes ~7 minutes on 2 cores, once)"

cd "$tmp"
export GO111MODULE=on GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
go mod init jaegerbuild >&2
go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@v$VERSION" >&2

# Replicate jaeger's own replace directives (a dependency's replaces are ignored outside its
# main module); v1.76.0 has one, for sarama.
moddir=$(go list -m -f '{{.Dir}}' "github.com/jaegertracing/jaeger")
awk '
	/^replace \($/ { inblk=1; next }
	inblk && /^\)/ { inblk=0; next }
	inblk { sub(/\/\/.*/, ""); if (NF >= 4 && $2 == "=>") print $1 "=" $3 "@" $4; next }
	/^replace / { sub(/\/\/.*/, ""); if (NF >= 5 && $3 == "=>") print $2 "=" $4 "@" $5 }
' "$moddir/go.mod" | while read -r rep; do
	go mod edit -replace="$rep"
done
go mod tidy >&2

pkg=github.com/jaegertracing/jaeger/internal/version
go build -trimpath -ldflags "-s -w -X $pkg.latestVersion=v$VERSION" \
	-o "$cache/jaeger.tmp.$$" github.com/jaegertracing/jaeger/cmd/jaeger >&2
"$cache/jaeger.tmp.$$" version >&2
mv -f "$cache/jaeger.tmp.$$" "$bin"
log "built $bin"
printf '%s\n' "$bin"
