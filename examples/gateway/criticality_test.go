package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/gateway"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// TestShedderShedsBrowsingBeforeCheckout saturates a gateway whose upstream holds
// every request until the test lets go. With a fixed limit of 8 in flight, a burst
// of browsing is shed past 6 in flight, and a burst of checkouts after it still
// passes, up to 10; every shed request gets 503 and Retry-After.
func TestShedderShedsBrowsingBeforeCheckout(t *testing.T) {
	const burst = 12
	gate := make(chan struct{})
	arrived := make(chan struct{}, 2*burst)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer slow.Close()
	rt := &http.Transport{}
	defer rt.CloseIdleConnections()
	h, err := gateway.NewHandler(rt, gateway.Upstreams{Catalog: slow.URL, Cart: slow.URL}, nil)
	if err != nil {
		t.Fatalf("NewHandler() = %v", err)
	}
	sh := resilience.NewShedder("gateway", resilience.ShedSettings{InitialLimit: 8, MinLimit: 8, MaxLimit: 8}, observability.Instrumentation{})
	gw := httptest.NewServer(transport.Chain(transport.Edge(), gateway.Criticality(), sh.Server())(h))
	defer gw.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * burst}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	type outcome struct {
		status int
		retry  string
	}
	held := make(chan outcome, 2*burst) // the admitted requests' outcomes, once the gate opens
	timeout := time.After(10 * time.Second)
	// send fires n requests at once and returns how many reached the upstream and
	// the outcomes of the others, once every one is decided.
	send := func(method string, path func(i int) string, n int) (admitted int, rest []outcome) {
		results := make(chan outcome, n)
		for i := range n {
			go func() {
				req, _ := http.NewRequest(method, gw.URL+path(i), nil)
				// A client cannot promote itself: the gateway decides.
				req.Header.Set(transport.HeaderCriticality, "critical")
				resp, err := client.Do(req)
				if err != nil {
					results <- outcome{status: -1}
					return
				}
				resp.Body.Close()
				results <- outcome{resp.StatusCode, resp.Header.Get("Retry-After")}
			}()
		}
		for admitted+len(rest) < n {
			select {
			case <-arrived:
				admitted++
			case o := <-results:
				rest = append(rest, o)
			case <-timeout:
				t.Fatalf("%s: after 10s %d reached the upstream and %d came back, want all %d decided", method, admitted, len(rest), n)
			}
		}
		go func() {
			for range admitted {
				held <- <-results
			}
		}()
		return admitted, rest
	}
	check := func(class string, admitted, wantAdmitted int, rest []outcome) {
		t.Helper()
		if admitted != wantAdmitted {
			t.Errorf("%d %s at once: %d reached the upstream, want %d", burst, class, admitted, wantAdmitted)
		}
		for _, o := range rest {
			if o.status != http.StatusServiceUnavailable || o.retry == "" {
				t.Errorf("%s not admitted = %d, Retry-After %q; want 503 with Retry-After", class, o.status, o.retry)
			}
		}
	}
	browsing, rest := send(http.MethodGet, func(int) string { return "/api/products" }, burst)
	check("GET /api/products", browsing, 6, rest)
	checkouts, rest := send(http.MethodPost, func(i int) string { return "/api/carts/c" + strconv.Itoa(i) + "/checkout" }, burst)
	check("checkouts", checkouts, 10-browsing, rest)

	close(gate)
	for range browsing + checkouts {
		select {
		case o := <-held:
			if o.status != http.StatusOK {
				t.Errorf("admitted request = %d, want 200", o.status)
			}
		case <-timeout:
			t.Fatal("after 10s the admitted requests have not all come back")
		}
	}
}

func TestCriticalityMarksRoutes(t *testing.T) {
	tests := []struct {
		method, path, sent, want string
	}{
		{"POST", "/api/carts/c1/checkout", "", "critical"},
		{"GET", "/api/products", "", "sheddable"},
		{"HEAD", "/api/products/p01", "", "sheddable"},
		{"GET", "/api/products", "critical", "sheddable"},
		{"PUT", "/api/carts/c1/items/p01", "critical", ""},
		{"GET", "/api/carts/c1/checkout", "", ""},
		{"POST", "/api/products", "", ""},
		{"GET", "/api/products/p01/x", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var got string
			h := gateway.Criticality()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Get(transport.HeaderCriticality)
			}))
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.sent != "" {
				r.Header.Set(transport.HeaderCriticality, tt.sent)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want {
				t.Errorf("Criticality(%s %s, sent %q) = %q, want %q", tt.method, tt.path, tt.sent, got, tt.want)
			}
		})
	}
}
