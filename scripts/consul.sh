#!/usr/bin/env bash
# scripts/consul.sh prints the absolute path of a consul v1.21.x binary on stdout.
# All logging goes to stderr.
#
# Order of preference:
#   1. `consul` on PATH if `consul version` reports v1.21.x;
#   2. a cached build in ${GANTRY_CACHE:-$HOME/.cache/gantry}/consul-1.21.0/consul;
#   3. otherwise it builds one (CGO_ENABLED=0, static) from the Go module proxy into that cache,
#      once: concurrent callers wait on a lock and reuse the result.
#
# The build takes ~5 minutes on 2 cores. It uses a throwaway module in a temp dir, because
# consul's go.mod has replace directives that `go install pkg@version` refuses. Checksum-database
# lookups fail for a few of consul's dependencies, so this one build runs with GOSUMDB=off.
set -euo pipefail

VERSION=1.21.0
log() { printf 'consul.sh: %s\n' "$*" >&2; }

if command -v consul >/dev/null 2>&1; then
	p=$(command -v consul)
	# Capture first: `consul version | head -n1` would die of SIGPIPE under pipefail.
	v=$("$p" version 2>/dev/null || true)
	v=${v%%$'\n'*}
	if [[ $v =~ ^Consul\ v1\.21\. ]]; then
		# Absolute path (command -v may return a relative one if PATH has one).
		printf '%s\n' "$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
		exit 0
	fi
	log "ignoring $p: ${v:-unknown version}, want v1.21.x"
fi

cache=${GANTRY_CACHE:-$HOME/.cache/gantry}/consul-$VERSION
bin=$cache/consul
if [ -x "$bin" ]; then
	printf '%s\n' "$bin"
	exit 0
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
bin=$cache/consul

exec 9>"$cache/.lock"
if ! flock -n 9; then
	log "another process is building consul; waiting for $cache/.lock"
	flock 9
fi
# Another caller may have finished the build while we waited.
if [ -x "$bin" ]; then
	printf '%s\n' "$bin"
	exit 0
fi

command -v go >/dev/null 2>&1 || { log "go not found on PATH; cannot build consul v$VERSION"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/consul-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "building consul v$VERSION from the Go module proxy in $tmp (takes ~5 minutes on 2 cores)"

cd "$tmp"
export GO111MODULE=on GOFLAGS=-mod=mod GOWORK=off GOSUMDB=off CGO_ENABLED=0
go mod init consulbuild >&2
go get "github.com/hashicorp/consul@v$VERSION" >&2

# Replicate consul's own exclude directives (dependency excludes are ignored outside the main
# module). Its replace directives point at ./api, ./sdk, ... which are separate modules not shipped
# in the module zip, so the versions consul's go.mod requires are used instead.
moddir=$(go list -m -f '{{.Dir}}' "github.com/hashicorp/consul")
awk '
	/^exclude \($/ { inblk=1; next }
	inblk && /^\)/ { inblk=0; next }
	inblk { sub(/\/\/.*/, ""); if (NF >= 2) print $1 "@" $2; next }
	/^exclude / { sub(/\/\/.*/, ""); print $2 "@" $3 }
' "$moddir/go.mod" | while read -r ex; do
	go mod edit -exclude="$ex"
done

go build -trimpath -ldflags '-s -w' -o "$cache/consul.tmp.$$" github.com/hashicorp/consul >&2
"$cache/consul.tmp.$$" version >&2
mv -f "$cache/consul.tmp.$$" "$bin"
log "built $bin"
printf '%s\n' "$bin"
