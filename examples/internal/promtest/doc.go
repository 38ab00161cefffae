// Package promtest starts a real Prometheus on loopback for tests (a configuration and rule
// files the test gives, a throwaway storage directory, a free port), reads it back through
// its HTTP API (/api/v1/query, /api/v1/targets, /api/v1/alerts) as a user's dashboard or
// alert manager would, and runs promtool.
//
// The binaries come from $PROMETHEUS_BIN_DIR, `prometheus` and `promtool` on PATH, or the
// cache of scripts/prometheus.sh; without them the test skips loudly. With CI=true,
// $PROMETHEUS_BIN_DIR must be set, or the test fails. It is for tests only.
package promtest
