package cart_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/transport"
)

// as sends a request for user (the Gantry-Principal the gateway sets; the cart
// here serves plain HTTP and trusts its network).
func (e *shopEnv) as(t *testing.T, user, method, path, body string, hdr ...string) result {
	t.Helper()
	return do(t, e.hc, method, e.cart.URL+path, body, append([]string{transport.HeaderPrincipal, user}, hdr...)...)
}

// TestCartsAndOrdersBelongToTheirOwner: bob cannot read, change or check out
// alice's cart, nor read her order; each gets 404, exactly as for a cart or order
// that does not exist, and alice's cart and order are unchanged.
func TestCartsAndOrdersBelongToTheirOwner(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		if r := e.as(t, "alice", "PUT", "/carts/c1/items/p01", `{"quantity":2}`); r.status != 200 {
			t.Fatalf("alice PUT c1/p01 = %d %s", r.status, r.body)
		}
		aliceCart := e.as(t, "alice", "GET", "/carts/c1", "")
		for _, tc := range []struct{ method, path, body string }{
			{"GET", "/carts/c1", ""},
			{"DELETE", "/carts/c1/items/p01", ""},
			{"POST", "/carts/c1/checkout", ""},
		} {
			r := e.as(t, "bob", tc.method, tc.path, tc.body, "Idempotency-Key", "bob-1")
			if r.status != http.StatusNotFound || r.header.Get("Content-Type") != transport.ContentTypeProblem {
				t.Errorf("bob %s %s (alice's cart) = %d %s, want 404 problem+json", tc.method, tc.path, r.status, r.body)
			}
			none := e.as(t, "bob", tc.method, strings.Replace(tc.path, "c1", "c404", 1), tc.body, "Idempotency-Key", "bob-2")
			if none.status != r.status || string(none.body) != strings.Replace(string(r.body), "c1", "c404", 1) {
				t.Errorf("bob %s on alice's cart = %d %s, on a cart that does not exist = %d %s: want the same answer",
					tc.method, r.status, r.body, none.status, none.body)
			}
		}
		// Bob's "c1" is his own cart: filling it leaves alice's alone.
		if r := e.as(t, "bob", "PUT", "/carts/c1/items/p04", `{"quantity":1}`); r.status != 200 {
			t.Fatalf("bob PUT c1/p04 = %d %s", r.status, r.body)
		}
		if r := e.as(t, "alice", "GET", "/carts/c1", ""); string(r.body) != string(aliceCart.body) {
			t.Errorf("alice's c1 after bob filled his c1 = %s, want unchanged %s", r.body, aliceCart.body)
		}
		co := e.as(t, "alice", "POST", "/carts/c1/checkout", "", "Idempotency-Key", "alice-1")
		if co.status != http.StatusCreated {
			t.Fatalf("alice checkout = %d %s", co.status, co.body)
		}
		order := decode[cart.CheckoutBody](t, co)
		if r := e.as(t, "bob", "GET", "/orders/"+order.OrderID, ""); r.status != http.StatusNotFound {
			t.Errorf("bob GET alice's order = %d %s, want 404", r.status, r.body)
		}
		if r := e.as(t, "alice", "GET", "/orders/"+order.OrderID, ""); r.status != 200 {
			t.Errorf("alice GET her order = %d %s, want 200", r.status, r.body)
		}
		// Without a principal (no authentication) the carts are another namespace again.
		if r := do(t, e.hc, "GET", e.cart.URL+"/orders/"+order.OrderID, ""); r.status != http.StatusNotFound {
			t.Errorf("GET alice's order without a principal = %d, want 404", r.status)
		}
	})
}

// TestIdempotencyKeysAreScopedToTheirOwner: a key is its owner's. Bob using alice's
// key neither replays her order nor blocks her; a replay with another cart is 422
// and says nothing of the stored order; after the key's TTL it makes a new order.
func TestIdempotencyKeysAreScopedToTheirOwner(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.as(t, "alice", "PUT", "/carts/a1/items/p01", `{"quantity":1}`)
		e.as(t, "alice", "PUT", "/carts/a2/items/p02", `{"quantity":1}`)
		e.as(t, "bob", "PUT", "/carts/b1/items/p04", `{"quantity":1}`)

		// Bob takes the key first: it is his, on his cart.
		bob := e.as(t, "bob", "POST", "/carts/b1/checkout", "", "Idempotency-Key", "k")
		if bob.status != http.StatusCreated {
			t.Fatalf("bob checkout b1 with key k = %d %s", bob.status, bob.body)
		}
		alice := e.as(t, "alice", "POST", "/carts/a1/checkout", "", "Idempotency-Key", "k")
		if alice.status != http.StatusCreated || alice.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("alice checkout a1 with the key bob used = %d (replayed %q) %s, want a new order of hers",
				alice.status, alice.header.Get("Idempotent-Replayed"), alice.body)
		}
		ao, bo := decode[cart.CheckoutBody](t, alice), decode[cart.CheckoutBody](t, bob)
		if ao.OrderID == bo.OrderID {
			t.Fatalf("alice and bob got the same order %s for key k", ao.OrderID)
		}
		// Bob replaying k names his own cart; he never sees alice's order.
		if r := e.as(t, "bob", "POST", "/carts/b1/checkout", "", "Idempotency-Key", "k"); r.status != http.StatusCreated ||
			decode[cart.CheckoutBody](t, r).OrderID != bo.OrderID || r.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("bob replays k = %d %s, want his own order %s replayed", r.status, r.body, bo.OrderID)
		}
		// Alice's replay with the same cart is her order; with another cart, 422 that
		// reveals nothing of it.
		if r := e.as(t, "alice", "POST", "/carts/a1/checkout", "", "Idempotency-Key", "k"); decode[cart.CheckoutBody](t, r).OrderID != ao.OrderID {
			t.Errorf("alice replays k = %d %s, want order %s", r.status, r.body, ao.OrderID)
		}
		r := e.as(t, "alice", "POST", "/carts/a2/checkout", "", "Idempotency-Key", "k")
		if r.status != http.StatusUnprocessableEntity || strings.Contains(string(r.body), ao.OrderID) ||
			strings.Contains(string(r.body), "paid") || r.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("alice k with another cart = %d %v %s, want 422 without the stored order", r.status, r.header, r.body)
		}
		// A day later the key has expired: the same key is a new checkout.
		e.offset.Store(int64(24*time.Hour + time.Minute))
		r = e.as(t, "alice", "POST", "/carts/a2/checkout", "", "Idempotency-Key", "k")
		if r.status != http.StatusCreated || decode[cart.CheckoutBody](t, r).OrderID == ao.OrderID {
			t.Errorf("alice k with a2 after 24h = %d %s, want a new order", r.status, r.body)
		}
	})
}
