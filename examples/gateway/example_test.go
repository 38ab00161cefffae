package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gantry-go/gantry/examples/gateway"
)

func ExampleResolve() {
	for _, p := range []string{"/api/products/p01", "/api/carts/c1/checkout", "/admin"} {
		up, path, ok := gateway.Resolve(p)
		fmt.Println(up, path, ok)
	}
	// Output:
	// catalog /products/p01 true
	// cart /carts/c1/checkout true
	//   false
}

// ExampleNewHandler proxies to an upstream given by URL; in the shop the upstreams
// are discovery names (http://catalog) resolved by the RoundTripper.
func ExampleNewHandler() {
	catalog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "catalog saw %s %s", r.Method, r.URL.Path)
	}))
	defer catalog.Close()
	h, err := gateway.NewHandler(http.DefaultTransport, gateway.Upstreams{Catalog: catalog.URL}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	gw := httptest.NewServer(h)
	defer gw.Close()

	resp, _ := http.Get(gw.URL + "/api/products/p01")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 catalog saw GET /products/p01
}

func ExampleCriticality() {
	h := gateway.Criticality()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Gantry-Criticality"))
	}))
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodPost, "/api/carts/c1/checkout", nil),
		httptest.NewRequest(http.MethodGet, "/api/products", nil),
		httptest.NewRequest(http.MethodPut, "/api/carts/c1/items/p01", nil),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Printf("%s %s: %q\n", r.Method, r.URL.Path, rec.Body.String())
	}
	// Output:
	// POST /api/carts/c1/checkout: "critical"
	// GET /api/products: "sheddable"
	// PUT /api/carts/c1/items/p01: ""
}
