package cart

import (
	"context"
	"database/sql"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/internal/dbopen"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// StoreSettings chooses the cart's database. The zero value is SQLite.
type StoreSettings struct {
	// DatabaseURL, when set, keeps carts and orders in PostgreSQL: a postgres:// URL
	// or a key=value string as pgx reads it (pool_max_conns and the other pgxpool
	// parameters included). Then several cart replicas may share it: the order locks
	// are in the database. Empty means the SQLite file (one cart process). Default
	// empty.
	DatabaseURL string `env:"DATABASE_URL" secret:"true" desc:"PostgreSQL URL of the cart's database (replicas may share it); empty keeps it in SQLite under DATA_DIR."`
}

// Backend is an opened cart database: the Repository to give NewShop, the readiness
// check that writes to its database ("postgres" or "sqlite"), and Close.
type Backend = dbopen.Backend[Repository]

// OpenStore opens the cart's database: PostgreSQL through pgx pools when databaseURL
// is set, else the SQLite file at sqlitePath (sqlitedb.Open with sq), migrated to the
// current schema. now may be nil (time.Now). A PostgreSQL that does not answer is a
// *pgdb.UnavailableError; errors name DATABASE_URL, never its value.
func OpenStore(ctx context.Context, databaseURL, sqlitePath string, sq sqlitedb.Settings, now func() time.Time) (*Backend, error) {
	return dbopen.Opener[Repository]{
		Service: "cart",
		SQLite:  func(ctx context.Context, db *sql.DB) (Repository, error) { return NewStore(ctx, db, now) },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (dbopen.Postgres[Repository], error) {
			s, err := NewPostgresStore(ctx, pool, now)
			if err != nil {
				return dbopen.Postgres[Repository]{}, err
			}
			return dbopen.Postgres[Repository]{Repository: s, Probe: s.WriteProbe, Close: s.Close}, nil
		},
	}.Open(ctx, databaseURL, sqlitePath, sq)
}
