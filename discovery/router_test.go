package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

// backend is a loopback HTTP server that answers with its name and counts hits.
type backend struct {
	*httptest.Server
	name   string
	hits   atomic.Int64
	status atomic.Int64
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.status.Store(http.StatusOK)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.Header().Set("X-Backend", name)
		w.WriteHeader(int(b.status.Load()))
		fmt.Fprintf(w, "%s %s %s", name, r.URL.Path, r.Host)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.URL, "http://") }

func get(t *testing.T, c *http.Client, url string) (string, int, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), resp.StatusCode, nil
}

func TestRouterRoutesServiceNames(t *testing.T) {
	b1, b2 := newBackend(t, "one"), newBackend(t, "two")
	r := NewStatic(map[string][]Instance{"catalog": {{ID: "1", Address: b1.addr()}, {ID: "2", Address: b2.addr()}}})
	tr := NewRouter(r, nil, BalancerSettings{Policy: PolicyRoundRobin})
	defer tr.Close()
	c := &http.Client{Transport: tr}

	seen := map[string]int{}
	for range 10 {
		body, code, err := get(t, c, "http://catalog/items?x=1")
		if err != nil || code != 200 {
			t.Fatalf("GET http://catalog/items = %d, %v; want 200", code, err)
		}
		name, rest, _ := strings.Cut(body, " ")
		if rest != "/items catalog" {
			t.Errorf("backend saw path and host %q, want %q", rest, "/items catalog")
		}
		seen[name]++
	}
	if seen["one"] != 5 || seen["two"] != 5 {
		t.Errorf("round robin over 2 backends, 10 requests: %v, want 5 each", seen)
	}

	// A host:port passes through unchanged.
	if body, _, err := get(t, c, b1.URL+"/direct"); err != nil || !strings.HasPrefix(body, "one /direct") {
		t.Errorf("GET %s/direct = %q, %v; want it served by one", b1.URL, body, err)
	}
	// An unknown service name is an error, not a DNS lookup.
	_, _, err := get(t, c, "http://nosuch/x")
	if !errors.Is(err, ErrUnknownService) {
		t.Errorf("GET http://nosuch/x error = %v, want ErrUnknownService", err)
	}
}

func TestRouterNoInstances(t *testing.T) {
	m := NewMemory()
	c := &http.Client{Transport: NewRouter(m, nil, BalancerSettings{})}
	_, _, err := get(t, c, "http://cart/x")
	if !errors.Is(err, ErrNoInstances) || !IsResolveError(err) {
		t.Errorf("GET to a service with no instances: error = %v, want ErrNoInstances", err)
	}
	b := newBackend(t, "cart")
	m.Register("cart", Instance{Address: b.addr()})
	if body, _, err := get(t, c, "http://cart/x"); err != nil || !strings.HasPrefix(body, "cart") {
		t.Errorf("after Register, GET http://cart/x = %q, %v; want served by cart", body, err)
	}
}

// retryOnce is a hand-written stand-in for the resilience retry layer: it sends the
// request again once, with Gantry-Attempt: 1, when the first attempt fails. between,
// if set, runs before the retry (other traffic moving the balancer on).
type retryOnce struct {
	next    http.RoundTripper
	between func()
}

func (r retryOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if !transport.Classify(resp, err).Retryable() {
		return resp, err
	}
	if resp != nil {
		resp.Body.Close()
	}
	if r.between != nil {
		r.between()
	}
	again := req.Clone(req.Context())
	again.Header.Set(transport.HeaderAttempt, "1")
	return r.next.RoundTrip(again)
}

func TestRetryGoesToAnotherInstance(t *testing.T) {
	for _, mode := range []string{"attempt memory", "attempt header"} {
		t.Run(mode, func(t *testing.T) {
			bad, good := newBackend(t, "bad"), newBackend(t, "good")
			bad.status.Store(http.StatusServiceUnavailable)
			r := NewStatic(map[string][]Instance{"pay": {{ID: "1", Address: bad.addr()}, {ID: "2", Address: good.addr()}}})
			// Round robin with ejection off, so that every other first attempt lands on
			// bad; one request from other traffic between the attempts moves the robin
			// on, so that a retry that ignored the first attempt would land on bad again.
			tr := NewRouter(r, nil, BalancerSettings{Policy: PolicyRoundRobin, EjectAfter: -1})
			other := &http.Client{Transport: tr}
			ro := retryOnce{next: tr, between: func() {
				if resp, err := other.Get("http://pay/other"); err == nil {
					resp.Body.Close()
				}
			}}
			var rt http.RoundTripper = ro
			if mode == "attempt memory" {
				rt = RememberAttempts()(rt)
			}
			c := &http.Client{Transport: rt}
			for i := range 20 {
				body, code, err := get(t, c, "http://pay/charge")
				if err != nil || code != 200 || !strings.HasPrefix(body, "good") {
					t.Fatalf("request %d: GET = %d %q, %v; want 200 from good", i, code, body, err)
				}
			}
			if bad.hits.Load() == 0 {
				t.Error("no first attempt reached bad; the retry path was not exercised")
			}
		})
	}
}

