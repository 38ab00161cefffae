package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/gantry-go/gantry/observability"
	"net/http"
	"net/http/httptest"
	"time"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

func ExampleBreaker_Client() {
	b := resilience.NewBreaker("inventory", resilience.BreakerSettings{ConsecutiveFailures: 2}, observability.Instrumentation{})
	calls := 0
	rt := b.Client()(transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
		calls++
		return &http.Response{StatusCode: http.StatusBadGateway, Body: http.NoBody}, nil
	}))
	for range 4 {
		resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://inventory/", nil))
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(resp.StatusCode)
	}
	fmt.Println("upstream calls:", calls)
	// Output:
	// 502
	// 502
	// resilience: circuit open
	// resilience: circuit open
	// upstream calls: 2
}

func ExampleBreakerSet_Server() {
	set := resilience.NewBreakerSet("routes", resilience.BreakerSettings{ConsecutiveFailures: 1}, resilience.KeyByPattern, observability.Instrumentation{})
	// Wrap each route's handler, so that r.Pattern is set when the breaker runs.
	mux := http.NewServeMux()
	mux.Handle("GET /broken", set.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })))
	mux.Handle("GET /fine", set.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	for _, path := range []string{"/broken", "/broken", "/fine"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, rec.Code)
	}
	// Output:
	// /broken 500
	// /broken 503
	// /fine 200
}

func ExampleBreakerSet_Endpoint() {
	set := resilience.NewBreakerSet("tenants", resilience.BreakerSettings{ConsecutiveFailures: 1}, nil, observability.Instrumentation{})
	byTenant := func(ctx context.Context, req any) string { return req.(string) }
	ep := set.Endpoint(byTenant)(func(ctx context.Context, req any) (any, error) {
		if req == "acme" {
			return nil, errors.New("acme's database is down")
		}
		return "ok", nil
	})
	for _, tenant := range []string{"acme", "acme", "globex"} {
		resp, err := ep(context.Background(), tenant)
		fmt.Println(tenant, resp, err)
	}
	// Output:
	// acme <nil> acme's database is down
	// acme <nil> resilience: circuit open
	// globex ok <nil>
}

func ExampleRateLimiter_Endpoint() {
	l := resilience.NewRateLimiter("import", resilience.RateLimitSettings{Rate: 1, Burst: 1}, nil, observability.Instrumentation{})
	ep := l.Endpoint()(func(ctx context.Context, req any) (any, error) { return "imported", nil })
	for range 2 {
		resp, err := ep(context.Background(), nil)
		fmt.Println(resp, err)
	}
	// Output:
	// imported <nil>
	// <nil> resilience: rate limited
}

// ExampleContextWithRequest serves a go-kit endpoint limited per client IP: the
// ServerBefore func hands the request to the limiter's Endpoint form, which keys it
// as Server would.
func ExampleContextWithRequest() {
	l := resilience.NewRateLimiter("orders", resilience.RateLimitSettings{KeyRate: 1}, resilience.KeyByClientIP, observability.Instrumentation{})
	ep := l.Endpoint()(func(ctx context.Context, req any) (any, error) { return map[string]string{"order": "o-1"}, nil })
	srv := kithttp.NewServer(ep, func(context.Context, *http.Request) (any, error) { return nil, nil }, transport.EncodeJSONResponse,
		append(transport.KitServerOptions(nil), kithttp.ServerBefore(resilience.ContextWithRequest))...)
	for _, client := range []string{"10.0.0.1", "10.0.0.1", "10.0.0.2"} {
		req := httptest.NewRequest("POST", "/orders", nil)
		req.RemoteAddr = client + ":5000"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		fmt.Println(client, rec.Code)
	}
	// Output:
	// 10.0.0.1 200
	// 10.0.0.1 429
	// 10.0.0.2 200
}

func ExampleRetry_Do() {
	r := resilience.NewRetry("ledger", resilience.RetrySettings{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}, observability.Instrumentation{})
	tries := 0
	err := r.Do(context.Background(), func(ctx context.Context) error {
		tries++
		if tries < 2 {
			return &transport.Problem{Status: http.StatusServiceUnavailable}
		}
		return nil
	})
	fmt.Println(tries, err)
	// Output: 2 <nil>
}

func ExampleBulkhead_Client() {
	b := resilience.NewBulkhead("reports", resilience.BulkheadSettings{MaxConcurrent: 2}, resilience.KeyByHost, observability.Instrumentation{})
	rt := b.Client()(transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}))
	resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://reports/", nil))
	fmt.Println(resp.StatusCode, err)
	// Output: 200 <nil>
}

func ExampleBulkhead_Endpoint() {
	b := resilience.NewBulkhead("pdf", resilience.BulkheadSettings{MaxConcurrent: 1, MaxQueue: -1}, nil, observability.Instrumentation{})
	started, finish := make(chan struct{}), make(chan struct{})
	ep := b.Endpoint()(func(ctx context.Context, req any) (any, error) {
		if req == "slow" {
			close(started)
			<-finish
		}
		return "rendered", nil
	})
	go func() { _, _ = ep(context.Background(), "slow") }()
	<-started
	_, err := ep(context.Background(), "fast")
	close(finish)
	fmt.Println(err)
	// Output: resilience: bulkhead full
}

func ExampleShedder_Client() {
	s := resilience.NewShedder("search", resilience.ShedSettings{}, observability.Instrumentation{})
	rt := s.Client()(transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}))
	resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://search/", nil))
	fmt.Println(resp.StatusCode, err)
	// Output: 200 <nil>
}

func ExampleShedder_Endpoint() {
	s := resilience.NewShedder("quotes", resilience.ShedSettings{InitialLimit: 1, MinLimit: 1, MaxLimit: 1}, observability.Instrumentation{})
	started, finish := make(chan struct{}), make(chan struct{})
	ep := s.Endpoint()(func(ctx context.Context, req any) (any, error) {
		if req == "slow" {
			close(started)
			<-finish
		}
		return "quote", nil
	})
	go func() { _, _ = ep(context.Background(), "slow") }()
	<-started
	_, err := ep(context.Background(), "fast")
	close(finish)
	fmt.Println(err, transport.ProblemFor(err).Status)
	// Output: resilience: load shed 503
}

func ExampleKeyByHeader() {
	l := resilience.NewRateLimiter("api", resilience.RateLimitSettings{KeyRate: 1, KeyBurst: 1}, resilience.KeyByHeader("X-Api-Key"), observability.Instrumentation{})
	h := l.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, key := range []string{"a", "a", "b"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Api-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Println(key, rec.Code)
	}
	// Output:
	// a 200
	// a 429
	// b 200
}
