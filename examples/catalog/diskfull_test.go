package catalog_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/pgdb"
	"github.com/gantry-go/gantry/examples/internal/pgtest"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// TestCatalogFullVolumeIs503: when the catalog's SQLite volume (a real 2 MiB tmpfs)
// fills up, a reservation is a retryable 503 problem that tells nothing of the file,
// the write probe fails with sqlitedb.ErrUnavailable and /readyz answers 503 within
// the check interval; once there is room again, with no restart, /readyz is 200 by
// itself and the same order's reservation holds its stock once.
func TestCatalogFullVolumeIs503(t *testing.T) {
	vol := shoptest.MountVolume(t, 2048)
	be, err := catalog.OpenStore(t.Context(), "", filepath.Join(vol.Dir, "catalog.db"), sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("catalog.OpenStore() = %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	if be.Check.Name != "sqlite" {
		t.Errorf("check = %q, want sqlite", be.Check.Name)
	}
	api := httptest.NewServer(catalog.NewHTTPHandler(catalog.NewService(be.Repository), nil))
	t.Cleanup(api.Close)
	e := &env{srv: api}
	ready := shoptest.StartReadyz(t, "catalog", be.Check)

	if r := e.do(t, http.MethodPost, "/reservations", reserveBody("o-ok", catalog.Item{ProductID: "p01", Quantity: 1})); r.status != http.StatusCreated {
		t.Fatalf("reserve on a healthy volume = %d %s, want 201", r.status, r.body)
	}
	full := reserveBody("o-full", catalog.Item{ProductID: "p02", Quantity: 2})

	vol.Fill()
	r := e.do(t, http.MethodPost, "/reservations", full)
	wantProblem(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Errorf("full volume: POST /reservations: 503 without Retry-After")
	}
	if body := strings.ToLower(string(r.body)); strings.Contains(body, strings.ToLower(vol.Dir)) || strings.Contains(body, "sqlite") || strings.Contains(body, "catalog.db") {
		t.Errorf("full volume: POST /reservations: the problem tells internals: %s", r.body)
	}
	if err := be.Check.Func(t.Context()); !errors.Is(err, sqlitedb.ErrUnavailable) {
		t.Errorf("full volume: readiness check = %v, want sqlitedb.ErrUnavailable", err)
	}
	ready.Await(t, http.StatusServiceUnavailable, "full volume")
	// The restocker (cmd/shop -restock) gets the same typed error, not a driver string.
	if _, err := be.Repository.Restock(t.Context(), 1000, 1000); !errors.Is(err, sqlitedb.ErrUnavailable) {
		t.Errorf("full volume: Restock = %v, want sqlitedb.ErrUnavailable", err)
	}

	vol.Free()
	ready.Await(t, http.StatusOK, "volume freed")
	if err := be.Check.Func(t.Context()); err != nil {
		t.Errorf("volume freed: readiness check = %v, want nil", err)
	}
	r = e.do(t, http.MethodPost, "/reservations", full)
	if r.status != http.StatusCreated {
		t.Fatalf("volume freed: reserve o-full again = %d %s, want 201 (the 503 held nothing)", r.status, r.body)
	}
	res := decode[catalog.Reservation](t, r)
	replay := e.do(t, http.MethodPost, "/reservations", full)
	if replay.status != http.StatusOK || decode[catalog.Reservation](t, replay).ID != res.ID {
		t.Errorf("volume freed: reserve o-full a third time = %d %s, want 200 replaying %s", replay.status, replay.body, res.ID)
	}
	inv := e.inventory(t)
	if l := inv["p02"]; l.Held != 2 || l.Sold != 0 {
		t.Errorf("p02 after the full volume = %+v, want 2 held once, 0 sold", l)
	}
	if l := inv["p01"]; l.Held != 1 {
		t.Errorf("p01 (reserved before the volume filled) = %+v, want 1 held", l)
	}
}

// TestCatalogPostgresDownFailsReadyz: with the catalog's PostgreSQL stopped, the
// admin server's /readyz answers 503 within the check interval, and 200 again by
// itself once the server is back; the order refused meanwhile then reserves once.
// (TestPostgresDownIsA503 checks the API's 503 problems.)
func TestCatalogPostgresDownFailsReadyz(t *testing.T) {
	srv := pgtest.NewServer(t)
	be, err := catalog.OpenStore(t.Context(), srv.Database(t), "", sqlitedb.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.Close() })
	api := httptest.NewServer(catalog.NewHTTPHandler(catalog.NewService(be.Repository), nil))
	t.Cleanup(api.Close)
	e := &env{srv: api}
	ready := shoptest.StartReadyz(t, "catalog", be.Check)
	down := reserveBody("o-down", catalog.Item{ProductID: "p03", Quantity: 1})

	srv.Stop()
	ready.Await(t, http.StatusServiceUnavailable, "database stopped")
	if err := be.Check.Func(t.Context()); !errors.Is(err, pgdb.ErrUnavailable) {
		t.Errorf("database stopped: readiness check = %v, want pgdb.ErrUnavailable", err)
	}
	if r := e.do(t, http.MethodPost, "/reservations", down); r.status != http.StatusServiceUnavailable {
		t.Errorf("database stopped: reserve = %d %s, want 503", r.status, r.body)
	}

	srv.Restart()
	ready.Await(t, http.StatusOK, "database restarted")
	if r := e.do(t, http.MethodPost, "/reservations", down); r.status != http.StatusCreated {
		t.Errorf("database restarted: reserve o-down = %d %s, want 201", r.status, r.body)
	}
	if l := e.inventory(t)["p03"]; l.Held != 1 {
		t.Errorf("p03 after the outage = %+v, want 1 held", l)
	}
}
