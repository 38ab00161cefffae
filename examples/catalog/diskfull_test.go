package catalog_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/pgdb"
	"github.com/gantry-go/gantry/examples/internal/pgtest"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
)

// The readiness settings of these tests: HEALTH_CHECK_INTERVAL and
// HEALTH_CHECK_TIMEOUT. A fault must show in /readyz within one interval plus one
// run of the check, and its repair as fast.
const (
	readyInterval = 300 * time.Millisecond
	readyTimeout  = time.Second
)

// readyz is the admin server's GET /readyz over a store's readiness check, wired as
// cmd/catalog wires it: health.NewRegistry(cfg.Health, store.Check), run as a
// component, mounted by gantry.NewAdmin.
type readyz struct {
	url string
	hc  *http.Client
}

// startReadyz serves check on a loopback admin server and runs its registry until
// the test ends. It returns once /readyz has answered 200 (the startup check passed).
func startReadyz(t *testing.T, name string, check health.Check) *readyz {
	t.Helper()
	checks := health.NewRegistry(health.Settings{Interval: readyInterval, Timeout: readyTimeout}, check)
	admin, err := gantry.NewAdmin(gantry.AdminSettings{}, gantry.Admin{Name: name, Health: checks}, observability.Instrumentation{})
	if err != nil {
		t.Fatalf("gantry.NewAdmin() = %v", err)
	}
	srv := httptest.NewServer(admin.Handler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- checks.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Registry.Run() = %v after cancel, want nil", err)
		}
		srv.Close()
	})
	r := &readyz{url: srv.URL + "/readyz", hc: srv.Client()}
	r.await(t, http.StatusOK, "start")
	return r
}

func (r *readyz) get(t *testing.T) (int, string) {
	t.Helper()
	resp, err := r.hc.Get(r.url + "?verbose")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// await polls /readyz until it answers want and fails the test unless that took at
// most one check interval plus one check timeout. The registry runs on the real
// clock over a real database, with no hook to wait on: polling is the probe's view.
func (r *readyz) await(t *testing.T, want int, what string) time.Duration {
	t.Helper()
	const bound = readyInterval + readyTimeout
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body := r.get(t)
		took := time.Since(start)
		if code == want {
			t.Logf("%s: /readyz answered %d after %v", what, want, took.Round(time.Millisecond))
			return took
		}
		if took > bound {
			t.Fatalf("%s: GET /readyz = %d %s after %v, want %d within the check interval %v plus its timeout %v",
				what, code, body, took.Round(time.Millisecond), want, readyInterval, readyTimeout)
		}
		<-tick.C
	}
}

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
	ready := startReadyz(t, "catalog", be.Check)

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
	ready.await(t, http.StatusServiceUnavailable, "full volume")
	// The restocker (cmd/shop -restock) gets the same typed error, not a driver string.
	if _, err := be.Repository.Restock(t.Context(), 1000, 1000); !errors.Is(err, sqlitedb.ErrUnavailable) {
		t.Errorf("full volume: Restock = %v, want sqlitedb.ErrUnavailable", err)
	}

	vol.Free()
	ready.await(t, http.StatusOK, "volume freed")
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
	ready := startReadyz(t, "catalog", be.Check)
	down := reserveBody("o-down", catalog.Item{ProductID: "p03", Quantity: 1})

	srv.Stop()
	ready.await(t, http.StatusServiceUnavailable, "database stopped")
	if err := be.Check.Func(t.Context()); !errors.Is(err, pgdb.ErrUnavailable) {
		t.Errorf("database stopped: readiness check = %v, want pgdb.ErrUnavailable", err)
	}
	if r := e.do(t, http.MethodPost, "/reservations", down); r.status != http.StatusServiceUnavailable {
		t.Errorf("database stopped: reserve = %d %s, want 503", r.status, r.body)
	}

	srv.Restart()
	ready.await(t, http.StatusOK, "database restarted")
	if r := e.do(t, http.MethodPost, "/reservations", down); r.status != http.StatusCreated {
		t.Errorf("database restarted: reserve o-down = %d %s, want 201", r.status, r.body)
	}
	if l := e.inventory(t)["p03"]; l.Held != 1 {
		t.Errorf("p03 after the outage = %+v, want 1 held", l)
	}
}
