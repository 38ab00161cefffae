package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/gantry-go/gantry/observability"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

func ExampleNewBreaker() {
	b := resilience.NewBreaker("payment", resilience.BreakerSettings{ConsecutiveFailures: 2}, observability.Instrumentation{})
	fail := func() error { return errors.New("connection refused") }
	fmt.Println(b.Do(fail), b.State())
	fmt.Println(b.Do(fail), b.State())
	err := b.Do(func() error { return nil })
	fmt.Println(errors.Is(err, resilience.ErrOpen), transport.ProblemFor(err).Status)
	// Output:
	// connection refused closed
	// connection refused open
	// true 503
}

func ExampleBreaker_Server() {
	b := resilience.NewBreaker("orders", resilience.BreakerSettings{ConsecutiveFailures: 1}, observability.Instrumentation{})
	h := b.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/orders", nil))
		fmt.Printf("%d Retry-After=%q\n", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Output:
	// 500 Retry-After=""
	// 503 Retry-After="5"
}

func ExampleBreaker_Endpoint() {
	b := resilience.NewBreaker("catalog", resilience.BreakerSettings{ConsecutiveFailures: 1}, observability.Instrumentation{})
	notFound := &transport.Problem{Status: http.StatusNotFound, Detail: "no such sku"}
	ep := b.Endpoint()(func(ctx context.Context, req any) (any, error) { return nil, notFound })
	for range 3 {
		_, err := ep(context.Background(), "sku-1")
		fmt.Println(err)
	}
	fmt.Println(b.State()) // 404s are the caller's business: the breaker stays closed
	// Output:
	// transport: Not Found: no such sku
	// transport: Not Found: no such sku
	// transport: Not Found: no such sku
	// closed
}

func ExampleNewBreakerSet() {
	set := resilience.NewBreakerSet("upstreams", resilience.BreakerSettings{ConsecutiveFailures: 1}, resilience.KeyByHost, observability.Instrumentation{})
	rt := set.Client()(transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == "down" {
			return nil, errors.New("connection refused")
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}))
	_, _ = rt.RoundTrip(httptest.NewRequest("GET", "http://down/", nil))
	_, err := rt.RoundTrip(httptest.NewRequest("GET", "http://down/", nil))
	resp, _ := rt.RoundTrip(httptest.NewRequest("GET", "http://up/", nil))
	var snap resilience.Snapshot
	set.Inspect(&snap)
	fmt.Println(errors.Is(err, resilience.ErrOpen), resp.StatusCode, len(snap.Breakers))
	// Output: true 200 2
}

func ExampleNewRateLimiter() {
	l := resilience.NewRateLimiter("api", resilience.RateLimitSettings{Rate: 1, Burst: 2}, nil, observability.Instrumentation{})
	h := l.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		fmt.Printf("%d Retry-After=%q\n", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 Retry-After=""
	// 200 Retry-After=""
	// 429 Retry-After="1"
}

func ExampleRateLimiter_Client() {
	l := resilience.NewRateLimiter("outbound", resilience.RateLimitSettings{Rate: 0.001, Burst: 1}, nil, observability.Instrumentation{})
	rt := l.Client()(transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, _ := rt.RoundTrip(httptest.NewRequest("GET", "http://up/", nil).WithContext(ctx))
	fmt.Println(resp.StatusCode)
	// The next token is ~1000s away, past the 1s deadline: fail fast.
	_, err := rt.RoundTrip(httptest.NewRequest("GET", "http://up/", nil).WithContext(ctx))
	fmt.Println(errors.Is(err, resilience.ErrRateLimited), transport.ProblemFor(err).Status)
	// Output:
	// 200
	// true 429
}

func ExampleNewRetry() {
	attempts := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts++
		if attempts < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok after %s retries", r.Header.Get(transport.HeaderAttempt))
	}))
	defer up.Close()
	retry := resilience.NewRetry("catalog", resilience.RetrySettings{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}, observability.Instrumentation{})
	client := &http.Client{Transport: retry.Client()(http.DefaultTransport)}
	resp, err := client.Get(up.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 ok after 2 retries
}

func ExampleRetry_Endpoint() {
	retry := resilience.NewRetry("pricing", resilience.RetrySettings{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}, observability.Instrumentation{})
	calls := 0
	ep := retry.Endpoint(nil)(func(ctx context.Context, req any) (any, error) {
		calls++
		return nil, &transport.Problem{Status: http.StatusBadGateway}
	})
	_, err := ep(context.Background(), nil)
	fmt.Println(calls, transport.ProblemFor(err).Status)
	// Output: 3 502
}

func ExampleMarkRetryExhausted() {
	h := resilience.MarkRetryExhausted()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A Retry client working for r gave up on its upstream here
		// (resilience.retriesExhausted(r.Context()) reports it); the handler answers 502.
		w.WriteHeader(http.StatusBadGateway)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get(transport.HeaderRetryExhausted) == "")
	// Output: 502 true
}

func ExampleDeadline() {
	h := resilience.Deadline(resilience.DeadlineSettings{Floor: 50 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := r.Context().Deadline()
		fmt.Println("handler has a deadline:", ok)
	}))
	for _, ms := range []string{"2000", "10"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(transport.HeaderTimeout, ms)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Println(ms, "->", rec.Code)
	}
	// Output:
	// handler has a deadline: true
	// 2000 -> 200
	// 10 -> 504
}

func ExampleDeadlineEndpoint() {
	ep := resilience.DeadlineEndpoint(resilience.DeadlineSettings{Default: time.Second})(func(ctx context.Context, req any) (any, error) {
		_, ok := ctx.Deadline()
		return ok, nil
	})
	got, _ := ep(context.Background(), nil)
	fmt.Println(got)
	// Output: true
}

