package e2e_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/examples/internal/loadgen"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

func runShop(t *testing.T, o shop.Options) *shop.Shop {
	t.Helper()
	o.DataDir = t.TempDir()
	s, err := shop.New(context.Background(), o)
	if err != nil {
		t.Fatalf("shop.New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Shop.Run() = %v", err)
		}
	})
	return s
}

// token returns a demo identity provider token of the shop for user.
func token(t *testing.T, s *shop.Shop, user string) string {
	t.Helper()
	tok, err := s.Token(context.Background(), user)
	if err != nil {
		t.Fatalf("Shop.Token(%s) = %v", user, err)
	}
	return tok
}

func TestGatewayRateLimitsEachClient(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: resilience.RateLimitSettings{KeyRate: 1, KeyBurst: 2}})
	var codes []int
	var last *http.Response
	for range 3 {
		resp, err := http.Get(s.URLs["gateway"] + "/api/products")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		last = resp
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("3 requests with a burst of 2 = %v, want [200 200 429]", codes)
	}
	if ra, err := strconv.Atoi(last.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("429 Retry-After = %q, want whole seconds >= 1", last.Header.Get("Retry-After"))
	}
	if ct := last.Header.Get("Content-Type"); ct != transport.ContentTypeProblem {
		t.Errorf("429 Content-Type = %q, want %s", ct, transport.ContentTypeProblem)
	}
	// The limit is per client: the cart service itself is not limited (it answers
	// the operator's read of an order that does not exist with its own 404).
	resp, err := s.Operator.Get(s.URLs["cart"] + "/orders/ord_none")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET an order directly as the operator = %v %v, want 404", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
}

func TestLoadgenRunsCheckoutsAgainstTheShop(t *testing.T) {
	// Generous timeouts: this checks the flows and the report, not the latency of a
	// busy test machine (possibly under -race).
	patient := gantry.ClientSettings{Resilience: resilience.ClientSettings{AttemptTimeout: 5 * time.Second, RequestTimeout: 20 * time.Second}}
	s := runShop(t, shop.Options{Client: patient, GatewayClient: patient})
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		Target: s.URLs["gateway"], Rate: 20, Duration: time.Second, MaxInFlight: 32, Token: token(t, s, "alice"),
	})
	if err != nil {
		t.Fatalf("loadgen.Run() = %v", err)
	}
	if rep.Scheduled != 20 || rep.Succeeded != 20 || rep.Failed != 0 || rep.Dropped != 0 {
		t.Fatalf("loadgen.Run() = %+v, want 20 successful checkout flows", rep)
	}
	orders, err := s.CartStore.CountOrders(context.Background())
	if err != nil || orders["paid"] != 20 {
		t.Errorf("orders by status = %v (%v), want 20 paid", orders, err)
	}
	// The cart's /metrics counts them too.
	resp, err := http.Get(s.AdminURLs["cart"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `outcome="paid"} 20`) || !strings.Contains(string(body), `cart_orders{`) {
		t.Errorf("cart /metrics lacks cart_checkouts_total{outcome=\"paid\"} 20 and cart_orders:\n%s", body)
	}
	if rep.P50 <= 0 || rep.P99 < rep.P50 {
		t.Errorf("latencies p50 %v p99 %v, want 0 < p50 <= p99", rep.P50, rep.P99)
	}
}

// TestGatewayIsAnEdge: the public port strips internal Gantry-* headers before its
// own chain reads them and from every response, answers with one X-Request-Id, and
// serves no probe or debug page (those are on the admin port).
func TestGatewayIsAnEdge(t *testing.T) {
	s := runShop(t, shop.Options{})
	gw := s.URLs["gateway"]
	bearer := "Bearer " + token(t, s, "alice")
	do := func(method, path, key string, h map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, gw+path, nil)
		req.Header.Set("Authorization", bearer)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// A public client cannot spend the gateway's deadline budget or pick its criticality.
	resp := do("GET", "/api/products", "", map[string]string{"Gantry-Timeout": "1", "Gantry-Criticality": "critical"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/products with Gantry-Timeout: 1 = %d, want 200 (the edge drops the header)", resp.StatusCode)
	}
	if ids := resp.Header.Values("X-Request-Id"); len(ids) != 1 {
		t.Errorf("response X-Request-Id values = %q, want exactly one", ids)
	}
	// Internal paths are not reachable through the public port.
	for _, path := range []string{"/readyz", "/livez", "/metrics", "/debug/discovery", "/debug/resilience"} {
		if resp := do("GET", path, "", nil); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET gateway %s = %d %q, want 404 problem+json", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	// The cart gives up on a failing payment and marks its answer retry-exhausted for
	// the gateway; the public client never sees that internal header.
	s.Processor.SetFailing(true)
	req, _ := http.NewRequest("PUT", gw+"/api/carts/edge/items/p01", strings.NewReader(`{"quantity":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", bearer)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("PUT item = %v %v, want 200", r, err)
	} else {
		r.Body.Close()
	}
	resp = do("POST", "/api/carts/edge/checkout", "edge-1", nil)
	if resp.StatusCode < 500 {
		t.Fatalf("checkout with payment failing = %d, want 5xx", resp.StatusCode)
	}
	for k := range resp.Header {
		if strings.HasPrefix(k, "Gantry-") {
			t.Errorf("public response carries internal header %s: %q", k, resp.Header.Values(k))
		}
	}
	if ids := resp.Header.Values("X-Request-Id"); len(ids) != 1 {
		t.Errorf("checkout response X-Request-Id values = %q, want exactly one", ids)
	}
}

// TestGatewayRefusesOversizedBodies: a body over the limit, with or without a
// Content-Length, is answered 413 problem+json by the gateway itself.
func TestGatewayRefusesOversizedBodies(t *testing.T) {
	s := runShop(t, shop.Options{})
	bearer := "Bearer " + token(t, s, "alice") // past authentication, to the body limit
	const size = 10 << 20
	for _, chunked := range []bool{false, true} {
		body := io.Reader(bytes.NewReader(make([]byte, size)))
		if chunked {
			body = io.MultiReader(body) // hides the length: sent chunked
		}
		req, _ := http.NewRequest("PUT", s.URLs["gateway"]+"/api/carts/big/items/p01", body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("PUT 10 MiB (chunked %v): %v", chunked, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("PUT 10 MiB (chunked %v) = %d %q, want 413 problem+json", chunked, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
