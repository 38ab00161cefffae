package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// A parity call is one request of a parity case. The test handler (HTTP form) and
// the test endpoint (Endpoint form) both obey its headers.
type parityCall struct {
	client string      // the client IP (RemoteAddr)
	header http.Header // request headers, the test's X-Test-* included
	hold   bool        // the call stays in flight until the probes are done
	gone   bool        // the caller canceled the request's context before the answer
}

const (
	hdrFail   = "X-Test-Fail"   // the status the handler answers, or the endpoint's error carries
	hdrFailer = "X-Test-Failer" // the endpoint reports the failure through endpoint.Failer, as a business error
	hdrHold   = "X-Test-Hold"
)

// leftResult is the success body of both forms: the deadline the handler saw.
type leftResult struct {
	Left string `json:"left"`
}

func deadlineLeft(ctx context.Context) leftResult {
	if dl, ok := ctx.Deadline(); ok {
		return leftResult{Left: time.Until(dl).String()}
	}
	return leftResult{Left: "none"}
}

// failedResult is a go-kit response carrying a business error.
type failedResult struct{ err error }

func (f failedResult) Failed() error { return f.err }

// parityServer returns the two forms of a server policy over the same test behaviour,
// and the counter of calls that reached the handler or endpoint.
type parityServer struct {
	release chan struct{}
	mu      sync.Mutex
	reached int
}

func (p *parityServer) enter(h http.Header) {
	p.mu.Lock()
	p.reached++
	p.mu.Unlock()
	if h.Get(hdrHold) != "" {
		<-p.release
	}
}

func (p *parityServer) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.enter(r.Header)
		if code, _ := strconv.Atoi(r.Header.Get(hdrFail)); code != 0 {
			transport.WriteError(w, r, &transport.Problem{Status: code})
			return
		}
		_ = transport.WriteJSON(w, http.StatusOK, deadlineLeft(r.Context()))
	})
}

func (p *parityServer) endpoint(ctx context.Context, request any) (any, error) {
	h := request.(http.Header)
	p.enter(h)
	if code, _ := strconv.Atoi(h.Get(hdrFail)); code != 0 {
		err := &transport.Problem{Status: code}
		if h.Get(hdrFailer) != "" {
			return failedResult{err}, nil
		}
		return nil, err
	}
	return deadlineLeft(ctx), nil
}

// kitServer serves ep as a go-kit HTTP server wired the way the Endpoint forms
// document: Gantry's options plus ContextWithRequest.
func kitServer(ep endpoint.Endpoint) http.Handler {
	decode := func(_ context.Context, r *http.Request) (any, error) { return r.Header, nil }
	opts := append(transport.KitServerOptions(nil), kithttp.ServerBefore(resilience.ContextWithRequest))
	return kithttp.NewServer(ep, decode, transport.EncodeJSONResponse, opts...)
}

