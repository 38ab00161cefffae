package resilience

import (
	"context"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/transport"
)

func TestRateLimitAccuracy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter("api", RateLimitSettings{Rate: 50, Burst: 10}, nil, observability.Instrumentation{})
		h := l.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		const seconds = 6
		accepted := make([]int, seconds)
		start := time.Now()
		// Offer 200 requests per second, one every 5 ms.
		for i := range seconds * 200 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			switch rec.Code {
			case http.StatusOK:
				accepted[int(time.Since(start)/time.Second)]++
			case http.StatusTooManyRequests:
				ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
				if err != nil || ra < 1 {
					t.Fatalf("request %d: Retry-After = %q, want an integer >= 1", i, rec.Header().Get("Retry-After"))
				}
				if rec.Header().Get("Content-Type") != transport.ContentTypeProblem {
					t.Fatalf("request %d: Content-Type = %q, want problem+json", i, rec.Header().Get("Content-Type"))
				}
			default:
				t.Fatalf("request %d: status %d, want 200 or 429", i, rec.Code)
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Second 0 also spends the burst of 10.
		if accepted[0] < 55 || accepted[0] > 65 {
			t.Errorf("accepted in second 0 = %d, want 60 ± 5 (50/s plus a burst of 10)", accepted[0])
		}
		for s := 1; s < seconds; s++ {
			if accepted[s] < 45 || accepted[s] > 55 {
				t.Errorf("accepted in second %d = %d, want 50 ± 5", s, accepted[s])
			}
		}
		if got := l.snapshot().Rejected; got != uint64(seconds*200-sum(accepted)) {
			t.Errorf("Snapshot().Rejected = %d, want %d", got, seconds*200-sum(accepted))
		}
	})
}

func sum(xs []int) (n int) {
	for _, x := range xs {
		n += x
	}
	return n
}

func TestRateLimitPerKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter("api", RateLimitSettings{KeyRate: 1, KeyBurst: 2}, KeyByHeader("X-User"), observability.Instrumentation{})
		h := l.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		do := func(user string) int {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-User", user)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			return rec.Code
		}
		for i, tc := range []struct {
			user string
			want int
		}{{"a", 200}, {"a", 200}, {"a", 429}, {"b", 200}, {"b", 200}, {"b", 429}} {
			if got := do(tc.user); got != tc.want {
				t.Fatalf("request %d for %s = %d, want %d", i, tc.user, got, tc.want)
			}
		}
		time.Sleep(time.Second)
		if got := do("a"); got != 200 {
			t.Fatalf("after 1s, user a = %d, want 200", got)
		}
	})
}

func TestRateLimitRetryAfterFromLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter("slow", RateLimitSettings{Rate: 0.1, Burst: 1}, nil, observability.Instrumentation{}) // one per 10 s
		h := l.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		time.Sleep(3 * time.Second)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "7" {
			t.Fatalf("status %d Retry-After %q, want 429 and 7", rec.Code, rec.Header().Get("Retry-After"))
		}
	})
}

func TestRateLimitClientWaitsWithinDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter("out", RateLimitSettings{Rate: 10, Burst: 1}, nil, observability.Instrumentation{})
		calls := 0
		rt := l.Client()(transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
			calls++
			return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
		}))
		send := func(timeout time.Duration) (time.Duration, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			req := httptest.NewRequest("GET", "http://up/", nil).WithContext(ctx)
			_, err := rt.RoundTrip(req)
			return time.Since(start), err
		}
		if d, err := send(time.Second); err != nil || d != 0 {
			t.Fatalf("first call = %v after %v, want nil at once", err, d)
		}
		// The next token is 100 ms away: a 1 s deadline waits for it.
		if d, err := send(time.Second); err != nil || d != 100*time.Millisecond {
			t.Fatalf("second call = %v after %v, want nil after 100ms", err, d)
		}
		// A 50 ms deadline cannot wait 100 ms: fail fast.
		d, err := send(50 * time.Millisecond)
		if !errors.Is(err, ErrRateLimited) || d != 0 {
			t.Fatalf("third call = %v after %v, want ErrRateLimited at once", err, d)
		}
		if p := transport.ProblemFor(err); p.Status != 429 || p.Retry < time.Second {
			t.Fatalf("ProblemFor(%v) = %d retry %v, want 429 with Retry-After", err, p.Status, p.Retry)
		}
		if calls != 2 {
			t.Fatalf("upstream calls = %d, want 2", calls)
		}
	})
}

