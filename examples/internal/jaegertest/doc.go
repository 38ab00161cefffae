// Package jaegertest starts a real Jaeger v2 all-in-one on loopback for tests (in-memory
// storage, an OTLP HTTP receiver and the query API, each on a port the test chose, from a
// configuration file the test writes), and reads traces back through Jaeger's query API as a
// user's UI would.
//
// The binary comes from $JAEGER_BIN, `jaeger` on PATH, or the cache of scripts/jaeger.sh;
// without one the test skips loudly, or fails when CI=true. It is for tests only.
package jaegertest
