package gantry_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
)

func ExampleRun() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	})
	api, err := gantry.NewServer(mux, gantry.ServerSettings{}, observability.Instrumentation{})
	if err != nil {
		fmt.Println(err)
		return
	}
	checks := health.NewRegistry(health.Settings{})
	admin, err := gantry.NewAdmin(gantry.AdminSettings{}, gantry.Admin{Health: checks}, observability.Instrumentation{})
	if err != nil {
		fmt.Println(err)
		return
	}
	apiLn, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")

	// In main, ctx is context.Background() and SIGTERM starts the shutdown; here the
	// example cancels ctx itself once it has made its requests.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- gantry.Run(ctx, gantry.Options{
			Servers: []gantry.Server{{Server: api, Listener: apiLn}, {Server: admin, Listener: adminLn}},
			// The registry is a Drainer (/readyz turns 503 first) and a Runner (its
			// checks run in the background): it is listed once.
			Components: []any{checks, gantry.ShutdownerFunc(func(context.Context) error {
				fmt.Println("telemetry flushed")
				return nil
			})},
			Settings: gantry.Settings{DrainDelay: 10 * time.Millisecond, Timeout: 5 * time.Second},
		})
	}()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, url := range []string{"http://" + apiLn.Addr().String() + "/hello", "http://" + adminLn.Addr().String() + "/livez",
		"http://" + apiLn.Addr().String() + "/livez"} {
		resp, err := client.Get(url)
		if err != nil {
			fmt.Println(err)
			continue
		}
		resp.Body.Close()
		fmt.Println(strings.SplitN(url, "/", 4)[3], resp.StatusCode)
	}
	cancel()
	fmt.Println("Run returned", <-done)
	// Output:
	// hello 200
	// livez 200
	// livez 404
	// telemetry flushed
	// Run returned <nil>
}

// ExampleNewServer shows the one order of composition of a Gantry server, outermost
// first:
//
//  1. edge (only when ServerSettings.Edge): inbound and outbound Gantry-* headers removed
//  2. recover: a panic below becomes a 500 problem, logged with its stack
//  3. request id: a valid inbound X-Request-Id is kept, else one is made
//  4. peer identity (only when ServerSettings.Identity): the caller's SPIFFE ID, which
//     the TLS handshake verified, on the request context
//  5. trace and metrics (observability.Server): the span and http.server.request.duration
//  6. access log
//  7. the service's policies, in the order given: authentication and authorization
//     (identity.Authorize), then load shedding and rate limiting
//  8. body limit (HTTP_MAX_BODY_BYTES)
//  9. deadline (resilience.Deadline): the caller's Gantry-Timeout, floor and default
//  10. retry-exhaustion marking (resilience.MarkRetryExhausted)
//  11. the handler
//
// Recover is outermost so that nothing escapes it; instrumentation comes before the
// policies so that rejections are traced, counted and logged; the deadline is last so
// that it bounds the handler only.
func ExampleNewServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, hasDeadline := r.Context().Deadline()
		fmt.Fprintf(w, "item %s, deadline %v", r.PathValue("id"), hasDeadline)
	})
	limiter := resilience.NewRateLimiter("api", resilience.RateLimitSettings{Rate: 1, Burst: 1}, nil, observability.Instrumentation{})
	srv, err := gantry.NewServer(mux, gantry.ServerSettings{}, observability.Instrumentation{}, limiter.Server())
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		req := httptest.NewRequest("GET", "/items/7", nil)
		req.Header.Set("Gantry-Timeout", "1500") // the caller has 1.5s left
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String() != "", rec.Header().Get("X-Request-Id") != "")
	}
	// Output:
	// 200 true true
	// 429 true true
}

// ExampleNewClient shows the one order of composition of a Gantry client, outermost
// first:
//
//  1. trace (observability.Client): the client span, and the trace context sent on
//  2. attempt memory (discovery.RememberAttempts): retries go to other instances
//  3. request timeout (CLIENT_REQUEST_TIMEOUT): the whole logical request
//  4. retry with its budget (RETRY_*): idempotent requests or those with an
//     Idempotency-Key, full-jitter backoff, Retry-After within the deadline
//  5. client rate limit (CLIENT_RATELIMIT_*, when set)
//  6. breaker per upstream, or per ClientSettings.Resilience.BreakerKey (BREAKER_*)
//  7. bulkhead (CLIENT_BULKHEAD_*, when enabled)
//  8. attempt timeout (CLIENT_ATTEMPT_TIMEOUT)
//  9. propagation: the attempt's remaining deadline as Gantry-Timeout, the request id
//  10. balancer (discovery.Router): an instance of the service named by the URL host
//  11. the pooled *http.Transport (HTTP_CLIENT_*), or with ClientSettings.Identity
//     the mTLS identity.Transport, whose dial refuses an instance that cannot prove
//     the identity of the service the URL names (a failed dial, so retried elsewhere)
//
// Retry is above the breaker so that an open breaker fails fast without using the
// budget; the attempt timeout is below both so that each attempt has its own deadline,
// which is what travels to the next hop.
func ExampleNewClient() {
	catalog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s deadline=%v", r.Method, r.URL.Path, r.Header.Get("Gantry-Timeout") != "")
	}))
	defer catalog.Close()
	peers := discovery.NewStatic(map[string][]discovery.Instance{
		"catalog": {{Address: strings.TrimPrefix(catalog.URL, "http://")}},
	})
	c, err := gantry.NewClient("cart", peers, gantry.ClientSettings{}, observability.Instrumentation{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	resp, err := c.HTTP.Get("http://catalog/products")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var snap resilience.Snapshot
	c.Inspect(&snap)
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println("breakers:", len(snap.Breakers), "budgets:", len(snap.Budgets))
	// Output:
	// 200 GET /products deadline=true
	// breakers: 1 budgets: 1
}
