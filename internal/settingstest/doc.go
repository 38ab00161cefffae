// Package settingstest holds tests that load the library's real settings structs the
// way services nest them, under the prefixes the library and the example shop use,
// and check that every configuration error names the exact variable. It has no
// non-test code.
package settingstest
