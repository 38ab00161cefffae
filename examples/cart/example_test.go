package cart_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/examples/payment"
)

// ExampleNewShop wires a cart to real catalog and payment servers and checks out
// twice with one Idempotency-Key: one order, one charge.
func ExampleNewShop() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cart-example")
	defer os.RemoveAll(dir)

	catDB, _ := sqlitedb.Open(ctx, filepath.Join(dir, "catalog.db"), sqlitedb.Settings{})
	defer catDB.Close()
	catStore, _ := catalog.NewStore(ctx, catDB)
	catSrv := httptest.NewServer(catalog.NewHTTPHandler(catalog.NewService(catStore), nil))
	defer catSrv.Close()

	payDB, _ := sqlitedb.Open(ctx, filepath.Join(dir, "payment.db"), sqlitedb.Settings{})
	defer payDB.Close()
	payStore, _ := payment.NewStore(ctx, payDB)
	paySrv := httptest.NewServer(payment.NewHTTPHandler(payment.NewService(payStore, payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil), payment.Settings{}), nil))
	defer paySrv.Close()

	cartDB, _ := sqlitedb.Open(ctx, filepath.Join(dir, "cart.db"), sqlitedb.Settings{})
	defer cartDB.Close()
	store, _ := cart.NewStore(ctx, cartDB, nil)
	// In a service, this client is gantry.NewClient's HTTP: tracing, retries, breakers
	// and discovery resolving http://catalog and http://payment.
	hc := http.DefaultClient
	shop := cart.NewShop(store, cart.NewCatalogClient(hc, catSrv.URL), cart.NewPaymentClient(hc, paySrv.URL), cart.Settings{})

	if _, err := shop.PutItem(ctx, "alice", "c1", "p01", 2); err != nil {
		fmt.Println(err)
		return
	}
	first, err := shop.Checkout(ctx, "alice", "c1", "order-1")
	fmt.Println(first.Status, first.TotalCents, err)
	again, err := shop.Checkout(ctx, "alice", "c1", "order-1")
	fmt.Println(again.ID == first.ID, again.Replayed, err)
	// Output:
	// paid 4980 <nil>
	// true true <nil>
}

func ExampleChargeKey() {
	fmt.Println(cart.ChargeKey("ord_42"))
	// Output: charge-ord_42
}

// ExampleNewHTTPHandler serves the cart's API; errors are problem+json.
func ExampleNewHTTPHandler() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cart-example")
	defer os.RemoveAll(dir)
	db, _ := sqlitedb.Open(ctx, filepath.Join(dir, "cart.db"), sqlitedb.Settings{})
	defer db.Close()
	store, _ := cart.NewStore(ctx, db, nil)
	shop := cart.NewShop(store, cart.NewCatalogClient(http.DefaultClient, "http://catalog"),
		cart.NewPaymentClient(http.DefaultClient, "http://payment"), cart.Settings{})
	srv := httptest.NewServer(cart.NewHTTPHandler(cart.MakeEndpoints(shop), nil))
	defer srv.Close()

	resp, _ := http.Post(srv.URL+"/carts/c1/checkout", "application/json", nil)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	// Output: 400 application/problem+json
}

// ExampleNewRecoverer sweeps once; in a service, gantry.Run runs it in the
// background (it sweeps on start and every Interval).
func ExampleNewRecoverer() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cart-example")
	defer os.RemoveAll(dir)
	db, _ := sqlitedb.Open(ctx, filepath.Join(dir, "cart.db"), sqlitedb.Settings{})
	defer db.Close()
	store, _ := cart.NewStore(ctx, db, nil)
	shop := cart.NewShop(store, cart.NewCatalogClient(http.DefaultClient, "http://catalog"),
		cart.NewPaymentClient(http.DefaultClient, "http://payment"), cart.Settings{})
	r := cart.NewRecoverer(shop, cart.RecoverySettings{Interval: time.Minute}, nil)
	res, err := r.Sweep(ctx)
	fmt.Printf("%+v %v\n", res, err)
	// Output: {Examined:0 Finished:0 StillPending:0} <nil>
}
