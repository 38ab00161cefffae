package cart_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
)

// FuzzCartHTTP sends arbitrary requests to the cart's HTTP API, backed by real
// catalog and payment servers: whatever the input, the answer is never a 5xx and
// never a panic, and every error is application/problem+json.
func FuzzCartHTTP(f *testing.F) {
	cat := shoptest.StartCatalog(f, nil)
	pay := shoptest.StartPayment(f, nil, nil)
	hc := shoptest.NewClient(f, shoptest.StaticResolver(f, map[string]string{"catalog": cat.URL, "payment": pay.URL}), 5*time.Second)
	c := shoptest.StartCart(f, shoptest.CartOptions{Client: hc})
	h := cart.NewHTTPHandler(cart.MakeEndpoints(c.Shop), nil)

	f.Add(uint8(0), "c1", "p01", []byte(`{"quantity":2}`), "")
	f.Add(uint8(0), "c1", "p01", []byte(`{"quantity":-1}`), "")
	f.Add(uint8(0), "c1", "p01", []byte(`{"quantity":1e9}`), "")
	f.Add(uint8(0), "c1", "p01", []byte(`{"quantity":"2"}`), "")
	f.Add(uint8(0), "c1", "nope", []byte(`{"quantity":1}`), "")
	f.Add(uint8(0), "c 1", "p01", []byte(`{"quantity":1}`), "")
	f.Add(uint8(0), "c1", "p01", []byte(`[`), "")
	f.Add(uint8(1), "c1", "p01", []byte(nil), "")
	f.Add(uint8(2), "c1", "", []byte(nil), "")
	f.Add(uint8(3), "c1", "", []byte(nil), "k1")
	f.Add(uint8(3), "c1", "", []byte(`{"x":1}`), "k1")
	f.Add(uint8(3), "c1", "", []byte(nil), "k\x00")
	f.Add(uint8(4), "ord_x", "", []byte(nil), "")
	f.Add(uint8(5), "../../etc", "%zz", []byte(`{}`), "")
	f.Fuzz(func(t *testing.T, kind uint8, a, b string, body []byte, key string) {
		var method, path string
		switch kind % 6 {
		case 0:
			method, path = http.MethodPut, "/carts/"+url.PathEscape(a)+"/items/"+url.PathEscape(b)
		case 1:
			method, path = http.MethodDelete, "/carts/"+url.PathEscape(a)+"/items/"+url.PathEscape(b)
		case 2:
			method, path = http.MethodGet, "/carts/"+url.PathEscape(a)
		case 3:
			method, path = http.MethodPost, "/carts/"+url.PathEscape(a)+"/checkout"
		case 4:
			method, path = http.MethodGet, "/orders/"+url.PathEscape(a)
		default:
			method, path = http.MethodPatch, "/"+a+"/"+b
		}
		req, err := http.NewRequest(method, "http://cart"+path, bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header["Idempotency-Key"] = []string{key}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s body %q key %q = %d %s, want < 500", method, path, body, key, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s = %d with Content-Type %q, want application/problem+json", method, path, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
}

// FuzzOwner feeds arbitrary Gantry-Principal headers to Owner (the cart serves plain
// HTTP here, so it trusts its network): it never panics, and an accepted owner is
// the header itself, 1-255 printable ASCII characters without spaces.
func FuzzOwner(f *testing.F) {
	for _, s := range []string{"alice", "", " ", "auth0|123", "a b", "ü", string(make([]byte, 300)), "x\x00"} {
		f.Add(s, false)
	}
	f.Add("alice", true)
	f.Fuzz(func(t *testing.T, v string, twice bool) {
		req := httptest.NewRequest(http.MethodGet, "http://cart/carts/c1", nil)
		req.Header["Gantry-Principal"] = []string{v}
		if twice {
			req.Header["Gantry-Principal"] = append(req.Header["Gantry-Principal"], v)
		}
		got, err := cart.Owner(req)
		if err != nil {
			return
		}
		if twice || got != v || len(got) == 0 || len(got) > cart.MaxOwnerLength {
			t.Fatalf("Owner(%q, twice %v) = %q, want an error or the value itself", v, twice, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] <= ' ' || got[i] > '~' {
				t.Fatalf("Owner(%q) accepted byte %#x", v, got[i])
			}
		}
	})
}
