package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	kitcb "github.com/go-kit/kit/circuitbreaker"
	"github.com/go-kit/kit/endpoint"
	kitrl "github.com/go-kit/kit/ratelimit"
	gobreakerv1 "github.com/sony/gobreaker"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
)

// The resilience benchmarks compare each Gantry policy with the primitive it wraps
// (raw gobreaker v2, raw x/time/rate), with the same policies composed by hand, with
// failsafe-go v0.9.8 and with go-kit's endpoint chain, in one run:
//
//	cd bench && go test -run '^$' -bench 'Breaker|RateLimit|Retry|ClientStack|Timeout' -benchmem -count 5
//
// Handlers write to resWriter and clients call resUpstream, both allocation-free, so
// allocs/op measure the middleware alone and the network does not dominate.

// resWriter is a ResponseWriter that allocates nothing once its header map holds the
// keys a middleware sets.
type resWriter struct{ h http.Header }

func (w *resWriter) Header() http.Header         { return w.h }
func (w *resWriter) WriteHeader(int)             {}
func (w *resWriter) Write(b []byte) (int, error) { return len(b), nil }

// resBody is a response body that is not http.NoBody (so a timeout layer must keep
// its context until Close) and allocates nothing.
type resBody struct{}

func (resBody) Read([]byte) (int, error) { return 0, errEOF }
func (resBody) Close() error             { return nil }

var errEOF = errors.New("EOF")

// resUpstream is an in-memory RoundTripper answering a prebuilt 200. It resets the
// body on every call, since layers that wrap the body (timeouts, failsafe-go) replace
// resp.Body on the shared response.
type resUpstream struct{ resp *http.Response }

func newResUpstream() *resUpstream {
	return &resUpstream{resp: &http.Response{StatusCode: 200, Header: http.Header{}, Body: resBody{}}}
}

func (u *resUpstream) RoundTrip(*http.Request) (*http.Response, error) {
	u.resp.Body = resBody{}
	return u.resp, nil
}

var errResStatus = errors.New("5xx")

func resHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
}

func serveLoop(b *testing.B, h http.Handler) {
	w := &resWriter{h: http.Header{}}
	r := httptest.NewRequest("GET", "/", nil)
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

func clientLoop(b *testing.B, rt http.RoundTripper) {
	req := httptest.NewRequest("GET", "http://catalog/items", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
	}
}

// BenchmarkBreaker: server middleware over one breaker, versus a handler calling raw
// gobreaker v2 Execute around next (which, unlike the middleware, does not record the
// status). Target: ours 0 allocs/op and <= 1.10x raw.
func BenchmarkBreaker(b *testing.B) {
	next := resHandler()
	b.Run("impl=raw", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "raw"})
		serveLoop(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = cb.Execute(func() (struct{}, error) {
				next.ServeHTTP(w, r)
				return struct{}{}, nil
			})
		}))
	})
	b.Run("impl=ours", func(b *testing.B) {
		serveLoop(b, resilience.NewBreaker("ours", resilience.BreakerSettings{}, observability.Instrumentation{}).Server()(next))
	})
}

// BenchmarkRateLimit: server middleware versus raw x/time/rate Allow, on the allow
// path and on the reject path (1 token per second, burst 1: after the first call
// nearly every call is rejected; both write the same prebuilt 429 problem+json with
// Retry-After). Target: ours 0 allocs/op and <= raw + 10 ns.
func BenchmarkRateLimit(b *testing.B) {
	next := resHandler()
	for _, path := range []struct {
		name string
		r    float64
	}{{"allow", 1e12}, {"reject", 1}} {
		b.Run("path="+path.name+"/impl=raw", func(b *testing.B) {
			lim := rate.NewLimiter(rate.Limit(path.r), 1)
			// The same 429 problem response, prebuilt by hand.
			ctype, nosniff, one := []string{"application/problem+json"}, []string{"nosniff"}, []string{"1"}
			body := []byte(`{"title":"Too Many Requests","status":429,"detail":"rate limited"}`)
			serveLoop(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !lim.Allow() {
					h := w.Header()
					h["Content-Type"], h["X-Content-Type-Options"], h["Retry-After"] = ctype, nosniff, one
					w.WriteHeader(http.StatusTooManyRequests)
					_, _ = w.Write(body)
					return
				}
				next.ServeHTTP(w, r)
			}))
		})
		b.Run("path="+path.name+"/impl=ours", func(b *testing.B) {
			l := resilience.NewRateLimiter("ours", resilience.RateLimitSettings{Rate: path.r, Burst: 1}, nil, observability.Instrumentation{})
			serveLoop(b, l.Server()(next))
		})
	}
}

