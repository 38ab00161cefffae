package catalog

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/internal/dbopen"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// StoreSettings chooses the catalog's database. The zero value is SQLite.
type StoreSettings struct {
	// DatabaseURL, when set, keeps products and reservations in PostgreSQL: a
	// postgres:// URL or a key=value string as pgx reads it (pool_max_conns and the
	// other pgxpool parameters included). Empty means the SQLite file. Default empty.
	DatabaseURL string `env:"DATABASE_URL" secret:"true" desc:"PostgreSQL URL of the catalog's database; empty keeps it in SQLite under DATA_DIR."`
}

// Backend is an opened catalog database: the Repository to give NewServiceWith and
// NewSweeper, the readiness check that writes to its database ("postgres" or
// "sqlite"), and Close.
type Backend = dbopen.Backend[Repository]

// OpenStore opens the catalog's database: PostgreSQL through a pgx pool when
// databaseURL is set (several replicas may share it), else the SQLite file at
// sqlitePath (sqlitedb.Open with sq), migrated to the current schema and seeded on
// first start. A PostgreSQL that does not answer is a *pgdb.UnavailableError;
// errors name DATABASE_URL, never its value.
func OpenStore(ctx context.Context, databaseURL, sqlitePath string, sq sqlitedb.Settings) (*Backend, error) {
	return dbopen.Opener[Repository]{
		Service: "catalog",
		SQLite:  func(ctx context.Context, db *sql.DB) (Repository, error) { return NewStore(ctx, db) },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (dbopen.Postgres[Repository], error) {
			s, err := NewPostgresStore(ctx, pool)
			if err != nil {
				return dbopen.Postgres[Repository]{}, err
			}
			return dbopen.Postgres[Repository]{Repository: s, Probe: s.WriteProbe}, nil
		},
	}.Open(ctx, databaseURL, sqlitePath, sq)
}
