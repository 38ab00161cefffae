package resilience

import (
	"bytes"
	"context"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gantry-go/gantry/transport"
)

// stormUpstream is a real HTTP server that answers 503 to everything and records
// every attempt it sees.
type stormUpstream struct {
	srv      *httptest.Server
	attempts atomic.Int64
	mu       sync.Mutex
	perID    map[string]int
	bodies   map[string][]string
	badAttr  atomic.Int64
}

func newStormUpstream(t *testing.T, header http.Header) *stormUpstream {
	u := &stormUpstream{perID: map[string]int{}, bodies: map[string][]string{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.attempts.Add(1)
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(transport.HeaderRequestID)
		u.mu.Lock()
		n := u.perID[id]
		u.perID[id] = n + 1
		u.bodies[id] = append(u.bodies[id], string(body))
		u.mu.Unlock()
		// The attempt header is absent on the first attempt and n on retry n.
		if got := r.Header.Get(transport.HeaderAttempt); (n == 0 && got != "") || (n > 0 && got != strconv.Itoa(n)) {
			u.badAttr.Add(1)
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *stormUpstream) maxPerRequest() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := 0
	for _, n := range u.perID {
		m = max(m, n)
	}
	return m
}

// storm sends logical requests from 20 workers and returns attempts / logical.
func storm(t *testing.T, u *stormUpstream, r *Retry, logical int, newReq func(i int) *http.Request) float64 {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: r.Client()(tr)}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= logical {
					return
				}
				resp, err := client.Do(newReq(i))
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("request %d: status %d, want 503", i, resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	return float64(u.attempts.Load()) / float64(logical)
}

func getReq(u *stormUpstream) func(int) *http.Request {
	return func(i int) *http.Request {
		req, _ := http.NewRequest("GET", u.srv.URL+"/x", nil)
		req.Header.Set(transport.HeaderRequestID, strconv.Itoa(i))
		return req
	}
}

var fastRetry = RetrySettings{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}

func TestRetryStorm(t *testing.T) {
	const logical = 1000
	t.Run("budget on", func(t *testing.T) {
		u := newStormUpstream(t, nil)
		ratio := storm(t, u, NewRetry("storm", fastRetry, observability.Instrumentation{}), logical, getReq(u))
		t.Logf("attempts/logical with budget = %.3f", ratio)
		if ratio > 1.15 {
			t.Errorf("attempts/logical with budget = %.3f, want <= 1.15", ratio)
		}
		if m := u.maxPerRequest(); m > 3 {
			t.Errorf("max attempts for one request = %d, want <= 3", m)
		}
		if n := u.badAttr.Load(); n != 0 {
			t.Errorf("%d attempts carried a wrong %s header", n, transport.HeaderAttempt)
		}
	})
	t.Run("budget off", func(t *testing.T) {
		u := newStormUpstream(t, nil)
		s := fastRetry
		s.BudgetDisabled = true
		ratio := storm(t, u, NewRetry("storm", s, observability.Instrumentation{}), logical, getReq(u))
		if ratio < 2.5 {
			t.Errorf("attempts/logical without budget = %.3f, want >= 2.5", ratio)
		}
		if m := u.maxPerRequest(); m != 3 {
			t.Errorf("max attempts for one request = %d, want 3", m)
		}
		if n := u.badAttr.Load(); n != 0 {
			t.Errorf("%d attempts carried a wrong %s header", n, transport.HeaderAttempt)
		}
	})
	t.Run("POST without Idempotency-Key never retried", func(t *testing.T) {
		u := newStormUpstream(t, nil)
		s := fastRetry
		s.BudgetDisabled = true
		ratio := storm(t, u, NewRetry("storm", s, observability.Instrumentation{}), 100, func(i int) *http.Request {
			req, _ := http.NewRequest("POST", u.srv.URL+"/pay", bytes.NewReader([]byte("amount=1")))
			req.Header.Set(transport.HeaderRequestID, strconv.Itoa(i))
			return req
		})
		if ratio != 1 {
			t.Errorf("attempts/logical for POST without key = %v, want 1", ratio)
		}
	})
	t.Run("body replayed byte for byte", func(t *testing.T) {
		u := newStormUpstream(t, nil)
		s := fastRetry
		s.BudgetDisabled = true
		body := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 3000)
		ratio := storm(t, u, NewRetry("storm", s, observability.Instrumentation{}), 20, func(i int) *http.Request {
			req, _ := http.NewRequest("POST", u.srv.URL+"/pay", bytes.NewReader(body))
			req.Header.Set(transport.HeaderRequestID, strconv.Itoa(i))
			req.Header.Set(transport.HeaderIdempotencyKey, "key-"+strconv.Itoa(i))
			return req
		})
		if ratio != 3 {
			t.Errorf("attempts/logical for keyed POST = %v, want 3", ratio)
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		for id, bodies := range u.bodies {
			for n, b := range bodies {
				if b != string(body) {
					t.Fatalf("request %s attempt %d: body of %d bytes differs from the %d sent", id, n, len(b), len(body))
				}
			}
		}
	})
	t.Run("exhausted upstream not retried", func(t *testing.T) {
		u := newStormUpstream(t, http.Header{transport.HeaderRetryExhausted: {"1"}})
		s := fastRetry
		s.BudgetDisabled = true
		if ratio := storm(t, u, NewRetry("storm", s, observability.Instrumentation{}), 50, getReq(u)); ratio != 1 {
			t.Errorf("attempts/logical against an exhausted upstream = %v, want 1", ratio)
		}
	})
}

type fakeRT struct {
	mu    sync.Mutex
	calls int
	resps []*http.Response
	errs  []error
}

func (f *fakeRT) RoundTrip(*http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := min(f.calls, len(f.resps)-1)
	f.calls++
	return f.resps[i], f.errs[i]
}

func status(code int, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: code, Header: h, Body: http.NoBody}
}

func TestRetryHonoursRetryAfterWithinDeadline(t *testing.T) {
	{
		for _, tc := range []struct {
			name      string
			timeout   time.Duration
			wantCalls int
			wantWait  time.Duration
			wantCode  int
		}{
			{"deadline allows the wait", 5 * time.Second, 2, 2 * time.Second, 200},
			{"deadline too short", 1500 * time.Millisecond, 1, 0, 503},
		} {
			t.Run(tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					r := NewRetry("ra", RetrySettings{BudgetDisabled: true}, observability.Instrumentation{})
					f := &fakeRT{resps: []*http.Response{status(503, http.Header{"Retry-After": {"2"}}), status(200, nil)}, errs: []error{nil, nil}}
					ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
					defer cancel()
					start := time.Now()
					resp, err := r.Client()(f).RoundTrip(httptest.NewRequest("GET", "http://up/", nil).WithContext(ctx))
					if err != nil || resp.StatusCode != tc.wantCode || f.calls != tc.wantCalls || time.Since(start) < tc.wantWait || time.Since(start) > tc.wantWait+250*time.Millisecond {
						t.Fatalf("RoundTrip() = %v, %v after %v with %d calls, want %d after ~%v with %d calls",
							resp.StatusCode, err, time.Since(start), f.calls, tc.wantCode, tc.wantWait, tc.wantCalls)
					}
					if tc.wantCode == 503 && resp.Header.Get(transport.HeaderRetryExhausted) == "" {
						t.Fatalf("given-up response lacks %s", transport.HeaderRetryExhausted)
					}
				})
			})
		}
	}
}

