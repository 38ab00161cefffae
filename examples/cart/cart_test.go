package cart_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/examples/internal/shoptest"
)

type result struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, hc *http.Client, method, url, body string, hdr ...string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

func decode[T any](t testing.TB, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

type cartJSON struct {
	ID    string `json:"id"`
	Items []struct {
		ProductID  string `json:"product_id"`
		Quantity   int    `json:"quantity"`
		PriceCents int64  `json:"price_cents"`
	} `json:"items"`
	TotalCents int64 `json:"total_cents"`
}

type problemJSON struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// newCartWithCatalog starts a real catalog and a cart that talks to it through
// discovery; payment is absent (unknown service).
func newCartWithCatalog(t *testing.T) (*shoptest.Catalog, *shoptest.Cart) {
	cat := shoptest.StartCatalog(t, nil)
	hc := shoptest.NewClient(t, shoptest.StaticResolver(t, map[string]string{"catalog": cat.URL}), 2*time.Second)
	c := shoptest.StartCart(t, shoptest.CartOptions{Client: hc})
	return cat, c
}

func TestCartItemsArePricedFromCatalog(t *testing.T) {
	_, c := newCartWithCatalog(t)
	hc := c.Server.Client()
	base := c.URL + "/carts/c1"

	if r := do(t, hc, http.MethodPut, base+"/items/p01", `{"quantity":2}`); r.status != http.StatusOK {
		t.Fatalf("PUT p01 = %d %s, want 200", r.status, r.body)
	}
	r := do(t, hc, http.MethodPut, base+"/items/p04", `{"quantity":3}`)
	if r.status != http.StatusOK {
		t.Fatalf("PUT p04 = %d %s, want 200", r.status, r.body)
	}
	got := decode[cartJSON](t, r)
	if got.TotalCents != 2*2490+3*650 || len(got.Items) != 2 {
		t.Errorf("PUT p04 cart = %+v, want 2 items totalling %d", got, 2*2490+3*650)
	}

	// Setting a quantity replaces it.
	do(t, hc, http.MethodPut, base+"/items/p01", `{"quantity":1}`)
	got = decode[cartJSON](t, do(t, hc, http.MethodGet, base, ""))
	if got.TotalCents != 2490+3*650 {
		t.Errorf("GET cart total = %d, want %d", got.TotalCents, 2490+3*650)
	}

	if r := do(t, hc, http.MethodDelete, base+"/items/p01", ""); r.status != http.StatusOK {
		t.Fatalf("DELETE p01 = %d %s, want 200", r.status, r.body)
	}
	got = decode[cartJSON](t, do(t, hc, http.MethodGet, base, ""))
	if len(got.Items) != 1 || got.Items[0].ProductID != "p04" || got.Items[0].PriceCents != 650 {
		t.Errorf("GET cart after DELETE = %+v, want only p04 at 650", got)
	}

	// A cart exists from its first line on, and stays when emptied; one never used
	// is not found.
	do(t, hc, http.MethodDelete, base+"/items/p04", "")
	empty := decode[cartJSON](t, do(t, hc, http.MethodGet, base, ""))
	if diff := cmp.Diff(cartJSON{ID: "c1", Items: empty.Items}, empty); diff != "" || len(empty.Items) != 0 {
		t.Errorf("GET emptied cart = %+v, want an empty cart", empty)
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		path := c.URL + "/carts/never-used"
		if m == http.MethodDelete {
			path += "/items/p01"
		}
		if r := do(t, hc, m, path, ""); r.status != http.StatusNotFound {
			t.Errorf("%s %s = %d %s, want 404", m, path, r.status, r.body)
		}
	}
}

func TestCartRejectsBadInputWithProblems(t *testing.T) {
	_, c := newCartWithCatalog(t)
	hc := c.Server.Client()
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
	}{
		{"unknown product", http.MethodPut, "/carts/c1/items/nope", `{"quantity":1}`, nil, http.StatusNotFound},
		{"zero quantity", http.MethodPut, "/carts/c1/items/p01", `{"quantity":0}`, nil, http.StatusBadRequest},
		{"huge quantity", http.MethodPut, "/carts/c1/items/p01", `{"quantity":100000}`, nil, http.StatusBadRequest},
		{"missing quantity", http.MethodPut, "/carts/c1/items/p01", `{}`, nil, http.StatusBadRequest},
		{"unknown field", http.MethodPut, "/carts/c1/items/p01", `{"quantity":1,"price_cents":1}`, nil, http.StatusBadRequest},
		{"not json", http.MethodPut, "/carts/c1/items/p01", `quantity=1`, nil, http.StatusBadRequest},
		{"trailing data", http.MethodPut, "/carts/c1/items/p01", `{"quantity":1}{}`, nil, http.StatusBadRequest},
		{"bad cart id", http.MethodGet, "/carts/%20x", "", nil, http.StatusBadRequest},
		{"checkout without key", http.MethodPost, "/carts/c1/checkout", "", nil, http.StatusBadRequest},
		{"checkout empty cart", http.MethodPost, "/carts/emptied/checkout", "", []string{"Idempotency-Key", "k-1"}, http.StatusConflict},
		{"checkout unknown cart", http.MethodPost, "/carts/never-used/checkout", "", []string{"Idempotency-Key", "k-2"}, http.StatusNotFound},
		{"unknown order", http.MethodGet, "/orders/ord_nope", "", nil, http.StatusNotFound},
		{"wrong method", http.MethodPatch, "/carts/c1", "", nil, http.StatusMethodNotAllowed},
	}
	do(t, hc, http.MethodPut, c.URL+"/carts/emptied/items/p01", `{"quantity":1}`)
	do(t, hc, http.MethodDelete, c.URL+"/carts/emptied/items/p01", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, hc, tt.method, c.URL+tt.path, tt.body, tt.hdr...)
			if r.status != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, r.status, r.body, tt.want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s %s Content-Type = %q, want application/problem+json", tt.method, tt.path, ct)
			}
			if p := decode[problemJSON](t, r); p.Status != tt.want {
				t.Errorf("%s %s problem status = %d, want %d", tt.method, tt.path, p.Status, tt.want)
			}
		})
	}
}

func TestCartAnswers503WhenCatalogIsDown(t *testing.T) {
	cat, c := newCartWithCatalog(t)
	cat.Server.Close()
	r := do(t, c.Server.Client(), http.MethodPut, c.URL+"/carts/c1/items/p01", `{"quantity":1}`)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("PUT with catalog down = %d (Retry-After %q) %s, want 503 with Retry-After", r.status, r.header.Get("Retry-After"), r.body)
	}
	if strings.Contains(string(r.body), "127.0.0.1") {
		t.Errorf("503 body leaks an address: %s", r.body)
	}
}
