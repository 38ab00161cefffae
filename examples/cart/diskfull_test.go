package cart_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/pgdb"
	"github.com/gantry-go/gantry/examples/internal/pgtest"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// wantUnavailable fails unless r is a 503 problem+json with Retry-After whose body
// names neither the volume nor SQLite.
func wantUnavailable(t *testing.T, what string, r result, dir string) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != "application/problem+json" || r.header.Get("Retry-After") == "" {
		t.Errorf("%s = %d %s (Content-Type %q, Retry-After %q), want 503 problem+json with Retry-After",
			what, r.status, r.body, r.header.Get("Content-Type"), r.header.Get("Retry-After"))
	}
	if body := strings.ToLower(string(r.body)); strings.Contains(body, strings.ToLower(dir)) || strings.Contains(body, "sqlite") || strings.Contains(body, "cart.db") {
		t.Errorf("%s: the problem tells internals: %s", what, r.body)
	}
}

// TestCartFullVolumeIs503: when the cart's SQLite volume (a real 2 MiB tmpfs) fills
// up, putting an item and checking out are retryable 503 problems that tell nothing
// of the file, and nothing is reserved or charged; the write probe fails with
// sqlitedb.ErrUnavailable and /readyz answers 503 within the check interval. Once
// there is room again, with no restart, /readyz is 200 by itself, and the checkout
// retried with the same key makes one order, one charge and sells the stock once.
func TestCartFullVolumeIs503(t *testing.T) {
	e := newShopEnv(t, nil) // catalog and payment
	vol := shoptest.MountVolume(t, 2048)
	be, err := cart.OpenStore(t.Context(), "", filepath.Join(vol.Dir, "cart.db"), sqlitedb.Settings{}, nil)
	if err != nil {
		t.Fatalf("cart.OpenStore() = %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	if be.Check.Name != "sqlite" {
		t.Errorf("check = %q, want sqlite", be.Check.Name)
	}
	shop := cart.NewShop(be.Repository, cart.NewCatalogClient(e.hcUp, "http://catalog"), cart.NewPaymentClient(e.hcUp, "http://payment"), cart.Settings{})
	api := httptest.NewServer(cart.NewHTTPHandler(cart.MakeEndpoints(shop), nil))
	t.Cleanup(api.Close)
	ready := shoptest.StartReadyz(t, "cart", be.Check)
	put := func(cartID, product string) result {
		return do(t, api.Client(), http.MethodPut, api.URL+"/carts/"+cartID+"/items/"+product, `{"quantity":1}`)
	}
	checkout := func(cartID, key string) result {
		return do(t, api.Client(), http.MethodPost, api.URL+"/carts/"+cartID+"/checkout", "", "Idempotency-Key", key)
	}

	if r := put("c-ok", "p01"); r.status != http.StatusOK {
		t.Fatalf("PUT on a healthy volume = %d %s, want 200", r.status, r.body)
	}
	if r := checkout("c-ok", "k-ok"); r.status != http.StatusCreated {
		t.Fatalf("checkout on a healthy volume = %d %s, want 201", r.status, r.body)
	}
	if r := put("c-full", "p02"); r.status != http.StatusOK {
		t.Fatalf("PUT on a healthy volume = %d %s, want 200", r.status, r.body)
	}
	charges := e.charges.Load()

	vol.Fill()
	wantUnavailable(t, "full volume: PUT /carts/c-full/items/p03", put("c-full", "p03"), vol.Dir)
	wantUnavailable(t, "full volume: checkout", checkout("c-full", "k-full"), vol.Dir)
	if err := be.Check.Func(t.Context()); !errors.Is(err, sqlitedb.ErrUnavailable) {
		t.Errorf("full volume: readiness check = %v, want sqlitedb.ErrUnavailable", err)
	}
	ready.Await(t, http.StatusServiceUnavailable, "full volume")
	if n := e.charges.Load() - charges; n != 0 {
		t.Errorf("full volume: %d charges reached payment, want 0", n)
	}
	if s := e.stock(t, "p02"); s.Held != 0 || s.Sold != 0 {
		t.Errorf("full volume: p02 stock = %+v, want nothing held or sold", s)
	}

	vol.Free()
	ready.Await(t, http.StatusOK, "volume freed")
	if err := be.Check.Func(t.Context()); err != nil {
		t.Errorf("volume freed: readiness check = %v, want nil", err)
	}
	if r := put("c-full", "p03"); r.status != http.StatusOK {
		t.Fatalf("volume freed: PUT p03 again = %d %s, want 200", r.status, r.body)
	}
	r := checkout("c-full", "k-full")
	if r.status != http.StatusCreated {
		t.Fatalf("volume freed: checkout with the same key = %d %s, want 201", r.status, r.body)
	}
	got := decode[cart.CheckoutBody](t, r)
	if replay := checkout("c-full", "k-full"); replay.status != http.StatusCreated || decode[cart.CheckoutBody](t, replay) != got {
		t.Errorf("volume freed: checkout replay = %d %s, want 201 with the same order %+v", replay.status, replay.body, got)
	}
	if c, _, _ := e.ledger(t, got.OrderID); c != 1 {
		t.Errorf("volume freed: captured payments for the order = %d, want 1", c)
	}
	for _, p := range []string{"p02", "p03"} {
		if s := e.stock(t, p); s.Sold != 1 || s.Held != 0 {
			t.Errorf("volume freed: %s stock = %+v, want 1 sold, 0 held", p, s)
		}
	}
	orders, err := be.Repository.Orders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 2 {
		t.Errorf("orders = %d (%+v), want 2: c-ok's and c-full's, once each", len(orders), orders)
	}
}

// TestCartPostgresDownFailsReadyz: with the cart's PostgreSQL stopped, the admin
// server's /readyz answers 503 within the check interval, and 200 again by itself
// once the server is back; the item refused meanwhile is then put. (The API's 503
// problems are TestCartPostgresDownIsA503's.)
func TestCartPostgresDownFailsReadyz(t *testing.T) {
	srv := pgtest.NewServer(t)
	e := newShopEnv(t, nil) // catalog and payment
	be, err := cart.OpenStore(t.Context(), srv.Database(t), "", sqlitedb.Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.Close() })
	shop := cart.NewShop(be.Repository, cart.NewCatalogClient(e.hcUp, "http://catalog"), cart.NewPaymentClient(e.hcUp, "http://payment"), cart.Settings{})
	api := httptest.NewServer(cart.NewHTTPHandler(cart.MakeEndpoints(shop), nil))
	t.Cleanup(api.Close)
	ready := shoptest.StartReadyz(t, "cart", be.Check)
	put := func() result {
		return do(t, api.Client(), http.MethodPut, api.URL+"/carts/c1/items/p01", `{"quantity":1}`)
	}

	srv.Stop()
	ready.Await(t, http.StatusServiceUnavailable, "database stopped")
	if err := be.Check.Func(t.Context()); !errors.Is(err, pgdb.ErrUnavailable) {
		t.Errorf("database stopped: readiness check = %v, want pgdb.ErrUnavailable", err)
	}
	if r := put(); r.status != http.StatusServiceUnavailable {
		t.Errorf("database stopped: PUT = %d %s, want 503", r.status, r.body)
	}

	srv.Restart()
	ready.Await(t, http.StatusOK, "database restarted")
	if r := put(); r.status != http.StatusOK {
		t.Errorf("database restarted: PUT = %d %s, want 200", r.status, r.body)
	}
}