// BenchmarkRetry: the retry client middleware (budget on) on the success path, versus
// calling the RoundTripper directly (raw) and versus failsafe-go's retry policy. Target:
// ours 0 allocs/op.
func BenchmarkRetry(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) { clientLoop(b, newResUpstream()) })
	b.Run("impl=ours", func(b *testing.B) {
		clientLoop(b, resilience.NewRetry("ours", resilience.RetrySettings{}, observability.Instrumentation{}).Client()(newResUpstream()))
	})
	b.Run("impl=failsafe", func(b *testing.B) {
		clientLoop(b, failsafehttp.NewRoundTripper(newResUpstream(), retrypolicy.NewWithDefaults[*http.Response]()))
	})
}

// rawClientStack is retry + breaker + rate limit composed by hand from the same
// primitives: one x/time/rate limiter, one gobreaker v2 breaker, a 3-attempt loop.
func rawClientStack(next http.RoundTripper) http.RoundTripper {
	lim := rate.NewLimiter(rate.Limit(1e12), 1<<30)
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "raw"})
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		var (
			resp *http.Response
			err  error
		)
		for attempt := 0; attempt < 3; attempt++ {
			if !lim.Allow() {
				return nil, errors.New("rate limited")
			}
			_, cbErr := cb.Execute(func() (struct{}, error) {
				resp, err = next.RoundTrip(req)
				if err != nil {
					return struct{}{}, err
				}
				if resp.StatusCode >= 500 {
					return struct{}{}, errResStatus
				}
				return struct{}{}, nil
			})
			if cbErr == nil {
				return resp, nil
			}
			if err == nil && resp == nil {
				return nil, cbErr
			}
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func ourClientStack(b *testing.B, next http.RoundTripper, attempt, request time.Duration) http.RoundTripper {
	stack, err := resilience.NewClientStack("ours", resilience.ClientSettings{
		RateLimit:      resilience.RateLimitSettings{Rate: 1e12, Burst: 1 << 30},
		AttemptTimeout: attempt,
		RequestTimeout: request,
	}, observability.Instrumentation{})
	if err != nil {
		b.Fatal(err)
	}
	return stack.Middleware()(next)
}

// BenchmarkClientStack: retry (with budget) + rate limit + breaker, no timeout, on
// the success path. Baselines: the same raw primitives composed by hand (target ours
// <= 1.15x), failsafe-go v0.9.8's retry + circuit breaker + rate limiter round tripper
// (target <= 0.5x) and go-kit's endpoint chain of ratelimit + circuitbreaker over
// gobreaker v1, which has no retry (target <= 1.3x). Target: ours 0 allocs/op.
func BenchmarkClientStack(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) { clientLoop(b, rawClientStack(newResUpstream())) })
	b.Run("impl=ours", func(b *testing.B) { clientLoop(b, ourClientStack(b, newResUpstream(), -1, -1)) })
	b.Run("impl=failsafe", func(b *testing.B) {
		clientLoop(b, failsafehttp.NewRoundTripper(newResUpstream(),
			retrypolicy.NewWithDefaults[*http.Response](),
			circuitbreaker.NewWithDefaults[*http.Response](),
			ratelimiter.NewBursty[*http.Response](1<<30, time.Second)))
	})
	b.Run("impl=gokit", func(b *testing.B) {
		up := newResUpstream()
		ep := endpoint.Chain(
			kitrl.NewErroringLimiter(rate.NewLimiter(rate.Limit(1e12), 1<<30)),
			kitcb.Gobreaker(gobreakerv1.NewCircuitBreaker(gobreakerv1.Settings{Name: "kit"})),
		)(func(ctx context.Context, request any) (any, error) {
			return up.RoundTrip(request.(*http.Request))
		})
		clientLoop(b, roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := ep(req.Context(), req)
			if err != nil {
				return nil, err
			}
			return resp.(*http.Response), nil
		}))
	})
}

// BenchmarkTimeout: the client Timeout middleware versus context.WithTimeout +
// Request.WithContext by hand (raw, which cancels when RoundTrip returns; ours keeps
// the context until the body is closed, as a body read needs).
func BenchmarkTimeout(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) {
		up := newResUpstream()
		clientLoop(b, roundTripFunc(func(req *http.Request) (*http.Response, error) {
			ctx, cancel := context.WithTimeout(req.Context(), time.Second)
			defer cancel()
			return up.RoundTrip(req.WithContext(ctx))
		}))
	})
	b.Run("impl=ours", func(b *testing.B) { clientLoop(b, resilience.Timeout(time.Second)(newResUpstream())) })
}

// BenchmarkClientStackTimeout: the client stack with a per-request timeout (2s, the
// default; no per-attempt timeout) versus the hand-composed stack with
// context.WithTimeout. Target: ours <= 5 allocs/op.
func BenchmarkClientStackTimeout(b *testing.B) {
	b.Run("impl=raw", func(b *testing.B) {
		raw := rawClientStack(newResUpstream())
		clientLoop(b, roundTripFunc(func(req *http.Request) (*http.Response, error) {
			ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
			defer cancel()
			return raw.RoundTrip(req.WithContext(ctx))
		}))
	})
	b.Run("impl=ours", func(b *testing.B) { clientLoop(b, ourClientStack(b, newResUpstream(), -1, 2*time.Second)) })
}