// serve runs calls through h: the held ones first, each in its own goroutine, then,
// once they are all blocked or answered, the others in order. It returns what each
// call got ("status body" for 2xx, "status retry-after=N" otherwise).
func serve(h http.Handler, p *parityServer, calls []parityCall) []string {
	got := make([]string, len(calls))
	do := func(i int) {
		c := calls[i]
		req := httptest.NewRequest("GET", "/orders", nil)
		req.RemoteAddr = c.client + ":1234"
		for k, v := range c.header {
			req.Header[k] = v
		}
		if c.hold {
			req.Header.Set(hdrHold, "1")
		}
		if c.gone {
			ctx, cancel := context.WithCancel(req.Context())
			cancel()
			req = req.WithContext(ctx)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 300 {
			got[i] = fmt.Sprintf("%d %s", rec.Code, strings.TrimSpace(rec.Body.String()))
		} else {
			got[i] = fmt.Sprintf("%d retry-after=%q", rec.Code, rec.Header().Get(transport.HeaderRetryAfter))
		}
	}
	var wg sync.WaitGroup
	for i, c := range calls {
		if c.hold {
			wg.Go(func() { do(i) })
		}
	}
	synctest.Wait()
	for i, c := range calls {
		if !c.hold {
			do(i)
		}
	}
	close(p.release)
	wg.Wait()
	return got
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// TestEndpointFormsMatchServerForms runs each server policy in its Server form and in
// its Endpoint form (behind a go-kit HTTP server with ContextWithRequest), each with a
// fresh policy of the same settings, through the same calls, and asserts that every
// call gets the same answer from both and that the expected number of calls got
// through.
func TestEndpointFormsMatchServerForms(t *testing.T) {
	none := observability.Instrumentation{}
	fail := func(code int) http.Header { return hdr(hdrFail, strconv.Itoa(code)) }
	failer := func(code int) http.Header { return hdr(hdrFail, strconv.Itoa(code), hdrFailer, "1") }
	apiKey := func(k string) http.Header { return hdr("X-Api-Key", k) }
	crit := func(c string) http.Header { return hdr(transport.HeaderCriticality, c) }
	timeout := func(v string) http.Header { return hdr(transport.HeaderTimeout, v) }
	tests := []struct {
		name string
		// policy returns a fresh policy's two forms.
		policy      func() (func(http.Handler) http.Handler, endpoint.Middleware)
		calls       []parityCall
		wantReached int // calls that got through to the handler / endpoint
	}{
		{
			name: "RateLimiter global rate",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				l := func() *resilience.RateLimiter {
					return resilience.NewRateLimiter("rl", resilience.RateLimitSettings{Rate: 1, Burst: 2}, nil, none)
				}
				return l().Server(), l().Endpoint()
			},
			calls:       []parityCall{{client: "10.0.0.1"}, {client: "10.0.0.1"}, {client: "10.0.0.2"}, {client: "10.0.0.2"}},
			wantReached: 2,
		},
		{
			name: "RateLimiter per client IP",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				l := func() *resilience.RateLimiter {
					return resilience.NewRateLimiter("rl", resilience.RateLimitSettings{KeyRate: 1}, nil, none)
				}
				return l().Server(), l().Endpoint()
			},
			calls: []parityCall{{client: "10.0.0.1"}, {client: "10.0.0.2"}, {client: "10.0.0.1"},
				{client: "10.0.0.2"}, {client: "10.0.0.3"}, {client: "10.0.0.1"}},
			wantReached: 3,
		},
		{
			name: "RateLimiter per header key under a global rate",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				l := func() *resilience.RateLimiter {
					return resilience.NewRateLimiter("rl", resilience.RateLimitSettings{Rate: 1, Burst: 3, KeyRate: 1},
						resilience.KeyByHeader("X-Api-Key"), none)
				}
				return l().Server(), l().Endpoint()
			},
			calls: []parityCall{{header: apiKey("a")}, {header: apiKey("a")}, {header: apiKey("b")},
				{header: apiKey("b")}, {header: apiKey("c")}, {header: apiKey("d")}},
			wantReached: 3,
		},
		{
			name: "Breaker trips on consecutive failures, 4xx neutral",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				b := func() *resilience.Breaker {
					return resilience.NewBreaker("b", resilience.BreakerSettings{ConsecutiveFailures: 3}, none)
				}
				return b().Server(), b().Endpoint()
			},
			calls: []parityCall{{header: fail(500)}, {header: fail(404)}, {header: fail(502)}, {header: fail(503)},
				{}, {}},
			wantReached: 4,
		},
		{
			name: "Breaker judges go-kit business errors (Failer) by their status",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				b := func() *resilience.Breaker {
					return resilience.NewBreaker("b", resilience.BreakerSettings{ConsecutiveFailures: 2}, none)
				}
				return b().Server(), b().Endpoint()
			},
			calls:       []parityCall{{header: fail(500)}, {header: failer(409)}, {header: failer(500)}, {}, {}},
			wantReached: 3,
		},
		{
			name: "Breaker ignores failures after the caller left",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				b := func() *resilience.Breaker {
					return resilience.NewBreaker("b", resilience.BreakerSettings{ConsecutiveFailures: 1}, none)
				}
				return b().Server(), b().Endpoint()
			},
			calls:       []parityCall{{gone: true, header: fail(503)}, {}},
			wantReached: 2,
		},
		{
			name: "BreakerSet per client IP",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				s := func() *resilience.BreakerSet {
					return resilience.NewBreakerSet("bs", resilience.BreakerSettings{ConsecutiveFailures: 1}, resilience.KeyByClientIP, none)
				}
				return s().Server(), s().Endpoint(nil)
			},
			calls: []parityCall{{client: "10.0.0.1", header: fail(500)}, {client: "10.0.0.1"},
				{client: "10.0.0.2"}, {client: "10.0.0.2"}},
			wantReached: 3,
		},
		{
			name: "Bulkhead per client IP",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				b := func() *resilience.Bulkhead {
					return resilience.NewBulkhead("bh", resilience.BulkheadSettings{MaxConcurrent: 1, MaxQueue: -1}, resilience.KeyByClientIP, none)
				}
				return b().Server(), b().Endpoint()
			},
			calls:       []parityCall{{client: "10.0.0.1", hold: true}, {client: "10.0.0.1"}, {client: "10.0.0.2"}},
			wantReached: 2,
		},
		{
			name: "Bulkhead queue timeout",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				b := func() *resilience.Bulkhead {
					return resilience.NewBulkhead("bh", resilience.BulkheadSettings{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: 50 * time.Millisecond}, nil, none)
				}
				return b().Server(), b().Endpoint()
			},
			calls:       []parityCall{{client: "10.0.0.1", hold: true}, {client: "10.0.0.2"}},
			wantReached: 1,
		},
		{
			name: "Shedder by criticality",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				s := func() *resilience.Shedder {
					return resilience.NewShedder("shed", resilience.ShedSettings{InitialLimit: 4, MinLimit: 4, MaxLimit: 4}, none)
				}
				return s().Server(), s().Endpoint()
			},
			// Four Normal calls fill the limit of 4: sheddable calls stop at 3 and
			// normal ones at 4, critical ones may go to 5.
			calls: []parityCall{{hold: true}, {hold: true}, {hold: true}, {hold: true},
				{header: crit("sheddable")}, {}, {header: crit("critical")}},
			wantReached: 5,
		},
		{
			name: "Deadline header, floor, default",
			policy: func() (func(http.Handler) http.Handler, endpoint.Middleware) {
				s := resilience.DeadlineSettings{Floor: 20 * time.Millisecond, Default: 2 * time.Second, TransitAllowance: 5 * time.Millisecond}
				return resilience.Deadline(s), resilience.DeadlineEndpoint(s)
			},
			calls: []parityCall{{}, {header: timeout("1000")}, {header: timeout("soon")}, {header: timeout("0")},
				{header: timeout("10")}, {header: timeout("25")}},
			wantReached: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				httpMW, epMW := tt.policy()
				hp := &parityServer{release: make(chan struct{})}
				ep := &parityServer{release: make(chan struct{})}
				viaHTTP := serve(httpMW(hp.handler()), hp, tt.calls)
				viaEndpoint := serve(kitServer(epMW(ep.endpoint)), ep, tt.calls)
				for i := range tt.calls {
					if viaHTTP[i] != viaEndpoint[i] {
						t.Errorf("call %d (%+v): Endpoint form = %s, want %s as the Server form", i, tt.calls[i], viaEndpoint[i], viaHTTP[i])
					}
				}
				if hp.reached != tt.wantReached || ep.reached != tt.wantReached {
					t.Errorf("calls through: Server form %d, Endpoint form %d, want %d\nServer:   %q\nEndpoint: %q",
						hp.reached, ep.reached, tt.wantReached, viaHTTP, viaEndpoint)
				}
			})
		})
	}
}

