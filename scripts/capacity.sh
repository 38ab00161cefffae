#!/usr/bin/env bash
# scripts/capacity.sh: the one-process shop's capacity, in checkout flows per second that it
# sustains with >= 99.9% of the flows ok and a p99 <= 100 ms (latency from each flow's
# intended start, open loop: examples/cmd/loadgen -rates).
#
#   bash scripts/capacity.sh                          # the default ramp, 15 s a rate
#   CAPACITY_RATES=20,40,60 CAPACITY_STEP=10s bash scripts/capacity.sh
#   OVERLOAD=80 bash scripts/capacity.sh             # goodput at 0.5x to 8x a capacity of 80/s
#
# It builds examples/cmd/shop and examples/cmd/loadgen, starts the shop on SQLite in a
# temporary directory, on random loopback ports, with -restock (so the ramp measures capacity,
# not stock) and the per-client rate limit out of the way (-client-rate), logs in as alice with
# the token the shop prints, and runs the ramp against its gateway: one line per rate and the
# capacity. The shop and the load generator share the machine's cores, as they would on a
# developer's laptop; SHOP_CPUS and LOADGEN_CPUS (taskset lists, e.g. 0 and 1) pin them apart.
#
# CPUPROFILE=file also writes a CPU profile of the shop over the whole ramp (all four services
# are in the one process: cmd/shop -cpuprofile); profile the best run with CAPACITY_RATES=<it>.
#
# scripts/test.sh runs it once in a short mode (one rate, 3 s) to prove that it works; it does
# not judge the figure. The compose shop's capacity, on PostgreSQL with two replicas each and
# with one, is measured by the compose end-to-end test (E2E_CAPACITY_RATES, docs/containers.md).
# Loopback only; everything it starts it stops, by pid.
set -euo pipefail
cd "$(dirname "$0")/../examples"
rates=${CAPACITY_RATES:-20,40,60,80,100,120,160,200}
# OVERLOAD=<capacity in flows/s>: instead of the ramp, offer 0.5x, 1x, 2x, 4x and 8x that
# capacity, and read the goodput column: a shop that sheds keeps it near its capacity, one that
# collapses lets it fall as the offered load rises.
if [ -n "${OVERLOAD:-}" ]; then
	case $OVERLOAD in '' | *[!0-9]*) echo "capacity: OVERLOAD=$OVERLOAD is not a whole number of flows/s" >&2; exit 2 ;; esac
	rates="$((OVERLOAD / 2)),$OVERLOAD,$((OVERLOAD * 2)),$((OVERLOAD * 4)),$((OVERLOAD * 8))"
fi
step=${CAPACITY_STEP:-15s}
log() { printf 'capacity: %s\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gantry-capacity.XXXXXX")
shop_pid=""
cleanup() {
	if [ -n "$shop_pid" ]; then
		kill "$shop_pid" 2>/dev/null || true
		wait "$shop_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$tmp/shop" ./cmd/shop
go build -o "$tmp/loadgen" ./cmd/loadgen

profile=()
[ -z "${CPUPROFILE:-}" ] || profile=(-cpuprofile "$CPUPROFILE")
shop=("$tmp/shop" -random-ports -restock -client-rate 1000000 -data "$tmp/data" "${profile[@]}")
# Started directly in the background (taskset execs it), so $! is the shop's own pid.
if [ -n "${SHOP_CPUS:-}" ]; then
	taskset -c "$SHOP_CPUS" "${shop[@]}" >"$tmp/shop.out" 2>"$tmp/shop.err" &
else
	"${shop[@]}" >"$tmp/shop.out" 2>"$tmp/shop.err" &
fi
shop_pid=$!
for _ in $(seq 100); do
	grep -q 'export TOKEN=' "$tmp/shop.out" 2>/dev/null && break
	kill -0 "$shop_pid" 2>/dev/null || { cat "$tmp/shop.err" >&2; log "the shop exited"; exit 1; }
	sleep 0.1
done
gateway=$(awk '$1 == "gateway" { print $2; exit }' "$tmp/shop.out")
admin=$(awk '$1 == "gateway" { gsub(/[()]/, "", $4); print $4; exit }' "$tmp/shop.out")
token=$(sed -n 's/^ *export TOKEN=//p' "$tmp/shop.out")
[ -n "$gateway" ] && [ -n "$token" ] || { cat "$tmp/shop.out" >&2; log "no gateway URL or token in the shop's output"; exit 1; }
log "shop (pid $shop_pid) gateway $gateway, admin $admin, SQLite in $tmp/data; ramp $rates, $step each"

loadgen=("$tmp/loadgen")
[ -z "${LOADGEN_CPUS:-}" ] || loadgen=(taskset -c "$LOADGEN_CPUS" "$tmp/loadgen")
"${loadgen[@]}" -target "$gateway" -token "$token" -rates "$rates" -duration "$step" \
	-concurrency 2048 -timeout 10s
kill -TERM "$shop_pid"
wait "$shop_pid" || true
shop_pid=""
[ -z "${CPUPROFILE:-}" ] || log "CPU profile of the shop over the ramp in $CPUPROFILE (go tool pprof -top $CPUPROFILE)"
