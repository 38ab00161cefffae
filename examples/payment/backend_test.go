package payment_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/internal/pgtest"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/examples/payment"
)

// backend is where a test keeps the ledger: SQLite (pg nil) or a real PostgreSQL
// server of the test's own.
type backend struct {
	name string
	pg   *pgtest.Server
}

// eachBackend runs f as the subtests "sqlite" and "postgres". The second starts a
// real PostgreSQL server (pgtest), and skips without one (fails when CI=true).
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) { f(t, backend{name: "sqlite"}) })
	t.Run("postgres", func(t *testing.T) { f(t, backend{name: "postgres", pg: pgtest.NewServer(t)}) })
}

// place returns options naming one new database, for envs that share it (replicas,
// restarts).
func (b backend) place(t *testing.T) options {
	if b.pg != nil {
		return options{backend: b, dsn: b.pg.Database(t)}
	}
	return options{backend: b, path: filepath.Join(t.TempDir(), "payment.db")}
}

// openPostgres opens the env's ledger as cmd/payment does (payment.OpenStore with a
// DATABASE_URL) and a pool of its own for the test's direct queries.
func (e *env) openPostgres(t testing.TB, o options) payment.Ledger {
	t.Helper()
	if o.dsn == "" {
		o.dsn = o.backend.pg.Database(t)
	}
	be, err := payment.OpenStore(context.Background(), o.dsn, "", sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("payment.OpenStore(postgres) = %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	raw, err := pgxpool.New(context.Background(), o.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	e.exec = func(t testing.TB, q string, args ...any) error {
		_, err := raw.Exec(context.Background(), rebind(q), args...)
		return err
	}
	e.count = func(t testing.TB, q string, args ...any) int {
		t.Helper()
		var n int
		if err := raw.QueryRow(context.Background(), rebind(q), args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	e.isUnique = func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505"
	}
	e.close = func() { _ = be.Close() }
	return be.Repository
}

// rebind turns the ? placeholders of a test's query into PostgreSQL's $1, $2, ...
// (the tests' queries hold no ? in literals).
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
