package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/internal/pgdb"
)

// The PostgreSQL plumbing of PostgresStore, over the shared internal/pgdb: the
// ledger's sentinels for an unavailable store and a newer schema.

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
// cannot serve now (see ErrStoreUnavailable and pgdb.Transient), and err unchanged
// otherwise.
func pgUnavailable(err error) error {
	if err == nil || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	if retry, ok := pgdb.Transient(err); ok {
		return &storeUnavailableError{err: err, retry: retry}
	}
	return err
}

// pgIsUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func pgIsUnique(err error) bool { return pgdb.IsUnique(err) }

// pgInTx runs fn in a READ COMMITTED transaction on pool and commits when fn returns
// nil; otherwise, or on a panic, it rolls back. fn's errors come back as they are
// (for errors.Is), those that mean the database cannot serve as ErrStoreUnavailable.
func pgInTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgUnavailable(pgdb.InTx(ctx, pool, fn))
}

// migrateLock is the advisory lock key that serializes migrations of replicas that
// start at once ("gantry-payment-migrate" as eight bytes).
const migrateLock = 0x67616e7472795f6d

// migratePostgres applies the ledger's migrations with pgdb.Migrate, recorded in
// schema_migrations. A database at a version newer than the list is ErrNewerSchema.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, ms []pgdb.Migration) error {
	err := pgdb.Migrate(ctx, pool, migrateLock, "schema_migrations", ms)
	switch {
	case errors.Is(err, pgdb.ErrNewerSchema):
		return fmt.Errorf("%w: %w", ErrNewerSchema, err)
	case err != nil:
		return fmt.Errorf("payment: %w", pgUnavailable(err))
	}
	return nil
}
