#!/usr/bin/env bash
# Runs every side-by-side benchmark in bench/ (Gantry beside its baselines in the same
# run) and prints benchstat tables with one column per implementation.
# Usage: scripts/bench.sh [regexp] [count]   e.g. scripts/bench.sh 'Breaker|RateLimit' 10
set -euo pipefail
cd "$(dirname "$0")/../bench"
pattern=${1:-.}
count=${2:-5}
out=${BENCH_OUT:-/tmp/gantry-bench.txt}
command -v benchstat >/dev/null || go install golang.org/x/perf/cmd/benchstat@latest
PATH="$PATH:$(go env GOPATH)/bin"
go test -run '^$' -bench "$pattern" -benchmem -count "$count" -timeout 60m ./... | tee "$out"
benchstat -col /impl "$out"