func TestRetryNotOnRejectionsOr4xx(t *testing.T) {
	r := NewRetry("x", RetrySettings{BudgetDisabled: true, BaseDelay: time.Nanosecond, MaxDelay: time.Nanosecond}, observability.Instrumentation{})
	for _, tc := range []struct {
		name string
		resp *http.Response
		err  error
		want int
	}{
		{"404", status(404, nil), nil, 1},
		{"open breaker below", nil, reject(ErrOpen, time.Second), 1},
		{"canceled", nil, context.Canceled, 1},
		{"500", status(500, nil), nil, 3},
		{"connection reset", nil, errors.New("read: connection reset by peer"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRT{resps: []*http.Response{tc.resp}, errs: []error{tc.err}}
			_, _ = r.Client()(f).RoundTrip(httptest.NewRequest("GET", "http://up/", nil))
			if f.calls != tc.want {
				t.Fatalf("attempts = %d, want %d", f.calls, tc.want)
			}
		})
	}
}

func TestRetryEndpointBudgetExhausted(t *testing.T) {
	r := NewRetry("ep", RetrySettings{BaseDelay: time.Nanosecond, MaxDelay: time.Nanosecond, BudgetMinPerSecond: 1e-9, BudgetMaxBanked: 1}, observability.Instrumentation{})
	calls := 0
	ep := r.Endpoint(nil)(func(context.Context, any) (any, error) {
		calls++
		return nil, &transport.Problem{Status: 502}
	})
	var lastErr error
	for range 30 {
		_, lastErr = ep(context.Background(), nil)
	}
	// 30 requests deposit 3 retries; the floor adds 1 token at the start.
	if calls > 30+4 {
		t.Fatalf("calls = %d for 30 requests, want <= 34", calls)
	}
	if !errors.Is(lastErr, ErrBudgetExhausted) || transport.ProblemFor(lastErr).Status != 502 {
		t.Fatalf("last error = %v (status %d), want ErrBudgetExhausted keeping the upstream's 502", lastErr, transport.ProblemFor(lastErr).Status)
	}
}

