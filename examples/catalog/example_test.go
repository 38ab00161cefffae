package catalog_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// The catalog runs in-process on a loopback listener: open the database, build the
// store, the service and the HTTP handler, and serve it.
func ExampleNewHTTPHandler() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "catalog")
	defer os.RemoveAll(dir)
	db, err := sqlitedb.Open(ctx, filepath.Join(dir, "catalog.db"), sqlitedb.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	store, err := catalog.NewStore(ctx, db) // migrates and seeds on first start
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(catalog.NewHTTPHandler(catalog.NewService(store), nil))
	defer srv.Close()

	reserve := func() {
		resp, err := http.Post(srv.URL+"/reservations", "application/json",
			strings.NewReader(`{"order_id":"order-1","items":[{"product_id":"p22","quantity":2}]}`))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		fmt.Println(strings.TrimSpace(resp.Status + " " + resp.Header.Get("Idempotent-Replayed")))
	}
	reserve()
	reserve() // the same order again: the same reservation, nothing more held

	resp, _ := http.Get(srv.URL + "/products/p22")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	// Output:
	// 201 Created
	// 200 OK true
	// {"id":"p22","name":"Last-Chance Lamp","price_cents":8800,"currency":"USD","stock":1}
}

// A Service can be used without HTTP, e.g. from a test or another transport.
func ExampleNewService() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "catalog")
	defer os.RemoveAll(dir)
	db, _ := sqlitedb.Open(ctx, filepath.Join(dir, "catalog.db"), sqlitedb.Settings{})
	defer db.Close()
	store, _ := catalog.NewStore(ctx, db)
	svc := catalog.NewService(store)

	res, created, _ := svc.Reserve(ctx, "order-7", []catalog.Item{{ProductID: "p01", Quantity: 3}})
	fmt.Println(res.Status, created)
	_, err := svc.Confirm(ctx, res.ID)
	fmt.Println(err)
	_, _, err = svc.Reserve(ctx, "order-8", []catalog.Item{{ProductID: "p22", Quantity: 99}})
	fmt.Println(err)
	levels, _ := svc.Inventory(ctx)
	fmt.Printf("%+v\n", levels[0])
	// Output:
	// held true
	// <nil>
	// catalog: insufficient stock: product "p22": 99 requested
	// {ProductID:p01 Initial:100 Available:97 Held:0 Sold:3}
}

// The go-kit endpoints can be called directly, or wrapped in endpoint middleware
// before a transport serves them.
func ExampleMakeEndpoints() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "catalog")
	defer os.RemoveAll(dir)
	db, _ := sqlitedb.Open(ctx, filepath.Join(dir, "catalog.db"), sqlitedb.Settings{})
	defer db.Close()
	store, _ := catalog.NewStore(ctx, db)
	e := catalog.MakeEndpoints(catalog.NewService(store))

	resp, err := e.Reserve(ctx, catalog.ReserveRequest{OrderID: "o-1", Items: []catalog.Item{{ProductID: "p02", Quantity: 1}}})
	r := resp.(catalog.ReserveResponse)
	fmt.Println(r.Status, r.StatusCode(), err)
	// Output: held 201 <nil>
}