// TestKeyedEndpointsWithoutRequest checks that a keyed policy's Endpoint form, called
// without ContextWithRequest, still applies its per-key limit, to the key "".
func TestKeyedEndpointsWithoutRequest(t *testing.T) {
	none := observability.Instrumentation{}
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	t.Run("RateLimiter", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := resilience.NewRateLimiter("rl", resilience.RateLimitSettings{KeyRate: 1}, nil, none)
			ep := l.Endpoint()(ok)
			rejected := 0
			for range 100 {
				if _, err := ep(context.Background(), nil); errors.Is(err, resilience.ErrRateLimited) {
					rejected++
				}
			}
			if rejected != 99 {
				t.Errorf("RateLimiter{KeyRate: 1}.Endpoint() rejected %d of 100 calls at once, want 99", rejected)
			}
			var snap resilience.Snapshot
			l.Inspect(&snap)
			if got := snap.Limiters[0].Keys; got != 1 {
				t.Errorf("RateLimiter keys = %d after calls without a request, want 1 (the key \"\")", got)
			}
		})
	})
	t.Run("Bulkhead", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := resilience.NewBulkhead("bh", resilience.BulkheadSettings{MaxConcurrent: 1, MaxQueue: -1}, resilience.KeyByClientIP, none)
			release := make(chan struct{})
			ep := b.Endpoint()(func(_ context.Context, request any) (any, error) {
				if request == "hold" {
					<-release
				}
				return "ok", nil
			})
			go func() { _, _ = ep(context.Background(), "hold") }()
			synctest.Wait()
			_, err := ep(context.Background(), nil)
			close(release)
			if !errors.Is(err, resilience.ErrBulkheadFull) {
				t.Errorf("Bulkhead.Endpoint() second concurrent call = %v, want ErrBulkheadFull", err)
			}
		})
	})
	t.Run("BreakerSet", func(t *testing.T) {
		s := resilience.NewBreakerSet("bs", resilience.BreakerSettings{ConsecutiveFailures: 1}, resilience.KeyByClientIP, none)
		ep := s.Endpoint(nil)(func(context.Context, any) (any, error) { return nil, errors.New("refused") })
		_, _ = ep(context.Background(), nil)
		if _, err := ep(context.Background(), nil); !errors.Is(err, resilience.ErrOpen) {
			t.Errorf("BreakerSet.Endpoint(nil) call after a failure = %v, want ErrOpen", err)
		}
		if got := s.Get("").State(); got != "open" {
			t.Errorf("BreakerSet.Get(\"\").State() = %q, want open", got)
		}
	})
}

