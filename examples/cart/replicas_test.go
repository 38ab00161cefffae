package cart_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/pgdb"
	"github.com/gantry-go/gantry/examples/internal/pgtest"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/resilience"
)

// replica starts a second cart on e's database (a PostgreSQL URL), calling e's catalog
// and payment: another host's replica.
func (e *shopEnv) replica(t *testing.T, databaseURL string) *shoptest.Cart {
	t.Helper()
	return shoptest.StartCart(t, shoptest.CartOptions{Client: e.hcUp, DatabaseURL: databaseURL,
		Settings: cart.Settings{CancelAfter: time.Minute}, Recovery: cart.RecoverySettings{MinAge: -1},
		Wrap: resilience.Deadline(resilience.DeadlineSettings{})})
}

// TestCartReplicasOnPostgres: two cart replicas share one PostgreSQL database.
// Concurrent checkouts of one cart with different keys, spread over both, make one
// order and one charge; and both replicas running recovery at once over orders left
// pending by a payment outage drive each order once: exactly one charge call per
// order reaches payment, and every order ends paid with one captured payment.
func TestCartReplicasOnPostgres(t *testing.T) {
	url := pgtest.Start(t)
	e := newShopEnvOn(t, nil, url)
	b := e.replica(t, url)
	carts := []*shoptest.Cart{e.cart, b}

	e.put(t, "mug", "p08", 1)
	const tabs = 10
	statuses := make([]int, tabs)
	var wg sync.WaitGroup
	for i := range tabs {
		wg.Go(func() {
			statuses[i] = do(t, e.hc, http.MethodPost, carts[i%2].URL+"/carts/mug/checkout", "", "Idempotency-Key", fmt.Sprintf("tab-%d", i)).status
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != tabs-1 {
		t.Fatalf("%d checkouts of one cart over two replicas: statuses %v, want one 201 and %d 409", tabs, count, tabs-1)
	}
	if s := e.stock(t, "p08"); s.Sold != 1 {
		t.Errorf("p08 = %+v, want 1 sold", s)
	}

	// Orders left pending at the charge by a payment outage.
	const n = 16
	e.payDown.Store(true)
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		e.put(t, id, "p04", 1)
		if r := e.checkout(t, id, "k-"+id); r.status != http.StatusServiceUnavailable {
			t.Fatalf("checkout %s with payment down = %d %s, want 503", id, r.status, r.body)
		}
	}
	e.payDown.Store(false)
	before := e.charges.Load()
	results := make([]cart.SweepResult, 2)
	for i, c := range carts {
		wg.Go(func() {
			res, err := c.Recoverer.Sweep(context.Background())
			if err != nil {
				t.Errorf("replica %d: Sweep = %v", i, err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	if got := e.charges.Load() - before; got != n {
		t.Errorf("charge calls during the two replicas' recovery = %d, want %d (one per order; sweeps %+v)", got, n, results)
	}
	orders, err := b.Store.Orders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if o.Status != cart.StatusPaid {
			t.Errorf("order %s = %s, want paid", o.ID, o.Status)
			continue
		}
		if c, _, _ := e.ledger(t, o.ID); c != 1 {
			t.Errorf("order %s: %d captured payments, want 1", o.ID, c)
		}
	}
	if len(orders) != n+1 {
		t.Errorf("orders = %d, want %d", len(orders), n+1)
	}
}

// TestCartPostgresDownIsA503: with the cart's database stopped, cart requests answer
// 503 problem+json with Retry-After, readiness fails with pgdb.ErrUnavailable, and
// both recover by themselves; a malformed DATABASE_URL is a start-up error naming
// the variable and not the password.
func TestCartPostgresDownIsA503(t *testing.T) {
	srv := pgtest.NewServer(t)
	e := newShopEnv(t, nil) // catalog and payment
	be, err := cart.OpenStore(t.Context(), srv.Database(t), "", sqlitedb.Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	shop := cart.NewShop(be.Repository, cart.NewCatalogClient(e.hcUp, "http://catalog"), cart.NewPaymentClient(e.hcUp, "http://payment"), cart.Settings{})
	api := httptest.NewServer(cart.NewHTTPHandler(cart.MakeEndpoints(shop), nil))
	defer api.Close()
	put := func() result {
		return do(t, api.Client(), http.MethodPut, api.URL+"/carts/c1/items/p01", `{"quantity":1}`)
	}
	if r := put(); r.status != http.StatusOK {
		t.Fatalf("PUT with the database up = %d %s", r.status, r.body)
	}
	srv.Stop()
	for _, r := range []result{put(), do(t, api.Client(), http.MethodGet, api.URL+"/carts/c1", "")} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("database down: %d (Retry-After %q) %s, want 503 problem+json with Retry-After", r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if err := be.Check.Func(t.Context()); !errors.Is(err, pgdb.ErrUnavailable) {
		t.Errorf("database down: readiness check %s = %v, want pgdb.ErrUnavailable", be.Check.Name, err)
	}
	srv.Restart()
	if err := be.Check.Func(t.Context()); err != nil {
		t.Errorf("database back: readiness check = %v, want nil", err)
	}
	if r := put(); r.status != http.StatusOK {
		t.Errorf("database back: PUT = %d %s, want 200", r.status, r.body)
	}
	_, err = cart.OpenStore(t.Context(), "postgres://u:hunter2@127.0.0.1:1:x/db", "", sqlitedb.Settings{}, nil)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("OpenStore(bad URL) = %v, want an error naming DATABASE_URL and not the password", err)
	}
}
