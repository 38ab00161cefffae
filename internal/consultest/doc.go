// Package consultest provides a real Consul agent for tests: Start runs
// `consul agent -dev` on loopback ports chosen by the test, with its own data
// directory, waits for it to elect itself leader and stops it when the test ends.
//
// The consul binary comes from $CONSUL_BIN, then PATH, then the cache that
// scripts/consul.sh builds into (${GANTRY_CACHE:-$HOME/.cache/gantry}/consul-1.21.0).
// Without one, tests skip with a loud message, except when CI=true, where they fail.
//
// This package is for tests only. Outside this module, use the re-export in
// github.com/gantry-go/gantry/discovery/consul/consultest.
package consultest
