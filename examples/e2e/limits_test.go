package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/gantry-go/gantry/examples/gateway"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// TestGatewayLimitsCheckoutsPerUser: through the real shop, checkouts have a
// stricter limit than browsing, kept per user: alice's third checkout in a row is
// the gateway's 429 while she still browses, and bob, from the same address, still
// checks out. The rejection is counted on the gateway's debug page.
func TestGatewayLimitsCheckoutsPerUser(t *testing.T) {
	// A rate so low that no token comes back during the test.
	s := runShop(t, shop.Options{RateLimit: unlimited, Limits: &gateway.LimitSettings{UserRate: -1, CheckoutRate: 0.001, CheckoutBurst: 2}})
	alice, bob := token(t, s, "alice"), token(t, s, "bob")
	if a := call(t, s, alice, "PUT", "/api/carts/c1/items/p01", `{"quantity":1}`); a.status != 200 {
		t.Fatalf("alice PUT item = %d %s", a.status, a.body)
	}
	for i, want := range []int{http.StatusCreated, http.StatusCreated, http.StatusTooManyRequests} {
		// Replays of one key: the second is answered by the cart's idempotency, the
		// third never reaches it.
		a := call(t, s, alice, "POST", "/api/carts/c1/checkout", "", "Idempotency-Key", "k1")
		if a.status != want {
			t.Fatalf("alice checkout %d = %d %s, want %d", i+1, a.status, a.body, want)
		}
		if want == http.StatusTooManyRequests && a.ctype != transport.ContentTypeProblem {
			t.Errorf("alice checkout %d Content-Type = %q, want %s", i+1, a.ctype, transport.ContentTypeProblem)
		}
	}
	for i := range 10 {
		if a := call(t, s, alice, "GET", "/api/products", ""); a.status != 200 {
			t.Fatalf("alice browsing %d after her checkout limit = %d %s, want 200", i+1, a.status, a.body)
		}
	}
	if a := call(t, s, bob, "PUT", "/api/carts/c1/items/p01", `{"quantity":1}`); a.status != 200 {
		t.Fatalf("bob PUT item = %d %s", a.status, a.body)
	}
	if a := call(t, s, bob, "POST", "/api/carts/c1/checkout", "", "Idempotency-Key", "k1"); a.status != http.StatusCreated {
		t.Errorf("bob checkout, same address as alice = %d %s, want 201 (his own bucket)", a.status, a.body)
	}
	if got := limiterState(t, s, "gateway-checkout"); got.Rejected != 1 {
		t.Errorf("gateway-checkout rejected = %d, want 1", got.Rejected)
	}
}

// TestGatewayLimitsEachUser: once authenticated, a user has a limit of her own over
// every route, whatever her address: alice's fourth request is a 429 with
// Retry-After, bob from the same address is served, and so are anonymous clients.
func TestGatewayLimitsEachUser(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: unlimited, Limits: &gateway.LimitSettings{UserRate: 0.001, UserBurst: 3, CheckoutRate: -1}})
	alice, bob := token(t, s, "alice"), token(t, s, "bob")
	for i, want := range []int{200, 200, 200, http.StatusTooManyRequests, http.StatusTooManyRequests} {
		req, _ := http.NewRequest("GET", s.URLs["gateway"]+"/api/products", nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("alice request %d = %d, want %d", i+1, resp.StatusCode, want)
		}
		if want == http.StatusTooManyRequests {
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("alice request %d Retry-After = %q, want whole seconds >= 1", i+1, resp.Header.Get("Retry-After"))
			}
		}
	}
	if a := call(t, s, alice, "GET", "/api/carts/c1", ""); a.status != http.StatusTooManyRequests {
		t.Errorf("alice on another route = %d, want 429 (one limit over all routes)", a.status)
	}
	for i := range 3 {
		if a := call(t, s, bob, "GET", "/api/products", ""); a.status != 200 {
			t.Errorf("bob request %d = %d, want 200 (his own bucket)", i+1, a.status)
		}
	}
	for i := range 5 {
		if a := call(t, s, "", "GET", "/api/products", ""); a.status != 200 {
			t.Errorf("anonymous request %d = %d, want 200 (no user limit)", i+1, a.status)
		}
	}
	if got := limiterState(t, s, "gateway-users"); got.Rejected < 3 || got.Keys != 2 {
		t.Errorf("gateway-users = %+v, want >= 3 rejected, 2 keys (alice, bob)", got)
	}
}

// limiterState reads the named limiter from the gateway's /debug/resilience.
func limiterState(t *testing.T, s *shop.Shop, name string) resilience.LimiterState {
	t.Helper()
	resp, err := http.Get(s.AdminURLs["gateway"] + "/debug/resilience")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap resilience.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatalf("GET /debug/resilience: %v", err)
	}
	for _, l := range snap.Limiters {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("/debug/resilience has no limiter %q: %+v", name, snap.Limiters)
	return resilience.LimiterState{}
}
