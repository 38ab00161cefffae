package gateway_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/gateway"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
)

// FuzzGatewayHTTP sends arbitrary methods, paths and bodies through the gateway to
// real catalog, cart and payment servers: never a 5xx, never a panic, and every
// error is application/problem+json.
func FuzzGatewayHTTP(f *testing.F) {
	cat := shoptest.StartCatalog(f, nil)
	pay := shoptest.StartPayment(f, nil, nil)
	hc := shoptest.NewClient(f, shoptest.StaticResolver(f, map[string]string{"catalog": cat.URL, "payment": pay.URL}), 5*time.Second)
	c := shoptest.StartCart(f, shoptest.CartOptions{Client: hc})
	h, err := gateway.NewHandler(http.DefaultTransport, gateway.Upstreams{Catalog: cat.URL, Cart: c.URL}, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct {
		m, p string
		b    []byte
	}{
		{"GET", "/api/products", nil},
		{"GET", "/api/products/p01", nil},
		{"GET", "/api/products/%00", nil},
		{"PUT", "/api/carts/c1/items/p01", []byte(`{"quantity":1}`)},
		{"PUT", "/api/carts/c1/items/p01", []byte(`{"quantity":1,"x":2}`)},
		{"POST", "/api/carts/c1/checkout", nil},
		{"GET", "/api/orders/..%2f..%2fetc", nil},
		{"DELETE", "/api/products", nil},
		{"GET", "/api/carts//items/", nil},
		{"BREW", "/api", []byte("{")},
	} {
		f.Add(s.m, s.p, s.b)
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		req, err := http.NewRequest(method, "http://gateway"+path, bytes.NewReader(body))
		if err != nil || req.URL.Host != "gateway" {
			t.Skip()
		}
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q body %q = %d %s, want < 500", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %q = %d with Content-Type %q, want application/problem+json", method, path, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
}
