#!/usr/bin/env bash
# Runs the side-by-side benchmarks in bench/ (Gantry beside its baselines in the same run)
# and prints benchstat tables with one column per implementation (-col /impl).
#
# Rounds are interleaved (every benchmark once per round, ROUNDS rounds) rather than
# -count N back to back, so that load drift on a shared machine hits every
# implementation alike.
#
# Usage: scripts/bench.sh [regexp] [rounds]    e.g. scripts/bench.sh 'Breaker|RateLimit' 10
# Env:   BENCHTIME (default 300ms), BENCH_OUT (default /tmp/gantry-bench.txt)
set -euo pipefail
cd "$(dirname "$0")/../bench"
pattern=${1:-.}
rounds=${2:-6}
out=${BENCH_OUT:-/tmp/gantry-bench.txt}
PATH="$PATH:$(go env GOPATH)/bin"
command -v benchstat >/dev/null || go install golang.org/x/perf/cmd/benchstat@latest
go test -c -o /tmp/gantry-bench.test . >/dev/null
: >"$out"
for i in $(seq "$rounds"); do
	echo "round $i/$rounds" >&2
	/tmp/gantry-bench.test -test.run '^$' -test.bench "$pattern" -test.benchmem \
		-test.benchtime "${BENCHTIME:-300ms}" -test.count 1 -test.timeout 30m >>"$out"
done
benchstat -col /impl "$out"
