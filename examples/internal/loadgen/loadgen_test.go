package loadgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/examples/internal/loadgen"
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func respond(r *http.Request, status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}, Request: r}
}

// fakeGateway answers the three flow steps; checkout calls hook first.
func fakeGateway(checkout func(r *http.Request) int) *http.Client {
	return &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
		switch {
		case r.Method == http.MethodGet:
			return respond(r, 200, `{"id":"p01","price_cents":100,"stock":5}`), nil
		case r.Method == http.MethodPut:
			return respond(r, 200, `{}`), nil
		case strings.HasSuffix(r.URL.Path, "/checkout"):
			if r.Header.Get("Idempotency-Key") == "" {
				return respond(r, 400, ``), nil
			}
			return respond(r, checkout(r), `{}`), nil
		}
		return respond(r, 404, ``), nil
	})}
}

func TestRunKeepsTheScheduleAndMeasuresFromIntendedStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		stallUntil := start.Add(300 * time.Millisecond)
		// Every request sent before 300ms waits until then, like a server pause.
		hc := fakeGateway(func(r *http.Request) int {
			if d := time.Until(stallUntil); d > 0 {
				time.Sleep(d)
			}
			return http.StatusCreated
		})
		rep, err := loadgen.Run(context.Background(), loadgen.Config{
			Target: "http://127.0.0.1:8080", Rate: 10, Duration: time.Second, Client: hc, Products: []string{"p01"},
		})
		if err != nil {
			t.Fatalf("Run() error = %v", err)
		}
		if rep.Scheduled != 10 || rep.Succeeded != 10 || rep.Failed != 0 || rep.Dropped != 0 {
			t.Fatalf("Run() = %+v, want 10 scheduled and succeeded", rep)
		}
		// Open loop: flows at 0, 100 and 200 ms all waited for the 300 ms stall, so
		// the slowest took 300 ms from its intended start; a closed loop would have
		// sent the second request only after the first returned and hidden this.
		if rep.Max != 300*time.Millisecond {
			t.Errorf("Run().Max = %v, want 300ms", rep.Max)
		}
		if rep.P50 != 0 || rep.P99 != 300*time.Millisecond {
			t.Errorf("Run() p50, p99 = %v, %v, want 0s, 300ms", rep.P50, rep.P99)
		}
	})
}

func TestRunDropsFlowsAboveTheConcurrencyCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc := fakeGateway(func(r *http.Request) int {
			time.Sleep(35 * time.Millisecond)
			return http.StatusServiceUnavailable
		})
		rep, err := loadgen.Run(context.Background(), loadgen.Config{
			Target: "http://[::1]:8080", Rate: 100, Duration: time.Second, MaxInFlight: 2, Client: hc, Products: []string{"p01"},
		})
		if err != nil {
			t.Fatalf("Run() error = %v", err)
		}
		// Flows are due every 10 ms and each holds a slot 35 ms, so with 2 slots, of
		// every 4 due flows (40 ms) 2 run and 2 are dropped.
		if rep.Scheduled != 100 || rep.Failed != 50 || rep.Dropped != 50 || rep.Succeeded != 0 {
			t.Errorf("Run() scheduled/failed/dropped/succeeded = %d/%d/%d/%d, want 100/50/50/0",
				rep.Scheduled, rep.Failed, rep.Dropped, rep.Succeeded)
		}
		if rep.FailuresByStatus["503"] != 50 || rep.FailuresByStep["checkout"] != 50 {
			t.Errorf("Run() failures = %v by step %v, want 503=50 at checkout", rep.FailuresByStatus, rep.FailuresByStep)
		}
		var line map[string]any
		b, _ := json.Marshal(rep)
		if err := json.Unmarshal(b, &line); err != nil || line["p50_ms"] != 35.0 || line["dropped"] != 50.0 {
			t.Errorf("json.Marshal(report) = %s, want p50_ms 35 and dropped 50", b)
		}
	})
}

func TestRunUsesFreshIdempotencyKeys(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]bool{}
	hc := fakeGateway(func(r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		k := r.Header.Get("Idempotency-Key")
		if keys[k] {
			return http.StatusConflict
		}
		keys[k] = true
		return http.StatusCreated
	})
	synctest.Test(t, func(t *testing.T) {
		rep, err := loadgen.Run(context.Background(), loadgen.Config{
			Target: "http://localhost:1", Rate: 50, Duration: 200 * time.Millisecond, Client: hc, Products: []string{"p01"},
		})
		if err != nil || rep.Succeeded != 10 || len(keys) != 10 {
			t.Errorf("Run() = %+v, %v; %d distinct keys, want 10 successes with 10 keys", rep, err, len(keys))
		}
	})
}

func TestRunRefusesNonLoopbackTargets(t *testing.T) {
	for _, target := range []string{"http://example.com", "http://10.0.0.1:8080", "http://192.168.1.2", "ftp://127.0.0.1", "127.0.0.1:8080", ""} {
		t.Run(target, func(t *testing.T) {
			_, err := loadgen.Run(context.Background(), loadgen.Config{Target: target, Products: []string{"p01"}})
			if !errors.Is(err, loadgen.ErrNotLoopback) {
				t.Errorf("Run(%q) error = %v, want ErrNotLoopback", target, err)
			}
		})
	}
	for _, target := range []string{"http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:80", "https://localhost:8443"} {
		if err := loadgen.CheckLoopback(target); err != nil {
			t.Errorf("CheckLoopback(%q) = %v, want nil", target, err)
		}
	}
}

// TestRunListsEachFailedFlow: a failed flow is reported with its cart (its checkout's
// Idempotency-Key), product, step, status and Retry-After, so that a test can retry it
// with its key; flows that succeed are not listed.
func TestRunListsEachFailedFlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		keys := map[string]bool{}
		hc := &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
			if !strings.HasSuffix(r.URL.Path, "/checkout") {
				return fakeGateway(nil).Transport.RoundTrip(r)
			}
			mu.Lock()
			defer mu.Unlock()
			key := r.Header.Get("Idempotency-Key")
			if len(keys)%2 == 1 {
				keys[key] = true
				resp := respond(r, http.StatusServiceUnavailable, `{}`)
				resp.Header.Set("Retry-After", "2")
				return resp, nil
			}
			keys[key] = false
			return respond(r, http.StatusCreated, `{}`), nil
		})}
		rep, err := loadgen.Run(context.Background(), loadgen.Config{
			Target: "http://127.0.0.1:8080", Rate: 10, Duration: time.Second, Client: hc, Products: []string{"p07"}, RunID: "run",
		})
		if err != nil {
			t.Fatalf("Run() error = %v", err)
		}
		if rep.Failed != 5 || len(rep.Failures) != 5 {
			t.Fatalf("Run() failed %d, listed %d failures (%+v), want 5 and 5", rep.Failed, len(rep.Failures), rep.Failures)
		}
		for _, f := range rep.Failures {
			if !keys[f.CartID] || f.Step != "checkout" || f.Status != "503" || f.RetryAfter != "2" || f.Product != "p07" ||
				f.CartID != "run-"+strconv.Itoa(f.Flow) {
				t.Errorf("failure %+v: want a refused key run-<flow>, step checkout, status 503, Retry-After 2, product p07", f)
			}
		}
	})
}
