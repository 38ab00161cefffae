package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/gantry-go/gantry/transport"
)

// catalogItem is the upstream's JSON answer; a long name makes the slicer cut it
// into many TCP segments.
type catalogItem struct {
	SKU   string `json:"sku"`
	Name  string `json:"name"`
	Cents int    `json:"cents"`
}

// faultCase is one toxic on the path client -> toxiproxy -> upstream, and what the
// client stack must do about it.
type faultCase struct {
	name  string
	toxic string // toxiproxy JSON
	// want
	wantOK      bool  // the request succeeds and its JSON decodes
	wantHits    int64 // upstream attempts for one GET (max 3)
	wantErr     func(error) bool
	wantOpen    bool          // the breaker is open afterwards
	maxDuration time.Duration // upper bound for the first request; 0: none
}

func TestFaultInjectionToxiproxy(t *testing.T) {
	var hits atomic.Int64
	want := catalogItem{SKU: "sku-1", Name: strings.Repeat("espresso ", 300), Cents: 450}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(want)
	}))
	defer up.Close()
	upAddr := strings.TrimPrefix(up.URL, "http://")

	isTimeout := func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
	isReset := func(err error) bool {
		return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "EOF"))
	}
	const attemptTimeout = 200 * time.Millisecond
	for _, tc := range []faultCase{
		// Successes need no time bound: an attempt slower than the attempt timeout
		// would have failed.
		{name: "no toxic", wantOK: true, wantHits: 1},
		{name: "latency below the attempt timeout", wantOK: true, wantHits: 1,
			toxic: `{"name":"t","type":"latency","stream":"downstream","attributes":{"latency":30}}`},
		{name: "slicer", wantOK: true, wantHits: 1,
			toxic: `{"name":"t","type":"slicer","stream":"downstream","attributes":{"average_size":128,"size_variation":64,"delay":100}}`},
		// Each attempt times out at 200 ms, long before the 2 s toxic would deliver
		// (so the 3 attempts together end well before it); 3 attempts are 3
		// consecutive failures: open.
		{name: "latency above the attempt timeout", wantHits: 3, wantErr: isTimeout, wantOpen: true, maxDuration: 2 * time.Second,
			toxic: `{"name":"t","type":"latency","stream":"downstream","attributes":{"latency":2000}}`},
		{name: "timeout (hang)", wantErr: isTimeout, wantOpen: true, maxDuration: 2 * time.Second,
			toxic: `{"name":"t","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`},
		{name: "reset_peer", wantErr: isReset, wantOpen: true,
			toxic: `{"name":"t","type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
			proxy := toxiproxy.NewProxy(srv, "catalog", "127.0.0.1:0", upAddr)
			if err := proxy.Start(); err != nil {
				t.Fatal(err)
			}
			defer proxy.Stop()
			if tc.toxic != "" {
				if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(tc.toxic)); err != nil {
					t.Fatal(err)
				}
			}
			stack, err := NewClientStack("catalog", ClientSettings{
				Retry:          RetrySettings{BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond},
				Breaker:        BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: time.Minute},
				AttemptTimeout: attemptTimeout, RequestTimeout: -1,
			}, observability.Instrumentation{})
			if err != nil {
				t.Fatal(err)
			}
			tr := &http.Transport{DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: transport.ClientChain(stack.Middleware(), transport.PropagateDeadline())(tr)}
			url := "http://" + proxy.Listen + "/items/sku-1"

			start := time.Now()
			resp, err := client.Get(url)
			elapsed := time.Since(start)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("GET = %v, want success", err)
				}
				var got catalogItem
				decErr := json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if decErr != nil || got != want {
					t.Fatalf("decoded %+v, %v; want the upstream's item intact", got.SKU, decErr)
				}
			} else {
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					t.Fatalf("GET = %d, want an error", resp.StatusCode)
				}
				if !tc.wantErr(err) {
					t.Fatalf("GET error = %v, want a %s error", err, tc.name)
				}
			}
			if tc.wantErr != nil && tc.maxDuration > 0 && elapsed < 3*attemptTimeout {
				t.Errorf("GET failed after %v, want >= 3 attempt timeouts (%v)", elapsed, 3*attemptTimeout)
			}
			if tc.maxDuration > 0 && elapsed > tc.maxDuration {
				t.Errorf("GET took %v, want <= %v", elapsed, tc.maxDuration)
			}
			// Failing GETs are tried 3 times (2 retries, within the budget's floor);
			// successes are never retried.
			wantRetries := uint64(2)
			if tc.wantOK {
				wantRetries = 0
			}
			if got := stack.Retry.budget.snapshot().Retries; got != wantRetries {
				t.Errorf("retries = %d, want %d", got, wantRetries)
			}
			if tc.wantHits > 0 && hits.Load() != tc.wantHits {
				t.Errorf("upstream attempts = %d, want %d", hits.Load(), tc.wantHits)
			}
			state := stack.Breakers.Get(proxy.Listen).State()
			if (state == "open") != tc.wantOpen {
				t.Fatalf("breaker state = %s, want open=%v", state, tc.wantOpen)
			}
			if tc.wantOpen {
				// An open breaker fails fast: no wait for a timeout, no upstream call.
				before := hits.Load()
				start := time.Now()
				_, err := client.Get(url)
				if !errors.Is(err, ErrOpen) || time.Since(start) >= attemptTimeout || hits.Load() != before {
					t.Fatalf("GET with open breaker = %v after %v (upstream +%d), want ErrOpen at once", err, time.Since(start), hits.Load()-before)
				}
			}
		})
	}
}

func TestFaultInjectionResetPeerPOSTNotRetried(t *testing.T) {
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(srv, "payment", "127.0.0.1:0", strings.TrimPrefix(up.URL, "http://"))
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	defer proxy.Stop()
	// The request reaches the upstream, then the response path is reset: a lost
	// response. A POST without Idempotency-Key must not be sent again.
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"t","type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`)); err != nil {
		t.Fatal(err)
	}
	stack, err := NewClientStack("payment", ClientSettings{Retry: RetrySettings{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}}, observability.Instrumentation{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: stack.Middleware()(tr)}
	_, err = client.Post("http://"+proxy.Listen+"/payments", "application/json", strings.NewReader(`{"cents":450}`))
	if err == nil {
		t.Fatalf("POST through reset_peer = nil error, want a reset")
	}
	if n := hits.Load(); n > 1 {
		t.Fatalf("upstream saw the POST %d times, want at most 1", n)
	}
}
