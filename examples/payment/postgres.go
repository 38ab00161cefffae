package payment

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

// The PostgreSQL plumbing of PostgresStore: versioned migrations, transactions, and
// the mapping of driver errors. (The other services will want it too; it belongs in
// an internal package beside sqlitedb then.)

// ErrStoreUnavailable matches the errors of a ledger database that cannot serve now:
// unreachable, shutting down or starting, out of connections, disk or memory,
// read-only, or a transaction that lost a serialization or deadlock race. The same
// request can succeed later. Over HTTP it is a 503 with Retry-After whose detail says
// nothing of the database.
var ErrStoreUnavailable = errors.New("payment: ledger database unavailable")

// ErrNewerSchema is returned when the ledger database records a migration this
// binary does not know: it was written by a newer version.
var ErrNewerSchema = errors.New("payment: ledger schema is newer than this binary")

// storeUnavailableError is ErrStoreUnavailable with the driver's error: a
// transport.StatusCoder (503) and RetryAfterer.
type storeUnavailableError struct {
	err   error
	retry time.Duration
}

func (e *storeUnavailableError) Error() string {
	return ErrStoreUnavailable.Error() + ": " + e.err.Error()
}
func (e *storeUnavailableError) Unwrap() []error           { return []error{ErrStoreUnavailable, e.err} }
func (e *storeUnavailableError) StatusCode() int           { return 503 }
func (e *storeUnavailableError) RetryAfter() time.Duration { return e.retry }

// pgUnavailable returns err as a *storeUnavailableError when it says the database
// cannot serve now (see ErrStoreUnavailable), and err unchanged otherwise.
func pgUnavailable(err error) error {
	if err == nil || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001", pe.Code == "40P01", pe.Code == "55P03", pe.Code == "53300":
			// serialization failure, deadlock, lock not available, too many connections
			return &storeUnavailableError{err: err, retry: time.Second}
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources: disk full, out of memory
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutting down, crashed, starting up
			pe.Code == "25006", // read-only transaction (a standby, or a read-only database)
			pe.Code == "58030": // I/O error
			return &storeUnavailableError{err: err, retry: 5 * time.Second}
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || pgconn.SafeToRetry(err) {
		return &storeUnavailableError{err: err, retry: 5 * time.Second}
	}
	return err
}

// pgIsUnique reports whether err is a UNIQUE or PRIMARY KEY violation (SQLSTATE
// 23505), possibly wrapped.
func pgIsUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// pgInTx runs fn in a READ COMMITTED transaction on pool and commits when fn returns
// nil; otherwise, or on a panic, it rolls back. fn's errors come back as they are
// (for errors.Is), those that mean the database cannot serve as ErrStoreUnavailable.
func pgInTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, pool, fn)
	if err != nil {
		return pgUnavailable(err)
	}
	return nil
}

// pgMigration is one schema change. Version numbers start at 1 and increase by one.
type pgMigration struct {
	Version int
	Name    string
	SQL     string // one or more statements, run in one transaction
}

// migrateLock is the advisory lock key that serializes migrations of replicas that
// start at once ("gantry-payment-migrate" as eight bytes).
const migrateLock = 0x67616e7472795f6d

// migratePostgres applies, each in its own transaction and in order, the migrations
// not yet recorded in schema_migrations, and records them there, as sqlitedb.Migrate
// does. Every transaction first takes migrateLock, so replicas starting at once wait
// for each other and find the work done. A database at a version newer than the list
// is ErrNewerSchema.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, ms []pgMigration) error {
	for i, m := range ms {
		if m.Version != i+1 {
			return fmt.Errorf("payment: migrations must be numbered 1, 2, 3, ... in order: position %d has version %d", i, m.Version)
		}
	}
	lock := func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock))
		return err
	}
	err := pgInTx(ctx, pool, func(tx pgx.Tx) error {
		if err := lock(tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("payment: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		err := pgInTx(ctx, pool, func(tx pgx.Tx) error {
			if err := lock(tx); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("payment: migration %d (%s): %w", m.Version, m.Name, err)
		}
	}
	var v int
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("payment: read schema version: %w", pgUnavailable(err))
	}
	if v > len(ms) {
		return fmt.Errorf("%w: database at version %d, binary knows %d", ErrNewerSchema, v, len(ms))
	}
	return nil
}
