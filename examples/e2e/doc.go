// Package e2e holds the example shop's cross-service tests: every service a real
// HTTP server on loopback over a real SQLite file.
package e2e
