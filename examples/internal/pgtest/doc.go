// Package pgtest starts a real, throwaway PostgreSQL server on loopback for tests:
// initdb into a new temporary directory, the postmaster on a free 127.0.0.1 port
// (listen_addresses=127.0.0.1, its unix socket in that directory, trust
// authentication, fsync off), one new database per caller, and at cleanup a fast
// shutdown of that postmaster by its pid (SIGINT, what `pg_ctl stop -m fast` sends),
// then SIGKILL if it has not exited within 30s, and the directory removed.
//
// The binaries come from $PGTEST_BINDIR, or else the newest Debian
// /usr/lib/postgresql/<version>/bin holding initdb and postgres (scripts/postgres.sh
// installs Debian's postgresql package and prints that directory). Without them the
// test skips with a loud message, or fails when CI=true.
//
// PostgreSQL refuses to run as root. When the test runs as root, initdb and postgres
// run as the unprivileged user $PGTEST_USER, else "postgres" (the system user that
// Debian's package creates), else "nobody"; the temporary directory is made under
// os.TempDir and handed to that user. It is for tests only.
package pgtest
