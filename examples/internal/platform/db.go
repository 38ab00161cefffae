package platform

import (
	"context"
	"database/sql"
	"path/filepath"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/observability/health"
)

// OpenDB opens DATA_DIR/<file> with sqlitedb.Open.
func OpenDB(ctx context.Context, s Settings, file string) (*sql.DB, error) {
	return sqlitedb.Open(ctx, filepath.Join(s.DataDir, file), s.SQLite)
}

// DBCheck is a readiness and startup check that writes to db (sqlitedb.WriteProbe):
// a full disk or a read-only volume makes the service unready, where a ping would not.
func DBCheck(db *sql.DB) health.Check {
	return health.Check{
		Name:  "sqlite",
		Roles: health.Readiness | health.Startup,
		Func:  sqlitedb.WriteProbe(db),
	}
}