func heapLive() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestPerKeyRegistriesBounded(t *testing.T) {
	const keys = 100000
	const maxKeys = 1000
	l := NewRateLimiter("ip", RateLimitSettings{KeyRate: 5, MaxKeys: maxKeys}, nil, observability.Instrumentation{})
	bs := NewBreakerSet("hosts", BreakerSettings{MaxKeys: maxKeys}, nil, observability.Instrumentation{})
	bh := NewBulkhead("hosts", BulkheadSettings{MaxKeys: maxKeys}, KeyByClientIP, observability.Instrumentation{})
	r := httptest.NewRequest("GET", "/", nil)
	var filled uint64
	for i := range keys {
		if i == 2*maxKeys {
			filled = heapLive() // every registry is full
		}
		r.RemoteAddr = "10.0." + strconv.Itoa(i) + ":1234"
		if !l.Allow(r) {
			t.Fatalf("Allow(key %d) = false, want true (first request of a new key)", i)
		}
		_ = bs.Get(r.RemoteAddr).Do(func() error { return nil })
		_ = bh.get(r.RemoteAddr)
	}
	if got := l.size(); got > maxKeys {
		t.Errorf("RateLimiter.size() = %d, want <= %d", got, maxKeys)
	}
	if got := bs.size(); got > maxKeys {
		t.Errorf("BreakerSet.size() = %d, want <= %d", got, maxKeys)
	}
	if got := bh.size(); got > maxKeys {
		t.Errorf("Bulkhead.size() = %d, want <= %d", got, maxKeys)
	}
	// Once full, 98,000 more keys must not grow the heap: unbounded, each key would
	// keep a gobreaker with 10 buckets, a rate.Limiter and a semaphore: about 950
	// bytes per key, 93 MB in all (measured with MaxKeys above 100,000).
	after := heapLive()
	if grow := int64(after) - int64(filled); grow > 1<<20 {
		t.Errorf("heap grew by %d bytes over 98,000 keys after the registries filled, want <= 1 MiB", grow)
	}
	runtime.KeepAlive(l)
	runtime.KeepAlive(bs)
	runtime.KeepAlive(bh)
}

func TestRateLimitAllocs(t *testing.T) {
	l := NewRateLimiter("api", RateLimitSettings{Rate: 1e9, Burst: 1 << 30}, nil, observability.Instrumentation{})
	deny := NewRateLimiter("deny", RateLimitSettings{Rate: 0.5, Burst: 1}, nil, observability.Instrumentation{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	w := &nopWriter{h: http.Header{}}
	r := httptest.NewRequest("GET", "/", nil)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"allow", l.Server()(next)}, {"reject", deny.Server()(next)}} {
		tc.h.ServeHTTP(w, r)
		if got := testing.AllocsPerRun(1000, func() { tc.h.ServeHTTP(w, r) }); got != 0 {
			t.Errorf("RateLimiter.Server %s: AllocsPerRun = %v, want 0", tc.name, got)
		}
	}
}

// nopWriter is a ResponseWriter that allocates nothing.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }

// TestAllowNilRequestWithKeyedLimit: Allow(nil) on a limiter with a per-key limit
// uses the key "" instead of panicking in the key function.
func TestAllowNilRequestWithKeyedLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter("nil", RateLimitSettings{KeyRate: 1, KeyBurst: 1}, KeyByClientIP, observability.Instrumentation{})
		if !l.Allow(nil) {
			t.Fatalf("Allow(nil) first call = false, want true")
		}
		if l.Allow(nil) {
			t.Errorf("Allow(nil) second call at once = true, want false (the key \"\" has a burst of 1)")
		}
	})
}
