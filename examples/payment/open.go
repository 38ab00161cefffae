package payment

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/internal/dbopen"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// StoreSettings chooses the ledger's database. The zero value is SQLite.
type StoreSettings struct {
	// DatabaseURL, when set, keeps the ledger in PostgreSQL: a postgres:// URL or a
	// key=value string as pgx reads it (pool_max_conns and the other pgxpool
	// parameters included). Empty means the SQLite file. Default empty.
	DatabaseURL string `env:"DATABASE_URL" secret:"true" desc:"PostgreSQL URL of the ledger; empty keeps it in SQLite under DATA_DIR."`
}

// Backend is an opened ledger: the Repository (the Ledger) to give NewService, the
// readiness check that writes to its database ("postgres" or "sqlite"), and Close.
type Backend = dbopen.Backend[Ledger]

// OpenStore opens the ledger: in PostgreSQL through a pgx pool when databaseURL is
// set, else in the SQLite file at sqlitePath (sqlitedb.Open with sq), and migrates it
// to the current schema. A PostgreSQL that does not answer is ErrStoreUnavailable;
// errors name DATABASE_URL, never its value.
func OpenStore(ctx context.Context, databaseURL, sqlitePath string, sq sqlitedb.Settings) (*Backend, error) {
	return dbopen.Opener[Ledger]{
		Service:     "payment",
		Unavailable: pgUnavailable,
		SQLite:      func(ctx context.Context, db *sql.DB) (Ledger, error) { return NewStore(ctx, db) },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (dbopen.Postgres[Ledger], error) {
			s, err := NewPostgresStore(ctx, pool)
			if err != nil {
				return dbopen.Postgres[Ledger]{}, err
			}
			return dbopen.Postgres[Ledger]{Repository: s, Probe: s.WriteProbe}, nil
		},
	}.Open(ctx, databaseURL, sqlitePath, sq)
}
