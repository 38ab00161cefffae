package resilience

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport"
)

// TestRetryBackoffFullJitter measures, in a synctest bubble, the delays between the
// attempts of many requests to an upstream that always answers 503 without
// Retry-After. Retry n must wait a random time in [0, min(MaxDelay, BaseDelay*(2^n-1)))
// (full jitter over Envoy's bounds), and the waits must be spread over that range:
// the random source is math/rand/v2's, which cannot be seeded, so the spread checks
// use enough samples that a uniform draw fails them with odds below 1e-15 while a
// constant delay (no jitter, or no backoff at all) always fails them.
func TestRetryBackoffFullJitter(t *testing.T) {
	const requests = 400
	tests := []struct {
		name   string
		s      RetrySettings
		bounds []time.Duration // bounds[n-1] is the exclusive bound of retry n's delay
	}{
		{"defaults", RetrySettings{}, []time.Duration{25 * time.Millisecond, 75 * time.Millisecond}},
		{"capped by MaxDelay", RetrySettings{MaxAttempts: 6},
			[]time.Duration{25 * time.Millisecond, 75 * time.Millisecond, 175 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := tt.s
				s.BudgetDisabled = true
				var seen []time.Time // attempt times of the current request
				upstream := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
					seen = append(seen, time.Now())
					return status(http.StatusServiceUnavailable, nil), nil
				})
				rt := NewRetry("backoff", s, observability.Instrumentation{}).Client()(upstream)
				delays := make([][]time.Duration, len(tt.bounds)) // delays[n-1]: retry n's waits
				for i := range requests {
					seen = seen[:0]
					resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://up/items", nil))
					if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
						t.Fatalf("RoundTrip(%d) = %v, %v; want 503", i, resp, err)
					}
					if len(seen) != len(tt.bounds)+1 {
						t.Fatalf("RoundTrip(%d) made %d attempts, want %d", i, len(seen), len(tt.bounds)+1)
					}
					for n := 1; n < len(seen); n++ {
						delays[n-1] = append(delays[n-1], seen[n].Sub(seen[n-1]))
					}
				}
				for i, ds := range delays {
					n, bound := i+1, tt.bounds[i]
					var sum time.Duration
					lo, hi := ds[0], ds[0]
					distinct := map[time.Duration]bool{}
					for _, d := range ds {
						if d < 0 || d >= bound {
							t.Fatalf("retry %d waited %v, want within [0, %v)", n, d, bound)
						}
						sum += d
						lo, hi = min(lo, d), max(hi, d)
						distinct[d] = true
					}
					// For a uniform draw the mean is bound/2 with a standard deviation
					// of bound/(2*sqrt(3*requests)), about 1.4% of bound: 35%-65% is
					// more than 10 of them away.
					mean := sum / time.Duration(len(ds))
					if mean < bound*35/100 || mean > bound*65/100 {
						t.Errorf("retry %d mean delay = %v, want within 35%%-65%% of %v", n, mean, bound)
					}
					// P(no draw in the lowest or highest tenth) = 0.9^400, about 5e-19.
					if lo >= bound/10 || hi <= bound*9/10 {
						t.Errorf("retry %d delays span [%v, %v], want below %v and above %v", n, lo, hi, bound/10, bound*9/10)
					}
					if len(distinct) < len(ds)/2 {
						t.Errorf("retry %d delays took %d distinct values in %d retries, want at least %d", n, len(distinct), len(ds), len(ds)/2)
					}
				}
			})
		})
	}
}
