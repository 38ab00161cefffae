package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/resilience"
)

// TestConcurrentCheckoutsOfOneCartChargeOnce: ten checkouts of one cart at once, each
// with its own Idempotency-Key (a double click, two tabs), make exactly one order and
// one charge; the others are told which order holds the cart (409 naming it). Filling
// the cart again afterwards makes a cart that can be ordered again, once.
func TestConcurrentCheckoutsOfOneCartChargeOnce(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: resilience.RateLimitSettings{KeyRate: 10000, KeyBurst: 10000}})
	tok, err := s.Token(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if a := call(t, s, tok, "PUT", "/api/carts/mug/items/p02", `{"quantity":1}`); a.status != http.StatusOK {
		t.Fatalf("PUT item = %d %s", a.status, a.body)
	}
	const n = 10
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answers[i] = call(t, s, tok, "POST", "/api/carts/mug/checkout", "", "Idempotency-Key", fmt.Sprintf("tab-%d", i))
		})
	}
	wg.Wait()
	var orderID string
	created, conflicts := 0, 0
	for _, a := range answers {
		switch a.status {
		case http.StatusCreated:
			created++
			var o struct {
				OrderID string `json:"order_id"`
			}
			if err := json.Unmarshal([]byte(a.body), &o); err != nil {
				t.Fatal(err)
			}
			orderID = o.OrderID
		case http.StatusConflict:
			conflicts++
		default:
			t.Errorf("checkout = %d %s, want 201 or 409", a.status, a.body)
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("%d concurrent checkouts of one cart: %d created, %d conflicts; want 1 and %d", n, created, conflicts, n-1)
	}
	for _, a := range answers {
		if a.status == http.StatusConflict && !strings.Contains(a.body, orderID) {
			t.Errorf("409 = %s, want it to name the order %s", a.body, orderID)
		}
	}
	charges := func(order string) int {
		t.Helper()
		resp, err := s.Operator.Get(s.URLs["payment"] + "/payments?order_id=" + order)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ps []struct{ Status string }
		if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil {
			t.Fatal(err)
		}
		return len(ps)
	}
	if got := charges(orderID); got != 1 {
		t.Errorf("payments for %s = %d, want 1", orderID, got)
	}

	// The same cart again with a new key: no second order (a paid order empties its
	// cart, so it is 409 either way).
	if a := call(t, s, tok, "POST", "/api/carts/mug/checkout", "", "Idempotency-Key", "later"); a.status != http.StatusConflict {
		t.Errorf("checkout of the paid cart = %d %s, want 409", a.status, a.body)
	}
	// Edited, it is a new cart version: one more order, and only one.
	if a := call(t, s, tok, "PUT", "/api/carts/mug/items/p02", `{"quantity":2}`); a.status != http.StatusOK {
		t.Fatalf("PUT item after checkout = %d %s", a.status, a.body)
	}
	second := call(t, s, tok, "POST", "/api/carts/mug/checkout", "", "Idempotency-Key", "after-edit")
	if second.status != http.StatusCreated || strings.Contains(second.body, orderID) {
		t.Fatalf("checkout after an edit = %d %s, want a new order", second.status, second.body)
	}
	if a := call(t, s, tok, "POST", "/api/carts/mug/checkout", "", "Idempotency-Key", "after-edit-2"); a.status != http.StatusConflict {
		t.Errorf("second checkout after the edit = %d %s, want 409", a.status, a.body)
	}
	// A replay of the first key still answers the first order.
	if a := call(t, s, tok, "POST", "/api/carts/mug/checkout", "", "Idempotency-Key", answersKey(answers)); a.status != http.StatusCreated || !strings.Contains(a.body, orderID) {
		t.Errorf("replay of the winning key = %d %s, want 201 with %s", a.status, a.body, orderID)
	}
}

// answersKey returns the key of the checkout that was created.
func answersKey(answers []answer) string {
	for i, a := range answers {
		if a.status == http.StatusCreated {
			return fmt.Sprintf("tab-%d", i)
		}
	}
	return ""
}
