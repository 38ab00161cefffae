package catalog_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/pgtest"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// backend is where a test keeps the catalog: SQLite (pg nil) or a real PostgreSQL
// server of the test's own.
type backend struct {
	name string
	pg   *pgtest.Server
}

// eachBackend runs f as the subtests "sqlite" and "postgres": the store contract, one
// suite for both repositories. The second starts a real PostgreSQL server (pgtest),
// and skips without one (fails when CI=true).
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) { f(t, backend{name: "sqlite"}) })
	t.Run("postgres", func(t *testing.T) { f(t, backend{name: "postgres", pg: pgtest.NewServer(t)}) })
}

// place returns a new, empty database on b: a PostgreSQL URL, or a SQLite file path.
func (b backend) place(t *testing.T) string {
	if b.pg != nil {
		return b.pg.Database(t)
	}
	return filepath.Join(t.TempDir(), "catalog.db")
}

// open opens the catalog at place with catalog.OpenStore, as cmd/catalog does; it is
// closed when the test ends (or earlier by the test, for a restart).
func (b backend) open(t *testing.T, place string) *catalog.Backend {
	t.Helper()
	url, path := place, ""
	if b.pg == nil {
		url, path = "", place
	}
	be, err := catalog.OpenStore(context.Background(), url, path, sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("catalog.OpenStore(%s) = %v", b.name, err)
	}
	t.Cleanup(func() { _ = be.Close() })
	return be
}

// env serves a new catalog on b over HTTP, with the given settings.
func (b backend) env(t *testing.T, s catalog.Settings) (*env, catalog.Repository) {
	t.Helper()
	store := b.open(t, b.place(t)).Repository
	srv := httptest.NewServer(catalog.NewHTTPHandler(catalog.NewServiceWith(store, s), nil))
	t.Cleanup(srv.Close)
	return &env{srv: srv}, store
}
