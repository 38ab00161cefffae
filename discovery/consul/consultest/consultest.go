// Package consultest starts a real `consul agent -dev` on loopback for tests and
// benchmarks, including those in other modules (the bench and examples modules),
// which cannot import Gantry's internal packages. It is for tests only.
//
// See Start: the binary comes from $CONSUL_BIN, PATH or the scripts/consul.sh cache;
// without one the test skips loudly, or fails when CI=true.
package consultest

import (
	"testing"

	"github.com/gantry-go/gantry/internal/consultest"
)

// Agent is a running `consul agent -dev` on loopback ports chosen by the test. Its
// methods are safe for concurrent use.
type Agent = consultest.Agent

// Options adjusts the agent StartWith runs: extra -hcl snippets and the ACL token
// its clients use.
type Options = consultest.Options

// StartWith is Start with options.
func StartWith(tb testing.TB, o Options) *Agent {
	tb.Helper()
	return consultest.StartWith(tb, o)
}

// Start starts an agent, waits until it is leader and has synced its node, and stops
// it when tb ends. It skips tb when no consul binary is found (fails it when
// CI=true).
func Start(tb testing.TB) *Agent {
	tb.Helper()
	return consultest.Start(tb)
}

// Binary returns the path of a consul binary, skipping tb (or failing it when
// CI=true) when there is none.
func Binary(tb testing.TB) string {
	tb.Helper()
	return consultest.Binary(tb)
}
