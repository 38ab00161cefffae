// Package pgdb is the PostgreSQL plumbing the example services share (through
// jackc/pgx/v5): opening a pool from DATABASE_URL without leaking its value,
// versioned migrations that replicas starting at once run exactly once, transactions,
// a readiness write probe, and the mapping of driver errors to "the database cannot
// serve now" (Transient), which the services turn into 503 with Retry-After.
//
// It is the PostgreSQL sibling of sqlitedb. Each service keeps its own sentinel for
// an unavailable store, so that its callers branch on the service's vocabulary.
package pgdb
