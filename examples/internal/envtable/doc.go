// Package envtable generates the variable tables of the shipped example services
// (docs/examples-config.md) and the "read by" index of the library's variables (the
// second generated block of docs/config.md) from the source: the `type Config struct`
// of each service's main.go, followed through every nested settings struct of the
// examples and of the library, and the defaults map each main.go passes to
// platform.Environ.
//
// It reads the source rather than the types because the services are package main
// and cannot be imported; each service's own test calls [CheckLoaded], which compares
// what envtable found with what config.Describe reflects from the real Config type,
// so the two cannot drift. The test in this package fails when either generated file
// is stale; regenerate both with
//
//	cd examples && go test ./internal/envtable -update
package envtable
