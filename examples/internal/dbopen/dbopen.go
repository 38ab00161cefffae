// Package dbopen opens an example service's database the one way all of them do:
// SQLite under DATA_DIR by default (make demo needs nothing but Go), PostgreSQL
// through pgx when DATABASE_URL is set (then replicas on several hosts share it),
// migrated on open, with a readiness check that writes to it.
package dbopen

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/internal/pgdb"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/observability/health"
)

// Backend is an opened database: the service's repository over it, the readiness
// and startup check that writes to it (named "postgres" or "sqlite"; a database that
// cannot take writes makes the service unready), and Close. Safe for concurrent use;
// Close once, after the repository's last use.
type Backend[R any] struct {
	Repository R
	Check      health.Check
	close      func() error
}

// Close closes the database connections.
func (b *Backend[R]) Close() error { return b.close() }

// Postgres is what a service's PostgreSQL repository gives Open: the repository, its
// write probe, and what to close beside the pool (nil for nothing).
type Postgres[R any] struct {
	Repository R
	Probe      func(context.Context) error
	Close      func()
}

// Opener is how one service builds its repository on each database.
type Opener[R any] struct {
	// Service prefixes errors ("catalog").
	Service string
	// SQLite migrates db and returns the repository over it.
	SQLite func(ctx context.Context, db *sql.DB) (R, error)
	// Postgres migrates the database behind pool and returns the repository over it.
	Postgres func(ctx context.Context, pool *pgxpool.Pool) (Postgres[R], error)
	// Unavailable marks a PostgreSQL error that means the database cannot serve now
	// with the service's sentinel; nil means pgdb.Unavailable.
	Unavailable func(error) error
}

// Open opens PostgreSQL when databaseURL is set, else the SQLite file at sqlitePath
// (sqlitedb.Open with sq). A PostgreSQL that does not answer is an error Unavailable
// marks; errors name DATABASE_URL, never its value.
func (o Opener[R]) Open(ctx context.Context, databaseURL, sqlitePath string, sq sqlitedb.Settings) (*Backend[R], error) {
	if databaseURL == "" {
		db, err := sqlitedb.Open(ctx, sqlitePath, sq)
		if err != nil {
			return nil, err
		}
		r, err := o.SQLite(ctx, db)
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		return &Backend[R]{Repository: r, Check: check("sqlite", sqlitedb.WriteProbe(db)), close: db.Close}, nil
	}
	unavailable := o.Unavailable
	if unavailable == nil {
		unavailable = pgdb.Unavailable
	}
	pool, err := pgdb.Open(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Service, unavailable(err))
	}
	pg, err := o.Postgres(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Backend[R]{Repository: pg.Repository, Check: check("postgres", pg.Probe), close: func() error {
		if pg.Close != nil {
			pg.Close()
		}
		pool.Close()
		return nil
	}}, nil
}

func check(name string, f func(context.Context) error) health.Check {
	return health.Check{Name: name, Roles: health.Readiness | health.Startup, Func: f}
}
