package gateway_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/examples/gateway"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport"
)

// upstream is a real server that echoes what it received.
func upstream(t *testing.T, name string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/carts/missing" {
			transport.WriteProblem(w, r, &transport.Problem{Type: "urn:test:missing", Status: 404, Detail: "no such cart"})
			return
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"upstream": name, "method": r.Method, "path": r.URL.Path, "raw": r.URL.RawQuery,
			"body": string(body), "request_id": r.Header.Get("X-Request-Id"), "traceparent": r.Header.Get("Traceparent"),
			"criticality": r.Header.Get("Gantry-Criticality"), "real_ip": r.Header.Get("X-Real-Ip"),
			"forwarded": r.Header.Get("Forwarded"), "xff": r.Header.Get("X-Forwarded-For"),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newGateway(t *testing.T, catalogURL, cartURL string) *httptest.Server {
	t.Helper()
	h, err := gateway.NewHandler(http.DefaultTransport, gateway.Upstreams{Catalog: catalogURL, Cart: cartURL}, nil)
	if err != nil {
		t.Fatalf("NewHandler() = %v", err)
	}
	gw := httptest.NewServer(transport.Chain(transport.RequestID())(h))
	t.Cleanup(gw.Close)
	return gw
}

func TestGatewayRoutesToUpstreams(t *testing.T) {
	cat, crt := upstream(t, "catalog"), upstream(t, "cart")
	gw := newGateway(t, cat.URL, crt.URL)
	tests := []struct {
		method, path, body string
		upstream, wantPath string
	}{
		{"GET", "/api/products", "", "catalog", "/products"},
		{"GET", "/api/products/p01", "", "catalog", "/products/p01"},
		{"PUT", "/api/carts/c1/items/p01", `{"quantity":1}`, "cart", "/carts/c1/items/p01"},
		{"POST", "/api/carts/c1/checkout", "", "cart", "/carts/c1/checkout"},
		{"GET", "/api/orders/o1", "", "cart", "/orders/o1"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, gw.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("X-Request-Id", "rid-123")
			req.Header.Set("Gantry-Criticality", "critical") // internal: dropped at the edge
			req.Header.Set("X-Real-Ip", "6.6.6.6")           // a client's claim: not passed on
			req.Header.Set("Forwarded", "for=6.6.6.6")
			req.Header.Set("X-Forwarded-For", "6.6.6.6")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("%s %s: decode: %v", tt.method, tt.path, err)
			}
			if got["upstream"] != tt.upstream || got["path"] != tt.wantPath || got["method"] != tt.method || got["body"] != tt.body {
				t.Errorf("%s %s reached %v, want %s %s %s", tt.method, tt.path, got, tt.upstream, tt.method, tt.wantPath)
			}
			if got["criticality"] != "" {
				t.Errorf("%s %s: upstream saw Gantry-Criticality %q from a public client, want it dropped", tt.method, tt.path, got["criticality"])
			}
			if got["real_ip"] != "" || got["forwarded"] != "" || got["xff"] != "127.0.0.1" {
				t.Errorf("%s %s: upstream saw X-Real-Ip %q, Forwarded %q, X-Forwarded-For %q; want none, none and the gateway's peer 127.0.0.1",
					tt.method, tt.path, got["real_ip"], got["forwarded"], got["xff"])
			}
			if got["request_id"] != "rid-123" {
				t.Errorf("%s %s: upstream saw X-Request-Id %q, want rid-123", tt.method, tt.path, got["request_id"])
			}
		})
	}
}

func TestGatewayPassesUpstreamProblemsThrough(t *testing.T) {
	cat, crt := upstream(t, "catalog"), upstream(t, "cart")
	gw := newGateway(t, cat.URL, crt.URL)
	resp, err := http.Get(gw.URL + "/api/carts/missing")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p transport.Problem
	_ = json.NewDecoder(resp.Body).Decode(&p)
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != transport.ContentTypeProblem || p.Type != "urn:test:missing" || p.Detail != "no such cart" {
		t.Errorf("GET /api/carts/missing = %d %q %+v, want the upstream's 404 problem unchanged", resp.StatusCode, resp.Header.Get("Content-Type"), p)
	}
}

