package resilience

import (
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Allocation gates: the hot paths the benchmarks measure must stay allocation-free
// (and the per-request timeout within 5 allocations), whatever the machine's speed.
func TestHotPathAllocs(t *testing.T) {
	ok := &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}
	upstream := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) { return ok, nil })
	stack, err := NewClientStack("gate", ClientSettings{RateLimit: RateLimitSettings{Rate: 1e12, Burst: 1 << 30},
		AttemptTimeout: -1, RequestTimeout: -1}, observability.Instrumentation{})
	if err != nil {
		t.Fatal(err)
	}
	timed, err := NewClientStack("gate", ClientSettings{AttemptTimeout: -1, RequestTimeout: 2 * time.Second}, observability.Instrumentation{})
	if err != nil {
		t.Fatal(err)
	}
	bodyUpstream := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
		ok.Body = nopBody{}
		return ok, nil
	})
	plain := stack.Middleware()(upstream)
	withTimeout := timed.Middleware()(bodyUpstream)
	breaker := NewBreaker("gate", BreakerSettings{}, observability.Instrumentation{}).Server()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := &nopWriter{h: http.Header{}}
	r := httptest.NewRequest("GET", "http://catalog/items", nil)
	for _, tc := range []struct {
		name string
		max  float64
		f    func()
	}{
		{"Breaker.Server", 0, func() { breaker.ServeHTTP(w, r) }},
		{"ClientStack without timeouts", 0, func() { _, _ = plain.RoundTrip(r) }},
		{"ClientStack with a request timeout", 5, func() {
			resp, _ := withTimeout.RoundTrip(r)
			_ = resp.Body.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f()
			if got := testing.AllocsPerRun(1000, tc.f); got > tc.max {
				t.Errorf("%s: AllocsPerRun = %v, want <= %v", tc.name, got, tc.max)
			}
		})
	}
}

type nopBody struct{}

func (nopBody) Read([]byte) (int, error) { return 0, nil }
func (nopBody) Close() error             { return nil }
