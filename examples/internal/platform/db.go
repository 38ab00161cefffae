package platform

import (
	"database/sql"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/observability/health"
)

// DBCheck is a readiness and startup check that writes to db (sqlitedb.WriteProbe):
// a full disk or a read-only volume makes the service unready, where a ping would not.
func DBCheck(db *sql.DB) health.Check {
	return health.Check{
		Name:  "sqlite",
		Roles: health.Readiness | health.Startup,
		Func:  sqlitedb.WriteProbe(db),
	}
}