func TestGatewayErrors(t *testing.T) {
	cat := upstream(t, "catalog")
	// A port nobody listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	gw := newGateway(t, cat.URL, dead)

	// A gateway whose upstream is a discovery name with no instance.
	empty := discovery.NewStatic(map[string][]discovery.Instance{})
	dt := discovery.NewRouter(empty, http.DefaultTransport, discovery.BalancerSettings{})
	t.Cleanup(dt.Close)
	h, err := gateway.NewHandler(dt, gateway.Upstreams{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	unresolved := httptest.NewServer(h)
	t.Cleanup(unresolved.Close)

	tests := []struct {
		name, url  string
		want       int
		retryAfter bool
	}{
		{"unknown api route", gw.URL + "/api/users", 404, false},
		{"outside /api", gw.URL + "/", 404, false},
		{"prefix lookalike", gw.URL + "/api/productsX", 404, false},
		{"upstream refuses connections", gw.URL + "/api/carts/c1", 503, true},
		{"upstream not in discovery", unresolved.URL + "/api/products", 503, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || resp.Header.Get("Content-Type") != transport.ContentTypeProblem {
				t.Fatalf("GET %s = %d %q %s, want %d problem+json", tt.url, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.want)
			}
			if got := resp.Header.Get("Retry-After") != ""; got != tt.retryAfter {
				t.Errorf("GET %s Retry-After present = %v, want %v", tt.url, got, tt.retryAfter)
			}
			if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "dial") {
				t.Errorf("GET %s leaks internals: %s", tt.url, body)
			}
		})
	}
}

func TestNewHandlerRejectsBadUpstreams(t *testing.T) {
	for _, u := range []gateway.Upstreams{{Catalog: "catalog"}, {Cart: "ftp://x"}, {Cart: "http://"}} {
		if _, err := gateway.NewHandler(http.DefaultTransport, u, nil); err == nil {
			t.Errorf("NewHandler(%+v) = nil error, want a ConfigError", u)
		}
	}
}

