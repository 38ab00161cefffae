package sqlitedb_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/transport"
)

var testMigrations = []sqlitedb.Migration{
	{Version: 1, Name: "accounts", SQL: `CREATE TABLE accounts (id TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0))`},
	{Version: 2, Name: "seed", SQL: `INSERT INTO accounts (id, balance) VALUES ('a', 10), ('b', 0)`},
}

func open(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), path, sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestOpenSetsPragmas(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "sub", "x.db"))
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "2"},
	} {
		t.Run(tc.pragma, func(t *testing.T) {
			var got string
			if err := db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := sqlitedb.Open(t.Context(), "", sqlitedb.Settings{}); !errors.Is(err, sqlitedb.ErrPath) {
		t.Errorf("Open(\"\") = %v, want %v", err, sqlitedb.ErrPath)
	}
}

func TestMigrateOnceAndSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := t.Context()
	db := open(t, path)
	for range 2 { // the second run must be a no-op, not a duplicate seed
		if err := sqlitedb.Migrate(ctx, db, testMigrations); err != nil {
			t.Fatalf("Migrate() = %v", err)
		}
	}
	_ = db.Close()
	db = open(t, path)
	if err := sqlitedb.Migrate(ctx, db, testMigrations); err != nil {
		t.Fatalf("Migrate() after reopen = %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM accounts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("rows after three Migrate calls = %d, want 2", n)
	}
	if v, err := sqlitedb.Version(ctx, db); err != nil || v != 2 {
		t.Errorf("Version() = %d, %v, want 2, nil", v, err)
	}
	// A binary that knows only migration 1 must refuse a database at version 2.
	if err := sqlitedb.Migrate(ctx, db, testMigrations[:1]); !errors.Is(err, sqlitedb.ErrNewerSchema) {
		t.Errorf("Migrate(older binary) = %v, want %v", err, sqlitedb.ErrNewerSchema)
	}
	if err := sqlitedb.Migrate(ctx, db, testMigrations[1:]); !errors.Is(err, sqlitedb.ErrMigrations) {
		t.Errorf("Migrate(misnumbered) = %v, want %v", err, sqlitedb.ErrMigrations)
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "tx.db"))
	if err := sqlitedb.Migrate(ctx, db, testMigrations); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	err := sqlitedb.InTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance - 5 WHERE id = 'a'`); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx() = %v, want %v", err, errBoom)
	}
	func() {
		defer func() { _ = recover() }()
		_ = sqlitedb.InTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = 0 WHERE id = 'a'`); err != nil {
				return err
			}
			panic("crash inside the transaction")
		})
	}()
	var bal int
	if err := db.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE id = 'a'`).Scan(&bal); err != nil {
		t.Fatal(err)
	}
	if bal != 10 {
		t.Errorf("balance after failed and panicked transactions = %d, want 10", bal)
	}
}

func TestConstraintErrors(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "c.db"))
	if err := sqlitedb.Migrate(ctx, db, testMigrations); err != nil {
		t.Fatal(err)
	}
	_, dup := db.ExecContext(ctx, `INSERT INTO accounts (id, balance) VALUES ('a', 1)`)
	_, check := db.ExecContext(ctx, `UPDATE accounts SET balance = -1 WHERE id = 'b'`)
	for _, tc := range []struct {
		name               string
		err                error
		constraint, unique bool
	}{
		{"duplicate key", dup, true, true},
		{"check", check, true, false},
		{"other", errors.New("x"), false, false},
		{"nil", nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sqlitedb.IsConstraint(tc.err); got != tc.constraint {
				t.Errorf("IsConstraint(%v) = %v, want %v", tc.err, got, tc.constraint)
			}
			if got := sqlitedb.IsUnique(tc.err); got != tc.unique {
				t.Errorf("IsUnique(%v) = %v, want %v", tc.err, got, tc.unique)
			}
		})
	}
}

// Two replicas starting at once on a fresh file (two pools stand in for two
// processes) both migrate successfully, and the seed runs once.
func TestConcurrentMigrateOnFreshFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fresh.db")
	errs := make(chan error, 4)
	dbs := make(chan *sql.DB, 4)
	for range 4 {
		go func() {
			db, err := sqlitedb.Open(context.Background(), path, sqlitedb.Settings{})
			if err != nil {
				errs <- err
				return
			}
			dbs <- db
			errs <- sqlitedb.Migrate(context.Background(), db, testMigrations)
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("Open+Migrate from one of 4 concurrent starters = %v", err)
		}
	}
	close(dbs)
	var n int
	for db := range dbs {
		if n == 0 {
			if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM accounts`).Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	if n != 2 {
		t.Errorf("rows after 4 concurrent migrations = %d, want 2 (seeded once)", n)
	}
}

// TestUnavailable: a write to a read-only database fails, in InTx and in the write
// probe, with an *UnavailableError: a 503 with Retry-After over HTTP whose detail
// names no file; a constraint violation is left as it is.
func TestUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	db, err := sqlitedb.Open(t.Context(), path, sqlitedb.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.WriteProbe(db)(t.Context()); err != nil {
		t.Fatalf("write probe on a writable database = %v", err)
	}
	ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	insert := func(tx *sql.Tx) error { _, err := tx.Exec(`INSERT INTO t (id) VALUES (1)`); return err }
	for name, err := range map[string]error{
		"InTx":        sqlitedb.InTx(t.Context(), ro, insert),
		"write probe": sqlitedb.WriteProbe(ro)(t.Context()),
	} {
		var ue *sqlitedb.UnavailableError
		if !errors.Is(err, sqlitedb.ErrUnavailable) || !errors.As(err, &ue) {
			t.Errorf("%s on a read-only database = %v, want ErrUnavailable", name, err)
			continue
		}
		p := transport.ProblemFor(err)
		if p.Status != 503 || p.Retry <= 0 || strings.Contains(p.Detail, "ro.db") || strings.Contains(p.Detail, "readonly") {
			t.Errorf("%s: problem = %+v, want 503 with Retry-After and no internals", name, p)
		}
	}
	if err := sqlitedb.InTx(t.Context(), db, insert); err != nil {
		t.Fatal(err)
	}
	err = sqlitedb.InTx(t.Context(), db, insert)
	if !sqlitedb.IsUnique(err) || errors.Is(err, sqlitedb.ErrUnavailable) {
		t.Errorf("duplicate insert = %v, want a UNIQUE violation, not ErrUnavailable", err)
	}
}