func ExampleTimeout() {
	slow := transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	_, err := resilience.Timeout(20 * time.Millisecond)(slow).RoundTrip(httptest.NewRequest("GET", "http://up/", nil))
	fmt.Println(err)
	// Output: context deadline exceeded
}

func ExampleTimeoutEndpoint() {
	ep := resilience.TimeoutEndpoint(20 * time.Millisecond)(func(ctx context.Context, req any) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	_, err := ep(context.Background(), nil)
	fmt.Println(err)
	// Output: context deadline exceeded
}

func ExampleNewBulkhead() {
	b := resilience.NewBulkhead("db", resilience.BulkheadSettings{MaxConcurrent: 1, MaxQueue: -1}, nil, observability.Instrumentation{})
	inside := make(chan struct{})
	done := make(chan struct{})
	go func() {
		_ = b.Do(context.Background(), "", func(context.Context) error { close(inside); <-done; return nil })
	}()
	<-inside
	err := b.Do(context.Background(), "", func(context.Context) error { return nil })
	close(done)
	fmt.Println(errors.Is(err, resilience.ErrBulkheadFull), transport.ProblemFor(err).Status)
	// Output: true 503
}

func ExampleNewShedder() {
	s := resilience.NewShedder("api", resilience.ShedSettings{InitialLimit: 4, MinLimit: 4, MaxLimit: 4}, observability.Instrumentation{})
	inside, done := make(chan struct{}), make(chan struct{})
	h := s.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inside <- struct{}{}
			<-done
		}
	}))
	for range 4 { // four requests in flight: the limit
		go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil))
		<-inside
	}
	for _, c := range []string{"", "critical"} {
		r := httptest.NewRequest("GET", "/fast", nil)
		r.Header.Set(transport.HeaderCriticality, c)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Printf("criticality %q: %d\n", c, rec.Code)
	}
	close(done)
	// Output:
	// criticality "": 503
	// criticality "critical": 200
}

func ExampleShedder_Server() {
	s := resilience.NewShedder("api", resilience.ShedSettings{}, observability.Instrumentation{})
	h := s.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest("GET", "/checkout", nil)
	r.Header.Set(transport.HeaderCriticality, "critical")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var snap resilience.Snapshot
	s.Inspect(&snap)
	fmt.Println(rec.Code, snap.Shedders[0].Limit)
	// Output: 200 20
}

func ExampleFallback() {
	var fb resilience.Fallback[[]string] = func(ctx context.Context, err error) ([]string, error) {
		return []string{"bestsellers (cached)"}, nil
	}
	recs, err := fb.Do(context.Background(), func(ctx context.Context) ([]string, error) {
		return nil, resilience.ErrOpen
	})
	fmt.Println(recs, err)
	// Output: [bestsellers (cached)] <nil>
}

type quoteRequest struct{ SKU string }
type quote struct{ Cents int }

func ExampleFallbackEndpoint() {
	var ep endpoint.Endpoint = func(ctx context.Context, req any) (any, error) {
		return nil, &transport.Problem{Status: http.StatusServiceUnavailable}
	}
	ep = resilience.FallbackEndpoint(func(ctx context.Context, r quoteRequest, err error) (quote, error) {
		return quote{Cents: 999}, nil // list price when pricing is down
	})(ep)
	got, err := ep(context.Background(), quoteRequest{SKU: "sku-1"})
	fmt.Println(got, err)
	// Output: {999} <nil>
}

func ExampleFallbackClient() {
	rt := resilience.FallbackClient(func(r *http.Request, resp *http.Response, err error) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("[]"))}, nil
	})(transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection refused")
	}))
	resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://recommendations/", nil))
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), err)
	// Output: 200 [] <nil>
}

func ExampleNewClientStack() {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "deadline header: ", r.Header.Get(transport.HeaderTimeout) != "")
	}))
	defer up.Close()
	stack, err := resilience.NewClientStack("catalog", resilience.ClientSettings{}, observability.Instrumentation{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// trace -> [request timeout -> retry -> rate limit -> breaker -> attempt timeout]
	// -> balancer -> deadline header -> transport
	client := &http.Client{Transport: transport.ClientChain(
		stack.Middleware(),
		transport.PropagateDeadline(),
	)(http.DefaultTransport)}
	resp, err := client.Get(up.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))

	_, err = resilience.NewClientStack("bad", resilience.ClientSettings{AttemptTimeout: time.Second}, observability.Instrumentation{})
	fmt.Println(err != nil && strings.Contains(err.Error(), "CLIENT_ATTEMPT_TIMEOUT"))
	// Output:
	// deadline header: true
	// true
}

func ExampleDebugHandler() {
	b := resilience.NewBreaker("payment", resilience.BreakerSettings{}, observability.Instrumentation{})
	_ = b.Do(func() error { return nil })
	mux := http.NewServeMux()
	mux.Handle("GET /debug/resilience", resilience.DebugHandler(b))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/resilience", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(strings.Contains(rec.Body.String(), `"name": "payment"`), strings.Contains(rec.Body.String(), `"state": "closed"`))
	// Output:
	// 200 application/json
	// true true
}

func ExampleBulkhead_Server() {
	b := resilience.NewBulkhead("uploads", resilience.BulkheadSettings{MaxConcurrent: 8}, resilience.KeyByClientIP, observability.Instrumentation{})
	h := b.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/uploads", nil))
	var snap resilience.Snapshot
	b.Inspect(&snap)
	fmt.Println(rec.Code, len(snap.Bulkheads))
	// Output: 200 1
}
