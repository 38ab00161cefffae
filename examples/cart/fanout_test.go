package cart_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/internal/shoptest"
)

// TestCartReadIsOneCatalogCall: reading a cart of 24 lines prices them with one
// catalog call, not one per line in sequence (500 reads of a 24-line cart used to be
// 12,000 catalog calls), and so does changing a line.
func TestCartReadIsOneCatalogCall(t *testing.T) {
	var calls atomic.Int64
	cat := shoptest.StartCatalog(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			h.ServeHTTP(w, r)
		})
	})
	pay := shoptest.StartPayment(t, nil, nil)
	hc := shoptest.NewClient(t, shoptest.StaticResolver(t, map[string]string{"catalog": cat.URL, "payment": pay.URL}), 5*time.Second)
	c := shoptest.StartCart(t, shoptest.CartOptions{Client: hc})
	client := c.Server.Client()
	for i := 1; i <= 24; i++ {
		if r := do(t, client, http.MethodPut, fmt.Sprintf("%s/carts/big/items/p%02d", c.URL, i), `{"quantity":1}`); r.status != http.StatusOK {
			t.Fatalf("PUT p%02d = %d %s", i, r.status, r.body)
		}
	}
	before := calls.Load()
	r := do(t, client, http.MethodGet, c.URL+"/carts/big", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET cart = %d %s", r.status, r.body)
	}
	var got struct {
		Items      []struct{ ProductID string } `json:"items"`
		TotalCents int64                        `json:"total_cents"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load() - before; n != 1 {
		t.Errorf("GET of a 24-line cart made %d catalog calls, want 1", n)
	}
	if len(got.Items) != 24 || got.TotalCents <= 0 {
		t.Errorf("cart = %d lines, total %d; want 24 priced lines", len(got.Items), got.TotalCents)
	}
	// Changing a line checks and prices the whole cart with one catalog call too.
	before = calls.Load()
	if r := do(t, client, http.MethodPut, c.URL+"/carts/big/items/p05", `{"quantity":3}`); r.status != http.StatusOK {
		t.Fatalf("PUT p05 = %d %s", r.status, r.body)
	}
	if n := calls.Load() - before; n != 1 {
		t.Errorf("PUT into a 24-line cart made %d catalog calls, want 1", n)
	}
}
