package catalog_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/pgdb"
	"github.com/gantry-go/gantry/examples/internal/pgtest"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// TestReplicasShareOnePostgres: catalog replicas on one PostgreSQL database (each its
// own pool, as on separate hosts) start at once and migrate and seed it once; racing
// reservations of one order make one hold, and racing reservations of scarce stock
// never oversell.
func TestReplicasShareOnePostgres(t *testing.T) {
	srv := pgtest.NewServer(t)
	url := srv.Database(t)
	const replicas = 4
	stores := make([]catalog.Repository, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			be, err := catalog.OpenStore(context.Background(), url, "", sqlitedb.Settings{})
			errs[i] = err
			if err == nil {
				t.Cleanup(func() { _ = be.Close() })
				stores[i] = be.Repository
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: OpenStore on a fresh database = %v", i, err)
		}
	}
	ctx := t.Context()
	if ps, err := stores[0].ListProducts(ctx); err != nil || len(ps) != 24 {
		t.Fatalf("products after 4 replicas started = %d, %v; want 24 (seeded once)", len(ps), err)
	}

	// The same order from every replica at once (a retried saga step): one hold.
	ids := make([]string, 2*replicas)
	for i := range 2 * replicas {
		wg.Go(func() {
			res, _, err := stores[i%replicas].Reserve(ctx, "o-same", []catalog.Item{{ProductID: "p05", Quantity: 2}}, time.Hour)
			if err != nil {
				t.Errorf("Reserve(o-same) on replica %d = %v, want the one reservation", i%replicas, err)
				return
			}
			ids[i] = res.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("reservations of one order from %d racing calls = %v, want one id", len(ids), ids)
		}
	}
	// 24 orders for the 3 lamps and 2 knock boxes each, across the replicas: 3 held.
	held := 0
	var mu sync.Mutex
	for i := range 24 {
		wg.Go(func() {
			_, _, err := stores[i%replicas].Reserve(ctx, "o-lamp-"+string(rune('A'+i)),
				[]catalog.Item{{ProductID: "p22", Quantity: 1}, {ProductID: "p18", Quantity: 2}}, time.Hour)
			switch {
			case err == nil:
				mu.Lock()
				held++
				mu.Unlock()
			case !errors.Is(err, catalog.ErrInsufficientStock):
				t.Errorf("Reserve(lamp) = %v, want held or ErrInsufficientStock", err)
			}
		})
	}
	wg.Wait()
	inv, err := stores[1].Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range inv {
		if l.Initial != l.Available+l.Held+l.Sold {
			t.Errorf("%s: initial %d != available %d + held %d + sold %d", l.ProductID, l.Initial, l.Available, l.Held, l.Sold)
		}
		switch l.ProductID {
		case "p05":
			if l.Held != 2 {
				t.Errorf("p05 held = %d, want 2 (one reservation of 2)", l.Held)
			}
		case "p22":
			if held != 3 || l.Held != 3 || l.Available != 0 {
				t.Errorf("lamps: %d reservations succeeded, p22 %+v; want 3 held, 0 available", held, l)
			}
		}
	}
}

// TestPostgresDownIsA503: with the database stopped, reads and writes answer 503
// problem+json with Retry-After and no internals, readiness fails with
// pgdb.ErrUnavailable, and both recover by themselves once it is back.
func TestPostgresDownIsA503(t *testing.T) {
	srv := pgtest.NewServer(t)
	be, err := catalog.OpenStore(t.Context(), srv.Database(t), "", sqlitedb.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if be.Check.Name != "postgres" {
		t.Errorf("check = %q, want postgres", be.Check.Name)
	}
	api := httptest.NewServer(catalog.NewHTTPHandler(catalog.NewService(be.Repository), nil))
	defer api.Close()
	e := &env{srv: api}
	if r := e.do(t, http.MethodPost, "/reservations", reserveBody("o-up", catalog.Item{ProductID: "p01", Quantity: 1})); r.status != http.StatusCreated {
		t.Fatalf("reserve with the database up = %d %s", r.status, r.body)
	}
	srv.Stop()
	port := srv.Addr()[strings.LastIndex(srv.Addr(), ":")+1:]
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/products", ""},
		{http.MethodPost, "/reservations", reserveBody("o-down", catalog.Item{ProductID: "p01", Quantity: 1})},
	} {
		r := e.do(t, c.method, c.path, c.body)
		wantProblem(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("database down: %s %s: 503 without Retry-After", c.method, c.path)
		}
		if body := strings.ToLower(string(r.body)); strings.Contains(body, "postgres") || strings.Contains(body, port) || strings.Contains(body, "dial") {
			t.Errorf("database down: %s %s: the problem tells internals: %s", c.method, c.path, r.body)
		}
	}
	if err := be.Check.Func(t.Context()); !errors.Is(err, pgdb.ErrUnavailable) {
		t.Errorf("database down: readiness check = %v, want pgdb.ErrUnavailable", err)
	}
	srv.Restart()
	if err := be.Check.Func(t.Context()); err != nil {
		t.Errorf("database back: readiness check = %v, want nil", err)
	}
	if r := e.do(t, http.MethodPost, "/reservations", reserveBody("o-down", catalog.Item{ProductID: "p01", Quantity: 1})); r.status != http.StatusCreated {
		t.Errorf("database back: reserve = %d %s, want 201", r.status, r.body)
	}
}

// TestOpenStoreErrorsNameTheVariable: a malformed DATABASE_URL and an unreachable
// server are start-up errors naming DATABASE_URL, never the password.
func TestOpenStoreErrorsNameTheVariable(t *testing.T) {
	for _, url := range []string{"postgres://u:hunter2@127.0.0.1:1:bad/db", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2"} {
		_, err := catalog.OpenStore(t.Context(), url, "", sqlitedb.Settings{})
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("OpenStore(%q) = %v, want an error naming DATABASE_URL and not the password", url, err)
		}
	}
}
