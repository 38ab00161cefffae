package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// InTx runs fn inside a transaction (BEGIN IMMEDIATE, see the package documentation).
// It commits when fn returns nil and rolls back otherwise, returning fn's error as is
// so callers can match their sentinels with errors.Is. A panic in fn rolls back and is
// re-raised.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitedb: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("sqlitedb: rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitedb: commit: %w", err)
	}
	return nil
}
