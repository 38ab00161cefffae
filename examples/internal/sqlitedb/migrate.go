package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrMigrations is returned by Migrate when the migration list is malformed.
var ErrMigrations = errors.New("sqlitedb: migrations must be numbered 1, 2, 3, ... in order")

// ErrNewerSchema is returned by Migrate when the database records a migration this
// binary does not know: it was written by a newer version.
var ErrNewerSchema = errors.New("sqlitedb: database schema is newer than this binary")

// Migration is one schema change. Version numbers start at 1 and increase by one; a
// migration, once released, is never edited: add a new one instead.
type Migration struct {
	Version int
	Name    string
	// SQL holds one or more statements, executed in one transaction.
	SQL string
}

// Migrate applies, in order and each in its own transaction, the migrations not yet
// recorded in the schema_migrations table, and records them there. It is safe to call
// from several processes at once on one database: the first takes the write lock and
// the others find the work done.
func Migrate(ctx context.Context, db *sql.DB, migrations []Migration) error {
	for i, m := range migrations {
		if m.Version != i+1 {
			return fmt.Errorf("%w: position %d has version %d", ErrMigrations, i, m.Version)
		}
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlitedb: create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		err := InTx(ctx, db, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().UTC().Format(time.RFC3339Nano))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlitedb: migration %d (%s): %w", m.Version, m.Name, err)
		}
	}
	var max sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&max); err != nil {
		return fmt.Errorf("sqlitedb: read schema version: %w", err)
	}
	if int(max.Int64) > len(migrations) {
		return fmt.Errorf("%w: database at version %d, binary knows %d", ErrNewerSchema, max.Int64, len(migrations))
	}
	return nil
}

// Version returns the highest migration recorded in db, 0 for a new database.
func Version(ctx context.Context, db *sql.DB) (int, error) {
	var v sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("sqlitedb: read schema version: %w", err)
	}
	return int(v.Int64), nil
}
