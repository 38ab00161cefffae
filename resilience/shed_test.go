package resilience

import (
	"github.com/gantry-go/gantry/observability"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// saturated is a handler with 4 workers and 10 ms of work per request: beyond 4
// concurrent requests, requests queue and latency grows with concurrency, like a
// CPU-bound service.
func saturated() http.Handler {
	workers := make(chan struct{}, 4)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		workers <- struct{}{}
		time.Sleep(10 * time.Millisecond)
		<-workers
	})
}

type loadResult struct {
	okLatency          time.Duration // mean latency of admitted requests, after warm-up
	ok, shed           int
	critOK, critTotal  int
	otherOK, otherTotl int
}

// offer runs 40 closed-loop clients for 4 virtual seconds; every 5th is critical.
func offer(h http.Handler) loadResult {
	var mu sync.Mutex
	var res loadResult
	var total time.Duration
	start := time.Now()
	var wg sync.WaitGroup
	for c := range 40 {
		wg.Go(func() {
			for time.Since(start) < 4*time.Second {
				r := httptest.NewRequest("GET", "/", nil)
				crit := c%5 == 0
				if crit {
					r.Header.Set(transport.HeaderCriticality, "critical")
				}
				rec := httptest.NewRecorder()
				t0 := time.Now()
				h.ServeHTTP(rec, r)
				d := time.Since(t0)
				mu.Lock()
				warm := time.Since(start) > time.Second
				if rec.Code == 200 {
					if warm {
						res.ok++
						total += d
					}
				} else if warm {
					res.shed++
				}
				if warm && crit {
					res.critTotal++
					if rec.Code == 200 {
						res.critOK++
					}
				} else if warm {
					res.otherTotl++
					if rec.Code == 200 {
						res.otherOK++
					}
				}
				mu.Unlock()
				if rec.Code != 200 {
					time.Sleep(20 * time.Millisecond) // a client backs off after a 503
				}
			}
		})
	}
	wg.Wait()
	if res.ok > 0 {
		res.okLatency = total / time.Duration(res.ok)
	}
	return res
}

func TestShedderKeepsLatencyBeforeCollapse(t *testing.T) {
	var without, with loadResult
	var limit int
	synctest.Test(t, func(t *testing.T) { without = offer(saturated()) })
	synctest.Test(t, func(t *testing.T) {
		s := NewShedder("api", ShedSettings{MinLimit: 1}, observability.Instrumentation{})
		with = offer(s.Server()(saturated()))
		limit = s.currentLimit()
	})
	t.Logf("without shedding: %+v", without)
	t.Logf("with shedding:    %+v (limit %d)", with, limit)
	// No-load latency is 10 ms. Unshed, 40 clients queue for ~100 ms.
	if without.okLatency < 80*time.Millisecond {
		t.Fatalf("latency without shedding = %v, want >= 80ms (the overload must be real)", without.okLatency)
	}
	if with.okLatency > 30*time.Millisecond {
		t.Errorf("latency of admitted requests with shedding = %v, want <= 30ms (3x no-load)", with.okLatency)
	}
	if with.shed == 0 {
		t.Errorf("shed = 0, want rejections")
	}
	// Goodput stays near capacity (4 workers / 10 ms = 400/s over 3 s).
	if with.ok < 900 {
		t.Errorf("admitted = %d in 3s, want >= 900 (75%% of capacity)", with.ok)
	}
	critRate := float64(with.critOK) / float64(with.critTotal)
	otherRate := float64(with.otherOK) / float64(with.otherTotl)
	if critRate <= otherRate {
		t.Errorf("critical success rate %.2f <= default %.2f, want critical shed last", critRate, otherRate)
	}
}

func TestShedderCriticalityThresholds(t *testing.T) {
	s := NewShedder("x", ShedSettings{InitialLimit: 8, MinLimit: 8, MaxLimit: 8}, observability.Instrumentation{})
	for i := range 6 {
		if !s.acquire(Sheddable) {
			t.Fatalf("Acquire(Sheddable) #%d = false, want true below 3/4 of 8", i+1)
		}
	}
	if s.acquire(Sheddable) {
		t.Fatalf("Acquire(Sheddable) #7 = true, want false at 3/4 of the limit")
	}
	for range 2 {
		if !s.acquire(Normal) {
			t.Fatalf("Acquire(Normal) = false below the limit")
		}
	}
	if s.acquire(Normal) {
		t.Fatalf("Acquire(Normal) at the limit = true, want false")
	}
	for range 2 {
		if !s.acquire(Critical) {
			t.Fatalf("Acquire(Critical) = false within 5/4 of the limit")
		}
	}
	if s.acquire(Critical) {
		t.Fatalf("Acquire(Critical) beyond 5/4 of the limit = true, want false")
	}
	if got := criticalityOf(http.Header{transport.HeaderCriticality: {"critical"}}); got != Critical {
		t.Fatalf("criticalityOf(critical) = %v, want Critical", got)
	}
}
