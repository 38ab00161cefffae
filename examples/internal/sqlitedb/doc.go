// Package sqlitedb opens the example services' embedded SQLite databases and keeps
// their schemas current.
//
// It uses the pure-Go driver modernc.org/sqlite (no cgo, so the services build into
// static FROM-scratch images). Every connection is opened with the same settings:
//
//   - journal_mode=WAL: readers never block the writer and the writer never blocks
//     readers; several processes on ONE host may share a file (the payment replicas do).
//   - busy_timeout: a writer that finds the database locked waits (default 5s) instead
//     of failing at once with SQLITE_BUSY.
//   - foreign_keys=ON: REFERENCES clauses are enforced.
//   - synchronous=FULL: a committed transaction survives a power cut, not just a crash.
//   - BEGIN IMMEDIATE for every transaction: a read-then-write transaction takes the
//     write lock up front, so two writers queue on busy_timeout instead of one of them
//     failing half-way with SQLITE_BUSY_SNAPSHOT.
//
// Migrate applies numbered migrations once each, recording them in a schema_migrations
// table; InTx runs a function inside a transaction and commits only if it succeeds.
//
// WAL relies on shared memory between the processes that open the file, so a database
// must live on a local file system: never NFS, SMB or a volume shared between hosts.
package sqlitedb
