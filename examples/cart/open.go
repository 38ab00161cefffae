package cart

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-go/gantry/examples/internal/pgdb"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/observability/health"
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
// check that writes to its database, and Close. Safe for concurrent use; Close once,
// after the repository's last use.
type Backend struct {
	Repository Repository
	// Check is a readiness and startup check that writes (named "postgres" or
	// "sqlite"): a database that cannot take writes makes the service unready.
	Check health.Check
	close func() error
}

// Close closes the database connections.
func (b *Backend) Close() error { return b.close() }

// OpenStore opens the cart's database: PostgreSQL through pgx pools when databaseURL
// is set, else the SQLite file at sqlitePath (sqlitedb.Open with sq), migrated to the
// current schema. now may be nil (time.Now). A PostgreSQL that does not answer is a
// *pgdb.UnavailableError; errors name DATABASE_URL, never its value.
func OpenStore(ctx context.Context, databaseURL, sqlitePath string, sq sqlitedb.Settings, now func() time.Time) (*Backend, error) {
	if databaseURL == "" {
		db, err := sqlitedb.Open(ctx, sqlitePath, sq)
		if err != nil {
			return nil, err
		}
		s, err := NewStore(ctx, db, now)
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		return &Backend{Repository: s, Check: dbCheck("sqlite", sqlitedb.WriteProbe(db)), close: db.Close}, nil
	}
	pool, err := pgdb.Open(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("cart: %w", pgdb.Unavailable(err))
	}
	s, err := NewPostgresStore(ctx, pool, now)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Backend{Repository: s, Check: dbCheck("postgres", s.WriteProbe),
		close: func() error { s.Close(); pool.Close(); return nil }}, nil
}

func dbCheck(name string, f func(context.Context) error) health.Check {
	return health.Check{Name: name, Roles: health.Readiness | health.Startup, Func: f}
}
