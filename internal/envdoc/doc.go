// Package envdoc generates docs/config.md, the table of every environment variable
// the library reads, from the source code: every exported struct type with `env`
// tags in the library's packages (examples, bench and internal excluded). It reads
// the source rather than reflecting over a hand-kept list, so a settings struct added
// anywhere in the library shows up, and the test in this package fails until
// docs/config.md is regenerated with
//
//	go test ./internal/envdoc -update
package envdoc