// TestClientEndpointFormsMatch compares Timeout with TimeoutEndpoint and
// FallbackClient with FallbackEndpoint, the policies whose HTTP form is client side.
func TestClientEndpointFormsMatch(t *testing.T) {
	t.Run("Timeout", func(t *testing.T) {
		for _, tc := range []struct {
			d, inbound time.Duration // 0 = none
			want       string
		}{
			{d: time.Second, want: "1s"},
			{d: time.Second, inbound: 200 * time.Millisecond, want: "200ms"},
			{d: time.Second, inbound: 5 * time.Second, want: "1s"},
			{d: 0, inbound: 5 * time.Second, want: "5s"},
			{d: 0, want: "none"},
		} {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				if tc.inbound > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.inbound)
					defer cancel()
				}
				var viaHTTP, viaEndpoint string
				rt := resilience.Timeout(tc.d)(transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
					viaHTTP = deadlineLeft(req.Context()).Left
					return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
				}))
				resp, err := rt.RoundTrip(httptest.NewRequestWithContext(ctx, "GET", "http://up/", nil))
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				ep := resilience.TimeoutEndpoint(tc.d)(func(ctx context.Context, _ any) (any, error) {
					viaEndpoint = deadlineLeft(ctx).Left
					return nil, nil
				})
				_, _ = ep(ctx, nil)
				if viaHTTP != tc.want || viaEndpoint != tc.want {
					t.Errorf("Timeout(%v) under a %v deadline: attempt deadline %s, TimeoutEndpoint %s; want %s",
						tc.d, tc.inbound, viaHTTP, viaEndpoint, tc.want)
				}
			})
		}
	})
	t.Run("Fallback", func(t *testing.T) {
		refused := fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)
		for _, tc := range []struct {
			name   string
			status int   // the upstream's answer over HTTP; also the endpoint error's status
			err    error // a round-trip error, returned as is by the endpoint too
			failer bool  // the endpoint reports the status through endpoint.Failer
			want   bool  // falls back
		}{
			{name: "500", status: 500, want: true},
			{name: "503", status: 503, want: true},
			{name: "429", status: 429, want: true},
			{name: "408", status: 408, want: true},
			{name: "404", status: 404, want: false},
			{name: "409 via Failer", status: 409, failer: true, want: false},
			{name: "503 via Failer", status: 503, failer: true, want: true},
			{name: "200", status: 200, want: false},
			{name: "open breaker", err: resilience.ErrOpen, want: true},
			{name: "connection refused", err: refused, want: true},
			{name: "canceled", err: context.Canceled, want: false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var viaHTTP, viaEndpoint bool
				rt := resilience.FallbackClient(func(*http.Request, *http.Response, error) (*http.Response, error) {
					viaHTTP = true
					return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("cached"))}, nil
				})(transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
					if tc.err != nil {
						return nil, tc.err
					}
					return &http.Response{StatusCode: tc.status, Header: http.Header{}, Body: http.NoBody}, nil
				}))
				if resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://up/", nil)); err == nil {
					_ = resp.Body.Close()
				}
				ep := resilience.FallbackEndpoint(func(context.Context, string, error) (string, error) {
					viaEndpoint = true
					return "cached", nil
				})(func(context.Context, any) (any, error) {
					switch {
					case tc.err != nil:
						return nil, tc.err
					case tc.status >= 400 && tc.failer:
						return failedResult{&transport.Problem{Status: tc.status}}, nil
					case tc.status >= 400:
						return nil, &transport.Problem{Status: tc.status}
					}
					return "fresh", nil
				})
				_, _ = ep(context.Background(), "request")
				if viaHTTP != tc.want || viaEndpoint != tc.want {
					t.Errorf("fell back: FallbackClient %v, FallbackEndpoint %v; want %v", viaHTTP, viaEndpoint, tc.want)
				}
			})
		}
	})
}
