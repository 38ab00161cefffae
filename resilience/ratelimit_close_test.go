package resilience

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gantry-go/gantry/observability"
)

// TestRateLimitCloseAfter: a client that keeps pushing past its limit on one
// keep-alive connection is told to close it once it has been rejected CloseAfter
// times in a row, and has to dial again for every further rejection; with
// CloseAfter 0 it keeps its one connection. A real server on loopback and a client
// that counts its dials.
func TestRateLimitCloseAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		closeAfter int
		wantDials  int64
		wantClosed uint64
	}{
		// 2 allowed (the burst), then 8 rejected: the 4th to 8th of them close, and
		// each but the last sends the next request on a new connection.
		{"close after 3", 3, 1 + 4, 5},
		{"never", 0, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			// A rate so low that no token comes back during the test.
			l := NewRateLimiter("edge", RateLimitSettings{KeyRate: 0.001, KeyBurst: 2, CloseAfter: tc.closeAfter}, nil,
				observability.Instrumentation{MeterProvider: mp})
			srv := httptest.NewServer(l.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
			defer srv.Close()
			var dials atomic.Int64
			tr := &http.Transport{MaxConnsPerHost: 1, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			var closes int
			for i := range 10 {
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				want := http.StatusOK
				if i >= 2 {
					want = http.StatusTooManyRequests
				}
				if resp.StatusCode != want {
					t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
				}
				wantClose := tc.closeAfter > 0 && i-2 >= tc.closeAfter
				if resp.Close != wantClose {
					t.Errorf("request %d: response Close = %v, want %v (Connection: %q)", i, resp.Close, wantClose, resp.Header.Get("Connection"))
				}
				if resp.Close {
					closes++
				}
			}
			if got := dials.Load(); got != tc.wantDials {
				t.Errorf("dials = %d, want %d", got, tc.wantDials)
			}
			if got := l.snapshot().Closed; got != tc.wantClosed || uint64(closes) != tc.wantClosed {
				t.Errorf("snapshot().Closed = %d (client saw %d), want %d", got, closes, tc.wantClosed)
			}
			if got := closesMetric(t, reader); got != int64(tc.wantClosed) {
				t.Errorf("resilience.ratelimit.closes = %d, want %d", got, tc.wantClosed)
			}
		})
	}
}

// closesMetric sums resilience.ratelimit.closes.
func closesMetric(t *testing.T, reader *sdkmetric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "resilience.ratelimit.closes" {
				for _, dp := range s.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// TestRateLimitCloseAfterForgivesASlowerClient: a client that slows down to its
// rate (an allowed call leaves a token in its bucket) starts its count again, while
// one that only gets a token now and then, as fast as it comes back, does not.
func TestRateLimitCloseAfterForgivesASlowerClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter("edge", RateLimitSettings{KeyRate: 1, KeyBurst: 2, CloseAfter: 2}, nil, observability.Instrumentation{})
		h := l.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		do := func() (int, bool) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			return rec.Code, rec.Header().Get("Connection") == "close"
		}
		step := func(what string, wantCode int, wantClose bool) {
			t.Helper()
			if code, cl := do(); code != wantCode || cl != wantClose {
				t.Fatalf("%s: status %d, close %v; want %d, %v", what, code, cl, wantCode, wantClose)
			}
		}
		step("burst 1", 200, false)
		step("burst 2", 200, false)
		step("reject 1", 429, false)
		step("reject 2", 429, false)
		step("reject 3", 429, true)
		// Pushing at the rate: each token is taken as soon as it is back, so the
		// count goes on.
		time.Sleep(time.Second)
		step("token back", 200, false)
		step("reject 4", 429, true)
		// Slowing down: the bucket refills, and an allowed call leaves a token.
		time.Sleep(3 * time.Second)
		step("after a pause", 200, false)
		step("burst again", 200, false)
		step("reject 1 again", 429, false)
		step("reject 2 again", 429, false)
		step("reject 3 again", 429, true)
	})
}