func TestBreakerKey(t *testing.T) {
	tests := map[string]string{
		"http://cart/carts/c1/checkout":    "cart/checkout",
		"http://cart/carts/c1/items/p01":   "cart/carts",
		"http://cart/carts/c1":             "cart/carts",
		"http://cart/orders/o1":            "cart/orders",
		"http://catalog/products":          "catalog/products",
		"http://catalog/reservations/r/x":  "catalog/other",
		"http://cart/carts/checkout/items": "cart/carts",
	}
	for u, want := range tests {
		r := httptest.NewRequest("GET", u, nil)
		if got := gateway.BreakerKey(r); got != want {
			t.Errorf("BreakerKey(%s) = %q, want %q", u, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		path, upstream, upath string
		ok                    bool
	}{
		{"/api/products", "catalog", "/products", true},
		{"/api/products/p1", "catalog", "/products/p1", true},
		{"/api/carts/c/checkout", "cart", "/carts/c/checkout", true},
		{"/api/orders", "cart", "/orders", true},
		{"/api/productsX", "", "", false},
		{"/products", "", "", false},
		{"/api", "", "", false},
	}
	for _, tt := range tests {
		up, p, ok := gateway.Resolve(tt.path)
		if up != tt.upstream || p != tt.upath || ok != tt.ok {
			t.Errorf("Resolve(%q) = %q, %q, %v, want %q, %q, %v", tt.path, up, p, ok, tt.upstream, tt.upath, tt.ok)
		}
	}
}

// TestGatewayRefusesChunkedBodiesOverTheLimit: an upstream that answers before it has
// read the body (here a 400 at once, as a strict decoder does on the first bad byte)
// must not decide what the client sees for a body over the gateway's limit: the
// gateway reads a chunked body itself and answers 413. A chunked body under the limit
// reaches the upstream whole, with its length.
func TestGatewayRefusesChunkedBodiesOverTheLimit(t *testing.T) {
	var gotLength int64
	var gotBody string
	hasty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Small") != "" {
			b, _ := io.ReadAll(r.Body)
			gotLength, gotBody = r.ContentLength, string(b)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = r.Body.Read(make([]byte, 512))
		transport.WriteProblem(w, r, &transport.Problem{Status: http.StatusBadRequest, Detail: "malformed JSON at byte 0"})
	}))
	t.Cleanup(hasty.Close)
	h, err := gateway.NewHandler(http.DefaultTransport, gateway.Upstreams{Catalog: hasty.URL, Cart: hasty.URL}, nil)
	if err != nil {
		t.Fatalf("NewHandler() = %v", err)
	}
	gw := httptest.NewServer(transport.BodyLimit(64 << 10)(h))
	t.Cleanup(gw.Close)
	// Through the shop's client chain the race was lost about one time in ten
	// (e2e.TestGatewayRefusesOversizedBodies); here it is the contract.
	for i := range 20 {
		body := io.MultiReader(strings.NewReader(strings.Repeat("x", 1<<20))) // no length: chunked
		req, _ := http.NewRequest("PUT", gw.URL+"/api/carts/c1/items/p01", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("PUT 1 MiB chunked: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("try %d: PUT 1 MiB chunked over a 64 KiB limit = %d %q, want 413 problem+json", i, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	req, _ := http.NewRequest("PUT", gw.URL+"/api/carts/c1/items/p01", io.MultiReader(strings.NewReader(`{"quantity":1}`)))
	req.Header.Set("X-Small", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT small chunked: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || gotLength != int64(len(`{"quantity":1}`)) || gotBody != `{"quantity":1}` {
		t.Errorf("PUT small chunked = %d; upstream saw length %d body %q, want 204, the whole body and its length", resp.StatusCode, gotLength, gotBody)
	}
}

// TestGatewayRetriesAPutWhoseReplicaDiedMidRequest: a PUT's body is replayable, so when
// the upstream replica dies after reading the request (its connection closes with no
// answer, as when a container is killed), the gateway's client stack (gantry.NewClient,
// as cmd/gateway builds it) sends the same body again and the client gets the answer,
// not a 502. A POST without an Idempotency-Key is not retried.
func TestGatewayRetriesAPutWhoseReplicaDiedMidRequest(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{} // requests per method+path
	var bodies []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		k := r.Method + " " + r.URL.Path
		seen[k]++
		first := seen[k] == 1
		bodies = append(bodies, string(body))
		mu.Unlock()
		if first { // die: the request was read, no answer is ever written
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		_, _ = w.Write([]byte(`{"got":` + strconv.Quote(string(body)) + `}`))
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	res := discovery.NewStatic(map[string][]discovery.Instance{"cart": {{ID: "cart-1", Address: u.Host, Scheme: "http"}}})
	c, err := gantry.NewClient("gateway", res, gantry.ClientSettings{}, observability.Instrumentation{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h, err := gateway.NewHandler(c.HTTP.Transport, gateway.Upstreams{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)

	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPut, "/api/carts/c1/items/p01", http.StatusOK},
		{http.MethodPost, "/api/carts/c1/items/p01", http.StatusBadGateway}, // not idempotent: never sent twice
	} {
		req, _ := http.NewRequest(tc.method, gw.URL+tc.path, strings.NewReader(`{"quantity":1}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s through a replica that dies mid-request = %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
		if tc.want == http.StatusOK && string(body) != `{"got":"{\"quantity\":1}"}` {
			t.Errorf("%s %s answered %s, want the upstream's echo of the whole body", tc.method, tc.path, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["PUT /carts/c1/items/p01"] != 2 || seen["POST /carts/c1/items/p01"] != 1 {
		t.Errorf("upstream saw %v, want the PUT twice (retried) and the POST once", seen)
	}
	for _, b := range bodies {
		if b != `{"quantity":1}` {
			t.Errorf("upstream read body %q, want every attempt to carry the whole body", b)
		}
	}
}
