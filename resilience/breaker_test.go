package resilience

import (
	"context"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/transport"
)

var errBoom = errors.New("boom")

func TestBreakerTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBreaker("t", BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: 5 * time.Second, HalfOpenProbes: 2}, observability.Instrumentation{})
		fail := func() error { return errBoom }
		ok := func() error { return nil }
		calls := 0
		counting := func() error { calls++; return nil }

		for i := 1; i <= 2; i++ {
			if err := b.Do(fail); !errors.Is(err, errBoom) {
				t.Fatalf("Do(fail) #%d = %v, want errBoom", i, err)
			}
			if got := b.State(); got != "closed" {
				t.Fatalf("State() after %d failures = %q, want closed", i, got)
			}
		}
		_ = b.Do(fail)
		if got := b.State(); got != "open" {
			t.Fatalf("State() after 3 failures = %q, want open", got)
		}
		err := b.Do(counting)
		if !errors.Is(err, ErrOpen) || calls != 0 {
			t.Fatalf("Do() while open = %v (calls %d), want ErrOpen and no call", err, calls)
		}
		var ra transport.RetryAfterer
		if !errors.As(err, &ra) || ra.RetryAfter() != 5*time.Second {
			t.Fatalf("RetryAfter() = %v, want 5s", ra)
		}

		time.Sleep(5*time.Second - time.Nanosecond)
		if got := b.State(); got != "open" {
			t.Fatalf("State() 1ns before the timeout = %q, want open", got)
		}
		time.Sleep(2 * time.Nanosecond)
		if got := b.State(); got != "half-open" {
			t.Fatalf("State() 1ns after the timeout = %q, want half-open", got)
		}
		if err := b.Do(ok); err != nil {
			t.Fatalf("probe 1 = %v", err)
		}
		if got := b.State(); got != "half-open" {
			t.Fatalf("State() after 1 of 2 probe successes = %q, want half-open", got)
		}
		_ = b.Do(ok)
		if got := b.State(); got != "closed" {
			t.Fatalf("State() after 2 probe successes = %q, want closed", got)
		}

		for range 3 {
			_ = b.Do(fail)
		}
		time.Sleep(5*time.Second + time.Nanosecond)
		_ = b.Do(fail)
		if got := b.State(); got != "open" {
			t.Fatalf("State() after a half-open failure = %q, want open", got)
		}
		if got := b.snapshot().Opens; got != 3 {
			t.Fatalf("Snapshot().Opens = %d, want 3", got)
		}
		// How long it stays open (go-zero #4101): the debug view says.
		if got := b.snapshot().HalfOpenInMs; got != 5000 {
			t.Fatalf("HalfOpenInMs just after opening = %v, want 5000", got)
		}
		time.Sleep(2 * time.Second)
		if got := b.snapshot().HalfOpenInMs; got != 3000 {
			t.Fatalf("HalfOpenInMs 2s after opening = %v, want 3000", got)
		}
		time.Sleep(3*time.Second + time.Nanosecond)
		_ = b.Do(ok)
		if st := b.snapshot(); st.State != "half-open" || st.HalfOpenInMs != 0 {
			t.Fatalf("snapshot after the open timeout = %s %v, want half-open and 0", st.State, st.HalfOpenInMs)
		}
	})
}

func TestBreakerHalfOpenProbesBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBreaker("t", BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Second, HalfOpenProbes: 2}, observability.Instrumentation{})
		_ = b.Do(func() error { return errBoom })
		time.Sleep(time.Second + time.Nanosecond)
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { _ = b.Do(func() error { <-release; return nil }) })
		}
		synctest.Wait()
		if err := b.Do(func() error { return nil }); !errors.Is(err, ErrOpen) {
			t.Fatalf("third probe while 2 are in flight = %v, want ErrOpen", err)
		}
		close(release)
		wg.Wait()
		if got := b.State(); got != "closed" {
			t.Fatalf("State() = %q, want closed", got)
		}
	})
}

func TestBreakerNeutralOutcomes(t *testing.T) {
	b := NewBreaker("t", BreakerSettings{ConsecutiveFailures: 2}, observability.Instrumentation{})
	_ = b.Do(func() error { return errBoom })
	for _, err := range []error{
		context.Canceled,
		&transport.Problem{Status: http.StatusNotFound},
		&transport.Problem{Status: http.StatusConflict},
		ErrRateLimited, // a local rejection: the upstream was not asked
	} {
		_ = b.Do(func() error { return err })
	}
	s := b.snapshot()
	if s.Failures != 1 || s.Successes != 0 || s.ConsecutiveFailures != 1 || s.Exclusions != 4 || s.State != "closed" {
		t.Fatalf("Snapshot() = %+v, want 1 failure, 0 successes, 4 exclusions, closed", s)
	}
	_ = b.Do(func() error { return &transport.Problem{Status: http.StatusServiceUnavailable} })
	if got := b.State(); got != "open" {
		t.Fatalf("State() after a 503 = %q, want open", got)
	}
}

func TestBreakerFailureRatioRollingWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBreaker("t", BreakerSettings{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 10,
			Window: 10 * time.Second, Bucket: time.Second}, observability.Instrumentation{})
		// 4 failures, then they age out of the window.
		for range 4 {
			_ = b.Do(func() error { return errBoom })
		}
		time.Sleep(11 * time.Second)
		for range 5 {
			_ = b.Do(func() error { return nil })
		}
		for i := range 4 {
			_ = b.Do(func() error { return errBoom })
			if got := b.State(); got != "closed" {
				t.Fatalf("State() at %d of 9 counted calls = %q, want closed", 6+i, got)
			}
		}
		// 10th call in the window, 5 of 10 failed: trips.
		_ = b.Do(func() error { return errBoom })
		if got := b.State(); got != "open" {
			t.Fatalf("State() at 5/10 failures = %q, want open", got)
		}
	})
}

func TestBreakerConcurrentExactTotals(t *testing.T) {
	b := NewBreaker("t", BreakerSettings{ConsecutiveFailures: math.MaxUint32, MinRequests: math.MaxUint32}, observability.Instrumentation{})
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for i := range 10000 {
				switch (g + i) % 4 {
				case 0, 1:
					_ = b.Do(func() error { return nil })
				case 2:
					_ = b.Do(func() error { return errBoom })
				default:
					_ = b.Do(func() error { return context.Canceled })
				}
			}
		})
	}
	wg.Wait()
	s := b.snapshot()
	want := BreakerState{Name: "t", State: "closed", Requests: 100000, Successes: 50000, Failures: 25000, Exclusions: 25000,
		ConsecutiveSuccesses: s.ConsecutiveSuccesses, ConsecutiveFailures: s.ConsecutiveFailures}
	if s != want {
		t.Fatalf("Snapshot() = %+v, want %+v", s, want)
	}
}

// reentrantHandler is a slog.Handler that calls back into the breaker, as a careless
// logging hook might. Under gobreaker's lock this would deadlock.
type reentrantHandler struct {
	b    *Breaker
	mu   *sync.Mutex
	msgs *[]string
}

func (h reentrantHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h reentrantHandler) Handle(_ context.Context, r slog.Record) error {
	state := h.b.State() // re-enters the breaker
	_ = h.b.snapshot()
	var to string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "to" {
			to = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	*h.msgs = append(*h.msgs, to+"/"+state)
	h.mu.Unlock()
	return nil
}
func (h reentrantHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h reentrantHandler) WithGroup(string) slog.Handler      { return h }

func TestBreakerStateChangeCallbackDoesNotDeadlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var msgs []string
		h := &reentrantHandler{mu: &mu, msgs: &msgs}
		b := NewBreaker("t", BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Second, HalfOpenProbes: 1},
			observability.Instrumentation{Logger: slog.New(h)})
		h.b = b
		_ = b.Do(func() error { return errBoom })
		synctest.Wait() // the hand-off goroutine has logged and exited
		time.Sleep(2 * time.Second)
		_ = b.Do(func() error { return nil })
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		want := "open/open,half-open/closed,closed/closed"
		if got := strings.Join(msgs, ","); got != want {
			t.Fatalf("logged transitions = %q, want %q", got, want)
		}
	})
}

func TestBreakerServerAndClient(t *testing.T) {
	b := NewBreaker("up", BreakerSettings{ConsecutiveFailures: 2, OpenTimeout: 30 * time.Second}, observability.Instrumentation{})
	hits := 0
	h := b.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/404" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	for range 5 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/404", nil))
	}
	if got := b.State(); got != "closed" {
		t.Fatalf("State() after 404s = %q, want closed", got)
	}
	for range 2 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != transport.ContentTypeProblem || hits != 7 {
		t.Fatalf("open breaker answered %d Retry-After=%q type=%q (handler hits %d), want 503 with Retry-After, problem+json, 7 hits",
			rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Content-Type"), hits)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "30" && ra != "29" {
		t.Fatalf("Retry-After = %q, want about 30", ra)
	}

	set := NewBreakerSet("client", BreakerSettings{ConsecutiveFailures: 1}, nil, observability.Instrumentation{})
	upstream := 0
	rt := set.Client()(transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		upstream++
		return nil, errBoom
	}))
	for _, host := range []string{"a", "a", "b"} {
		req := httptest.NewRequest("GET", "http://"+host+"/", nil)
		_, _ = rt.RoundTrip(req)
	}
	if upstream != 2 {
		t.Fatalf("upstream calls = %d, want 2 (host a opened after its first failure, b is separate)", upstream)
	}
	_, err := rt.RoundTrip(httptest.NewRequest("GET", "http://a/", nil))
	if p := transport.ProblemFor(err); !errors.Is(err, ErrOpen) || p.Status != 503 || p.Retry < time.Second {
		t.Fatalf("RoundTrip() = %v -> %d/%v, want ErrOpen -> 503 with Retry-After", err, p.Status, p.Retry)
	}
	if set.size() != 2 {
		t.Fatalf("Len() = %d, want 2", set.size())
	}
}

func TestBreakerServerCanceledRequestIsNeutral(t *testing.T) {
	b := NewBreaker("t", BreakerSettings{ConsecutiveFailures: 1}, observability.Instrumentation{})
	h := b.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable) // what a handler may answer once its client left
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	if s := b.snapshot(); s.State != "closed" || s.Failures != 0 || s.Exclusions != 1 {
		t.Fatalf("Snapshot() after a canceled request = %+v, want closed with 1 exclusion", s)
	}
}