// TestRetryClientBudgetExhausted: over HTTP too, an error whose retry the budget
// refused says so (ErrBudgetExhausted), keeping the transport's error.
func TestRetryClientBudgetExhausted(t *testing.T) {
	r := NewRetry("rt", RetrySettings{BaseDelay: time.Nanosecond, MaxDelay: time.Nanosecond, BudgetMinPerSecond: 1e-9, BudgetMaxBanked: 1}, observability.Instrumentation{})
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	var lastErr error
	for range 30 {
		f := &fakeRT{resps: []*http.Response{nil}, errs: []error{refused}}
		_, lastErr = r.Client()(f).RoundTrip(httptest.NewRequest("GET", "http://up/", nil))
	}
	if !errors.Is(lastErr, ErrBudgetExhausted) || !errors.Is(lastErr, syscall.ECONNREFUSED) {
		t.Fatalf("last error = %v, want ErrBudgetExhausted keeping the dial error", lastErr)
	}
}

func TestMarkRetryExhausted(t *testing.T) {
	u := newStormUpstream(t, nil)
	r := NewRetry("edge", RetrySettings{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, BudgetDisabled: true}, observability.Instrumentation{})
	client := &http.Client{Transport: r.Client()(http.DefaultTransport)}
	h := MarkRetryExhausted()(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		out, _ := http.NewRequestWithContext(req.Context(), "GET", u.srv.URL, nil)
		resp, err := client.Do(out)
		if err == nil {
			resp.Body.Close()
		}
		transport.WriteError(w, req, &transport.Problem{Status: http.StatusBadGateway})
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 502 || rec.Header().Get(transport.HeaderRetryExhausted) != "1" {
		t.Fatalf("edge answered %d with %s=%q, want 502 marked exhausted", rec.Code, transport.HeaderRetryExhausted, rec.Header().Get(transport.HeaderRetryExhausted))
	}
	if got := u.attempts.Load(); got != 3 {
		t.Fatalf("upstream attempts = %d, want 3", got)
	}
}

func TestRetrySuccessAllocs(t *testing.T) {
	r := NewRetry("x", RetrySettings{}, observability.Instrumentation{})
	ok := status(200, nil)
	rt := r.Client()(transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) { return ok, nil }))
	req := httptest.NewRequest("GET", "http://up/", nil)
	if got := testing.AllocsPerRun(1000, func() { _, _ = rt.RoundTrip(req) }); got != 0 {
		t.Fatalf("Retry success path: AllocsPerRun = %v, want 0", got)
	}
}