func TestRouterEjectsRefusingInstance(t *testing.T) {
	good := newBackend(t, "good")
	dead := newBackend(t, "dead")
	deadAddr := dead.addr()
	dead.Close() // connection refused from now on
	r := NewStatic(map[string][]Instance{"svc": {{Address: deadAddr}, {Address: good.addr()}}})
	tr := NewRouter(r, nil, BalancerSettings{Policy: PolicyRoundRobin})
	c := &http.Client{Transport: tr}
	failures := 0
	for range 40 {
		if _, _, err := get(t, c, "http://svc/"); err != nil {
			failures++
		}
	}
	if failures != 5 {
		t.Errorf("failed requests = %d, want exactly 5 (then the refusing instance is ejected)", failures)
	}
	b, _ := tr.Balancer("svc")
	for _, s := range b.Endpoints() {
		if s.Address == deadAddr && (!s.Ejected || s.Ejections != 1) {
			t.Errorf("dead endpoint state = %+v, want ejected once", s)
		}
	}
}

func TestDebugHandler(t *testing.T) {
	good := newBackend(t, "good")
	r := NewStatic(map[string][]Instance{"svc": {{ID: "g", Address: good.addr()}}, "idle": {{ID: "i", Address: "127.0.0.1:1"}}})
	tr := NewRouter(r, nil, BalancerSettings{})
	if _, _, err := get(t, &http.Client{Transport: tr}, "http://svc/"); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	DebugHandler(r, tr).ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), "GET", "/debug/discovery", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var doc struct {
		Services []DebugService `json:"services"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("debug body is not JSON: %v\n%s", err, rec.Body)
	}
	if len(doc.Services) != 2 || doc.Services[0].Service != "idle" || doc.Services[1].Service != "svc" {
		t.Fatalf("debug services = %+v, want idle and svc", doc.Services)
	}
	svc := doc.Services[1]
	if len(svc.Instances) != 1 || len(svc.Endpoints) != 1 || svc.Endpoints[0].LatencyEWMAms <= 0 || svc.Updated.IsZero() {
		t.Errorf("debug svc = %+v, want one instance, one endpoint with a latency, an update time", svc)
	}
	if doc.Services[0].Endpoints != nil {
		t.Errorf("idle service has endpoints %v, want none (never balanced)", doc.Services[0].Endpoints)
	}
}

func TestRouterAttemptHeaderParsing(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want bool
	}{{"", false}, {"0", false}, {"1", true}, {"7", true}, {"x", false}, {"-1", false}} {
		req := httptest.NewRequest("GET", "http://svc/", nil)
		if tt.v != "" {
			req.Header.Set(transport.HeaderAttempt, tt.v)
		}
		if got := retried(req); got != tt.want {
			t.Errorf("retried(Gantry-Attempt: %q) = %v, want %v", tt.v, got, tt.want)
		}
	}
	_ = strconv.Itoa
}

type nopRoundTripper struct{ resp *http.Response }

func (n nopRoundTripper) RoundTrip(*http.Request) (*http.Response, error) { return n.resp, nil }

// A Router adds one allocation per request (the outgoing request and
// its URL, which must not alias the caller's), whatever the policy.
func TestRouterAllocatesOncePerRequest(t *testing.T) {
	for _, p := range []string{PolicyRoundRobin, PolicyP2C} {
		r := NewStatic(map[string][]Instance{"svc": instances("10.0.0.1:80", "10.0.0.2:80")})
		tr := NewRouter(r, nopRoundTripper{&http.Response{StatusCode: 200}}, BalancerSettings{Policy: p})
		req := httptest.NewRequest("GET", "http://svc/x", nil)
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(1000, func() { _, _ = tr.RoundTrip(req) }); n > 1 {
			t.Errorf("%s: Router.RoundTrip allocates %v times per request, want <= 1", p, n)
		}
		if req.URL.Host != "svc" {
			t.Errorf("%s: RoundTrip changed the caller's request URL host to %q", p, req.URL.Host)
		}
	}
}
