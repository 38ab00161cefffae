package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// InTx runs fn inside a transaction (BEGIN IMMEDIATE, see the package documentation).
// It commits when fn returns nil and rolls back otherwise, returning fn's error so
// callers can match their sentinels with errors.Is. A failure that means the database
// cannot take writes now (disk full, read-only, I/O error, busy) comes back as an
// *UnavailableError wrapping it (see Unavailable), a 503 over HTTP. A panic in fn
// rolls back and is re-raised.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitedb: begin: %w", Unavailable(err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(Unavailable(err), fmt.Errorf("sqlitedb: rollback: %w", rbErr))
		}
		return Unavailable(err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitedb: commit: %w", Unavailable(err))
	}
	return nil
}