func TestRetryPOSTOnlyWhenTheDialFailed(t *testing.T) {
	r := NewRetry("x", RetrySettings{BudgetDisabled: true, BaseDelay: time.Nanosecond, MaxDelay: time.Nanosecond}, observability.Instrumentation{})
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		errs []error
		want int
	}{
		{"refused, then accepted", []error{dialErr, nil}, 2},
		{"reset after sending", []error{errors.New("read: connection reset by peer"), nil}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRT{resps: []*http.Response{nil, status(201, nil)}, errs: tc.errs}
			req, _ := http.NewRequest("POST", "http://payment/charges", bytes.NewReader([]byte("{}")))
			_, _ = r.Client()(f).RoundTrip(req)
			if f.calls != tc.want {
				t.Fatalf("POST attempts = %d, want %d", f.calls, tc.want)
			}
		})
	}
}

// TestRetryBudgetRefusalsAreCounted: every retry the budget refuses adds 1 to
// resilience.rejections{resilience.policy=retry, resilience.name}, through Do and
// over HTTP (a real upstream answering 503, a real refused dial): as many as the
// calls that ended in ErrBudgetExhausted, or the budget's own denied count.
func TestRetryBudgetRefusalsAreCounted(t *testing.T) {
	// Two attempts: a call whose one retry the budget allowed ends out of attempts,
	// which is no refusal.
	tight := RetrySettings{MaxAttempts: 2, BaseDelay: time.Nanosecond, MaxDelay: time.Nanosecond, BudgetMinPerSecond: 1e-9, BudgetMaxBanked: 1}
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	refusedURL := closed.URL
	closed.Close() // connection refused from now on

	// get sends one GET through r, over a real transport, to url.
	get := func(t *testing.T, r *Retry, url string) bool {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		resp, err := r.Client()(tr).RoundTrip(req)
		discard(resp)
		return errors.Is(err, ErrBudgetExhausted)
	}
	for _, tc := range []struct {
		name string
		// call makes one call through r and reports whether it ended in
		// ErrBudgetExhausted.
		call func(t *testing.T, r *Retry) bool
		// errs says whether a refusal shows as ErrBudgetExhausted (a 503 response
		// comes back as it is, with no error).
		errs bool
	}{
		{"Do", func(t *testing.T, r *Retry) bool {
			return errors.Is(r.Do(t.Context(), func(context.Context) error { return &transport.Problem{Status: 502} }), ErrBudgetExhausted)
		}, true},
		{"Client, upstream answers 503", func(t *testing.T, r *Retry) bool { return get(t, r, unavailable.URL) }, false},
		{"Client, dial refused", func(t *testing.T, r *Retry) bool { return get(t, r, refusedURL) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			defer func() { _ = mp.Shutdown(context.Background()) }()
			r := NewRetry("up", tight, observability.Instrumentation{MeterProvider: mp})
			exhausted := 0
			for range 30 {
				if tc.call(t, r) {
					exhausted++
				}
			}
			var snap Snapshot
			r.Inspect(&snap)
			denied := int64(snap.Budgets[0].Denied)
			if denied == 0 || denied == 30 {
				t.Fatalf("the budget refused %d retries of 30 calls, want some but not all", denied)
			}
			if tc.errs && int64(exhausted) != denied {
				t.Fatalf("calls ending in ErrBudgetExhausted = %d, budget denied = %d, want equal", exhausted, denied)
			}
			if got := retryRejections(t, reader); got != denied {
				t.Errorf("resilience.rejections{resilience.policy=retry, resilience.name=up} = %d, want %d (the refused retries)", got, denied)
			}
		})
	}
}

// retryRejections returns resilience.rejections{resilience.policy=retry,
// resilience.name=up} as read from reader; any other series fails t.
func retryRejections(t *testing.T, reader *sdkmetric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var got int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || m.Name != "resilience.rejections" {
				continue
			}
			for _, dp := range sum.DataPoints {
				policy, _ := dp.Attributes.Value("resilience.policy")
				name, _ := dp.Attributes.Value("resilience.name")
				if policy.AsString() != "retry" || name.AsString() != "up" {
					t.Errorf("resilience.rejections series %v, want only resilience.policy=retry, resilience.name=up", dp.Attributes.ToSlice())
					continue
				}
				got += dp.Value
			}
		}
	}
	return got
}
