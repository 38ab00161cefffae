package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrPath is returned by Open for an empty database path.
var ErrPath = errors.New("sqlitedb: empty database path")

// Settings tunes Open. The zero value is ready to use.
type Settings struct {
	// BusyTimeout is how long a connection waits for a lock held by another connection
	// or process before failing with SQLITE_BUSY. Zero means 5s.
	BusyTimeout time.Duration `env:"SQLITE_BUSY_TIMEOUT" envDefault:"5s"`
	// MaxOpenConns caps the pool. SQLite admits one writer at a time, so a large pool
	// only adds lock waits. Zero means 8.
	MaxOpenConns int `env:"SQLITE_MAX_OPEN_CONNS" envDefault:"8"`
}

// Open opens (creating if needed) the SQLite database at path, with the settings
// described in the package documentation, and checks that it answers. The parent
// directory is created with mode 0o750 when missing. The caller closes the *sql.DB,
// which is safe for concurrent use.
func Open(ctx context.Context, path string, s Settings) (*sql.DB, error) {
	if path == "" {
		return nil, ErrPath
	}
	if s.BusyTimeout <= 0 {
		s.BusyTimeout = 5 * time.Second
	}
	if s.MaxOpenConns <= 0 {
		s.MaxOpenConns = 8
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlitedb: create data directory: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(s.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitedb: open %s: %w", filepath.Base(path), err)
	}
	db.SetMaxOpenConns(s.MaxOpenConns)
	db.SetMaxIdleConns(s.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitedb: open %s: %w", filepath.Base(path), err)
	}
	return db, nil
}

// IsConstraint reports whether err is an SQLite constraint violation (UNIQUE, PRIMARY
// KEY, CHECK, FOREIGN KEY or NOT NULL), possibly wrapped.
func IsConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// IsUnique reports whether err is a UNIQUE or PRIMARY KEY constraint violation,
// possibly wrapped.
func IsUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
