package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/gateway"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/examples/payment"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

// TestOperatorRoutesNeedTheOperatorRole: through the gateway, the inventory report,
// the payment ledger and refunds answer an operator's token, 403 to a buyer's (even
// one that claims the role in a header), and 401 to no token; browsing stays open.
func TestOperatorRoutesNeedTheOperatorRole(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: unlimited})
	alice, op := token(t, s, "alice"), token(t, s, "operator")
	if a := call(t, s, alice, "PUT", "/api/carts/c1/items/p01", `{"quantity":2}`); a.status != 200 {
		t.Fatalf("alice PUT = %d %s", a.status, a.body)
	}
	co := call(t, s, alice, "POST", "/api/carts/c1/checkout", "", "Idempotency-Key", "k1")
	if co.status != http.StatusCreated {
		t.Fatalf("alice checkout = %d %s", co.status, co.body)
	}
	var order cart.CheckoutBody
	if err := json.Unmarshal([]byte(co.body), &order); err != nil || order.OrderID == "" {
		t.Fatalf("checkout body %s: %v", co.body, err)
	}

	if a := call(t, s, "", "GET", "/api/products", ""); a.status != 200 {
		t.Errorf("anonymous GET /api/products = %d, want 200 (browsing needs no login)", a.status)
	}
	ledger := "/api/payments?order_id=" + order.OrderID
	for _, path := range []string{"/api/inventory", ledger} {
		if a := call(t, s, "", "GET", path, ""); a.status != http.StatusUnauthorized || !strings.HasPrefix(a.challenge, "Bearer ") {
			t.Errorf("anonymous GET %s = %d %q, want 401 with a Bearer challenge", path, a.status, a.challenge)
		}
		for _, hdr := range [][]string{nil, {"Gantry-Roles", "operator"}, {"Gantry-Principal", "operator"}} {
			a := call(t, s, alice, "GET", path, "", hdr...)
			if a.status != http.StatusForbidden || !strings.Contains(a.challenge, "insufficient_scope") || a.ctype != "application/problem+json" {
				t.Errorf("alice GET %s %v = %d %q %s, want 403 insufficient_scope problem+json", path, hdr, a.status, a.challenge, a.body)
			}
		}
	}

	inv := call(t, s, op, "GET", "/api/inventory", "")
	if inv.status != 200 || !strings.Contains(inv.body, `"product_id":"p01"`) {
		t.Fatalf("operator GET /api/inventory = %d %s, want 200 with p01", inv.status, inv.body)
	}
	led := call(t, s, op, "GET", ledger, "")
	var pays []payment.Payment
	if err := json.Unmarshal([]byte(led.body), &pays); led.status != 200 || err != nil || len(pays) != 1 || pays[0].Status != "captured" {
		t.Fatalf("operator GET %s = %d %s (%v), want one captured payment", ledger, led.status, led.body, err)
	}
	refund := "/api/payments/" + pays[0].ID + "/refund"
	if a := call(t, s, alice, "POST", refund, ""); a.status != http.StatusForbidden {
		t.Errorf("alice POST %s = %d %s, want 403", refund, a.status, a.body)
	}
	if a := call(t, s, op, "POST", refund, ""); a.status != 200 || !strings.Contains(a.body, `"refunded"`) {
		t.Errorf("operator POST %s = %d %s, want 200 refunded", refund, a.status, a.body)
	}
	if a := call(t, s, op, "GET", "/api/payments/"+pays[0].ID, ""); a.status != 200 || !strings.Contains(a.body, `"refunded"`) {
		t.Errorf("operator GET the payment after the refund = %d %s, want refunded", a.status, a.body)
	}
}

// TestUpstreamsBelieveTheOperatorRoleOnlyFromTheGateway: over mTLS, catalog and
// payment serve the operator's routes to the gateway only when it names a user with the
// operator role (Gantry-Principal and Gantry-Roles), and the gateway's identity gets
// nothing more than that; the operator's own identity needs no header.
func TestUpstreamsBelieveTheOperatorRoleOnlyFromTheGateway(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: unlimited})
	as := func(name string) *http.Client {
		id, _ := identity.NewID("gantry.test", "default", name)
		src, err := s.CA.Source(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tr := identity.NewTransport(src, transport.ClientSettings{})
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	do := func(c *http.Client, method, url string, hdr ...string) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Add(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	gw, operator, cartID := as("gateway"), as("operator"), as("cart")
	inventory, ledger := s.URLs["catalog"]+"/inventory", s.URLs["payment"]+"/payments?order_id=o-none"
	for _, tc := range []struct {
		name   string
		c      *http.Client
		method string
		url    string
		hdr    []string
		want   int
	}{
		{"gateway for an operator", gw, "GET", inventory, []string{"Gantry-Principal", "op", "Gantry-Roles", "buyer operator"}, 200},
		{"gateway for a buyer", gw, "GET", inventory, []string{"Gantry-Principal", "alice", "Gantry-Roles", "buyer"}, 403},
		{"gateway with roles and no user", gw, "GET", inventory, []string{"Gantry-Roles", "operator"}, 403},
		{"gateway for nobody", gw, "GET", inventory, nil, 403},
		{"gateway, role as a prefix", gw, "GET", inventory, []string{"Gantry-Principal", "op", "Gantry-Roles", "operators"}, 403},
		{"gateway, two role headers", gw, "GET", inventory, []string{"Gantry-Principal", "op", "Gantry-Roles", "buyer", "Gantry-Roles", "operator"}, 403},
		{"operator identity", operator, "GET", inventory, nil, 200},
		{"cart identity with the headers", cartID, "GET", inventory, []string{"Gantry-Principal", "op", "Gantry-Roles", "operator"}, 403},
		{"gateway ledger for an operator", gw, "GET", ledger, []string{"Gantry-Principal", "op", "Gantry-Roles", "operator"}, 200},
		{"gateway ledger for a buyer", gw, "GET", ledger, []string{"Gantry-Principal", "alice", "Gantry-Roles", "buyer"}, 403},
		{"gateway charge for an operator", gw, "POST", s.URLs["payment"] + "/payments", []string{"Gantry-Principal", "op", "Gantry-Roles", "operator"}, 403},
		{"gateway browsing, no user", gw, "GET", s.URLs["catalog"] + "/products", nil, 200},
	} {
		if got := do(tc.c, tc.method, tc.url, tc.hdr...); got != tc.want {
			t.Errorf("%s: %s %s %v = %d, want %d", tc.name, tc.method, tc.url, tc.hdr, got, tc.want)
		}
	}
}

// TestOperatorRoutesClosedWithoutAuthentication: with GATEWAY_AUTH=off no request
// carries a user, so the operator's routes answer 403 to everyone, even with TLS off,
// where the upstreams trust their network and only the gateway stands in the way.
func TestOperatorRoutesClosedWithoutAuthentication(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: unlimited, Auth: gateway.AuthSettings{Mode: gateway.AuthOff}, PlainHTTP: true})
	for _, path := range []string{"/api/inventory", "/api/payments?order_id=o1"} {
		if a := call(t, s, "", "GET", path, "", "Gantry-Roles", "operator", "Gantry-Principal", "op"); a.status != http.StatusForbidden || a.ctype != "application/problem+json" {
			t.Errorf("GET %s with auth off = %d %s, want 403 problem+json", path, a.status, a.body)
		}
	}
	if a := call(t, s, "", "GET", "/api/products", ""); a.status != 200 {
		t.Errorf("GET /api/products with auth off = %d, want 200", a.status)
	}
}
