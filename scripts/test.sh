#!/usr/bin/env bash
# The whole test suite: `make test` runs this, and so does CI (.ci/run).
# It obtains what the tests need itself: consul, jaeger and prometheus binaries (built once
# from the Go module proxy and cached outside the repo when none is on PATH), Debian's chromium and
# postgresql packages (installed with apt-get when missing) and locally built Docker images.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start ))s)"; }

step "gofmt"
bad=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$bad" ]; then echo "gofmt would change: $bad"; exit 1; fi

step "consul binary"
CONSUL_BIN=$(bash scripts/consul.sh)
export CONSUL_BIN
echo "using $CONSUL_BIN"

step "chromium (the dashboard's browser test)"
bash scripts/chromium.sh

step "library: vet and test (race detector on)"
go vet ./...
# The real-Consul tests bound how fast an agent notices a failing check, and the mTLS
# rotation test drives 200 requests/s of handshakes for 30 s: run those two packages one at a
# time, after the rest, so that neither starves the other of the machine's cores.
heavy='/discovery/consul|/transport/identity'
go test -race -count=1 -timeout 15m $(go list ./... | grep -Ev "$heavy")
go test -race -count=1 -p 1 -timeout 15m $(go list ./... | grep -E "$heavy")

step "bench module: vet, and every benchmark once (they must compile and run)"
(cd bench && go vet ./... && go test -count=1 -run '^$' -bench . -benchtime 1x -timeout 10m ./...)

step "jaeger binary (for the examples' tests against a real Jaeger)"
JAEGER_BIN=$(bash scripts/jaeger.sh)
export JAEGER_BIN
echo "using $JAEGER_BIN"

step "postgresql server binaries (for the examples' tests against a real PostgreSQL)"
PGTEST_BINDIR=$(bash scripts/postgres.sh)
export PGTEST_BINDIR
echo "using $PGTEST_BINDIR"

step "prometheus and promtool (for the examples' tests against a real Prometheus)"
PROMETHEUS_BIN_DIR=$(bash scripts/prometheus.sh)
export PROMETHEUS_BIN_DIR
echo "using $PROMETHEUS_BIN_DIR"

step "examples module: vet and test"
(cd examples && go vet ./... && go test -count=1 -timeout 15m ./...)

step "capacity harness, short mode (one rate, 3 s: proves it runs; the figure is not judged)"
CAPACITY_RATES=10 CAPACITY_STEP=3s bash scripts/capacity.sh

step "docker compose end to end"
bash scripts/e2e-compose.sh

step "all tests passed"
