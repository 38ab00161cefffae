package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNewerSchema is returned by Migrate when the database records a migration the
// list does not have: a newer binary wrote it.
var ErrNewerSchema = errors.New("pgdb: database schema is newer than this binary")

// ErrBadURL is returned by Open for a DATABASE_URL that pgx cannot parse. The
// error never quotes the URL, which may hold a password.
var ErrBadURL = errors.New("DATABASE_URL: not a valid PostgreSQL URL or connection string")

// Open parses url (a postgres:// URL or a key=value string, pool_max_conns and the
// other pgxpool parameters included), connects and pings the server. A server that
// does not answer is an error for which Transient reports true; a malformed url is
// ErrBadURL. The caller closes the pool.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, ErrBadURL // pgx's message may quote the URL
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return pool, nil
}

// Transient reports whether err says the database cannot serve now but may later
// (unreachable, shutting down or starting, out of connections, disk or memory,
// read-only, an I/O error, or a transaction that lost a serialization or deadlock
// race), and how long a client should wait before trying again.
func Transient(err error) (retry time.Duration, ok bool) {
	if err == nil {
		return 0, false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001", pe.Code == "40P01", pe.Code == "55P03", pe.Code == "53300":
			// serialization failure, deadlock, lock not available, too many connections
			return time.Second, true
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources: disk full, out of memory
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutting down, crashed, starting up
			pe.Code == "25006", // read-only transaction (a standby, or a read-only database)
			pe.Code == "58030": // I/O error
			return 5 * time.Second, true
		}
		return 0, false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || pgconn.SafeToRetry(err) {
		return 5 * time.Second, true
	}
	return 0, false
}

// IsUnique reports whether err is a UNIQUE or PRIMARY KEY violation (SQLSTATE
// 23505), possibly wrapped.
func IsUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// InTx runs fn in a READ COMMITTED transaction on pool and commits when fn returns
// nil; otherwise, or on a panic, it rolls back. Errors come back as they are.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, fn)
}

// Migration is one schema change. Version numbers start at 1 and increase by one.
type Migration struct {
	Version int
	Name    string
	SQL     string // one or more statements, run in one transaction
}

// Migrate applies, each in its own transaction and in order, the migrations not yet
// recorded in schema_migrations, and records them there, as sqlitedb.Migrate does.
// Every transaction first takes the advisory lock lockKey (one per service, so that
// services sharing a database do not wait on each other), so replicas starting at
// once wait for each other and find the work done. A database at a version newer
// than the list is ErrNewerSchema. Driver errors come back wrapped, for Transient.
func Migrate(ctx context.Context, pool *pgxpool.Pool, lockKey int64, table string, ms []Migration) error {
	for i, m := range ms {
		if m.Version != i+1 {
			return fmt.Errorf("pgdb: migrations must be numbered 1, 2, 3, ... in order: position %d has version %d", i, m.Version)
		}
	}
	lock := func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey)
		return err
	}
	ident := pgx.Identifier{table}.Sanitize()
	err := InTx(ctx, pool, func(tx pgx.Tx) error {
		if err := lock(tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+ident+` (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", table, err)
	}
	for _, m := range ms {
		err := InTx(ctx, pool, func(tx pgx.Tx) error {
			if err := lock(tx); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+ident+` WHERE version = $1)`, m.Version).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+ident+` (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
		}
	}
	var v int
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+ident).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(ms) {
		return fmt.Errorf("%w: database at version %d, binary knows %d", ErrNewerSchema, v, len(ms))
	}
	return nil
}

// WriteProbe is a readiness check that writes: it upserts the one row of the
// table, which a migration must have created as
//
//	CREATE TABLE <table> (id INTEGER PRIMARY KEY CHECK (id = 1), at TIMESTAMPTZ NOT NULL)
//
// so that a database that cannot take writes (stopped, unreachable, out of disk,
// read-only) fails readiness. (Creating it here would race between replicas.)
func WriteProbe(ctx context.Context, pool *pgxpool.Pool, table string) error {
	_, err := pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{table}.Sanitize()+` (id, at) VALUES (1, now())
		ON CONFLICT (id) DO UPDATE SET at = excluded.at`)
	return err
}

// ErrUnavailable matches the errors Unavailable marks: the database cannot serve now
// (see Transient), and the same request can succeed later.
var ErrUnavailable = errors.New("pgdb: database unavailable")

// UnavailableError is ErrUnavailable with the driver's error. Over HTTP it is a 503
// with Retry-After (it is a transport.StatusCoder and RetryAfterer) whose detail says
// nothing of the database.
type UnavailableError struct {
	// Err is the driver's error.
	Err error
	// Retry is when to try again: 1s after a lost race, 5s for the others.
	Retry time.Duration
}

func (e *UnavailableError) Error() string { return ErrUnavailable.Error() + ": " + e.Err.Error() }

// Unwrap returns ErrUnavailable and the driver's error.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// StatusCode returns 503.
func (e *UnavailableError) StatusCode() int { return 503 }

// RetryAfter returns e.Retry.
func (e *UnavailableError) RetryAfter() time.Duration { return e.Retry }

// Unavailable returns err as an *UnavailableError when Transient says the database
// cannot serve now, and err unchanged otherwise.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	if retry, ok := Transient(err); ok {
		return &UnavailableError{Err: err, Retry: retry}
	}
	return err
}
