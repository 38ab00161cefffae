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
	// The first connection switches a fresh file to WAL, which takes the file's lock
	// without SQLite's busy handler: processes opening one fresh file at once can be
	// told SQLITE_BUSY. Wait as the busy timeout would.
	deadline := time.Now().Add(s.BusyTimeout)
	for {
		err = db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err != nil {
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

// ErrUnavailable matches the errors of a database that cannot take writes now: the
// disk is full, the file or its volume is read-only, the disk failed, or another
// connection held the lock past the busy timeout. Nothing was written, and the same
// request can succeed later.
var ErrUnavailable = errors.New("sqlitedb: database unavailable")

// UnavailableError is ErrUnavailable with the driver's error. Over HTTP it is a 503
// with Retry-After (it is a transport.StatusCoder and RetryAfterer) whose detail says
// nothing of the file. InTx returns one for such failures.
type UnavailableError struct {
	// Err is the driver's error (SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR,
	// SQLITE_CANTOPEN or SQLITE_BUSY).
	Err error
	// Retry is when to try again: 1s for a lock, 5s for the others.
	Retry time.Duration
}

func (e *UnavailableError) Error() string { return ErrUnavailable.Error() + ": " + e.Err.Error() }

// Unwrap returns ErrUnavailable and the driver's error.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// StatusCode returns 503.
func (e *UnavailableError) StatusCode() int { return 503 }

// RetryAfter returns e.Retry.
func (e *UnavailableError) RetryAfter() time.Duration { return e.Retry }

// Unavailable returns err as an *UnavailableError when it says the database cannot
// take writes now (see ErrUnavailable), and err unchanged otherwise.
func Unavailable(err error) error {
	var se *sqlite.Error
	if err == nil || errors.Is(err, ErrUnavailable) || !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return &UnavailableError{Err: err, Retry: time.Second}
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return &UnavailableError{Err: err, Retry: 5 * time.Second}
	}
	return err
}

// WriteProbe is a readiness check that writes: it upserts one row of the table
// gantry_health_probe, so that a full disk or a read-only volume fails readiness (a
// ping would pass) and callers are sent elsewhere. Its errors are Unavailable's.
func WriteProbe(db *sql.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS gantry_health_probe (
			id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL)`)
		if err == nil {
			_, err = db.ExecContext(ctx, `INSERT INTO gantry_health_probe (id, at) VALUES (1, ?)
				ON CONFLICT (id) DO UPDATE SET at = excluded.at`, time.Now().UnixNano())
		}
		if err != nil {
			return fmt.Errorf("sqlitedb: write probe: %w", Unavailable(err))
		}
		return nil
	}
}
