package resilience_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// TestServerMiddlewareKeepsRoute checks that the route a ServeMux matched reaches the
// telemetry and the access log outside every resilience server middleware, including
// those that copy the request (Deadline, MarkRetryExhausted): ServeMux sets Pattern
// only on the request it is handed.
func TestServerMiddlewareKeepsRoute(t *testing.T) {
	none := observability.Instrumentation{}
	type mw = func(http.Handler) http.Handler
	limiter := func() mw {
		return resilience.NewRateLimiter("rl", resilience.RateLimitSettings{Rate: 100, KeyRate: 100}, nil, none).Server()
	}
	shedder := func() mw { return resilience.NewShedder("shed", resilience.ShedSettings{}, none).Server() }
	bulkhead := func() mw {
		return resilience.NewBulkhead("bh", resilience.BulkheadSettings{}, resilience.KeyByClientIP, none).Server()
	}
	breakerSet := func() mw {
		return resilience.NewBreakerSet("bs", resilience.BreakerSettings{}, resilience.KeyByClientIP, none).Server()
	}
	breaker := func() mw { return resilience.NewBreaker("b", resilience.BreakerSettings{}, none).Server() }
	deadline := func() mw { return resilience.Deadline(resilience.DeadlineSettings{}) }
	tests := []struct {
		name    string
		timeout string // the Gantry-Timeout header; "" = none
		mw      func() []mw
	}{
		{"Deadline from the header", "5000", func() []mw { return []mw{deadline()} }},
		{"Deadline's Default", "", func() []mw {
			return []mw{resilience.Deadline(resilience.DeadlineSettings{Default: time.Second})}
		}},
		{"MarkRetryExhausted", "", func() []mw { return []mw{resilience.MarkRetryExhausted()} }},
		{"RateLimiter.Server", "", func() []mw { return []mw{limiter()} }},
		{"Shedder.Server", "", func() []mw { return []mw{shedder()} }},
		{"Bulkhead.Server", "", func() []mw { return []mw{bulkhead()} }},
		{"BreakerSet.Server", "", func() []mw { return []mw{breakerSet()} }},
		{"Breaker.Server", "", func() []mw { return []mw{breaker()} }},
		{"every server middleware", "5000", func() []mw {
			return []mw{limiter(), shedder(), bulkhead(), breakerSet(), breaker(), deadline(), resilience.MarkRetryExhausted()}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))

			mux := http.NewServeMux()
			mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "item "+r.PathValue("id"))
			})
			chain := append([]mw{
				observability.Server(observability.Instrumentation{TracerProvider: tp, MeterProvider: mp}),
				transport.AccessLog(logger),
			}, tt.mw()...)
			h := transport.Chain(chain...)(mux)

			req := httptest.NewRequest("GET", "/items/7", nil)
			if tt.timeout != "" {
				req.Header.Set(transport.HeaderTimeout, tt.timeout)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Body.String() != "item 7" {
				t.Fatalf("GET /items/7 = %d %q, want 200 \"item 7\"", rec.Code, rec.Body)
			}

			const wantRoute = "/items/{id}"
			ended := spans.Ended()
			if len(ended) != 1 {
				t.Fatalf("ended spans = %d, want 1", len(ended))
			}
			if got, want := ended[0].Name(), "GET "+wantRoute; got != want {
				t.Errorf("span name = %q, want %q", got, want)
			}
			var spanRoute string
			for _, a := range ended[0].Attributes() {
				if a.Key == "http.route" {
					spanRoute = a.Value.AsString()
				}
			}
			if spanRoute != wantRoute {
				t.Errorf("span http.route = %q, want %q", spanRoute, wantRoute)
			}

			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			metricRoute, found := "", false
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "http.server.request.duration" {
						for _, dp := range h.DataPoints {
							found = true
							v, _ := dp.Attributes.Value("http.route")
							metricRoute = v.AsString()
						}
					}
				}
			}
			if !found || metricRoute != wantRoute {
				t.Errorf("http.server.request.duration http.route = %q (recorded %v), want %q", metricRoute, found, wantRoute)
			}

			var line struct{ Route string }
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("access log %q: %v", logs.Bytes(), err)
			}
			if want := "GET " + wantRoute; line.Route != want {
				t.Errorf("access log route = %q, want %q", line.Route, want)
			}
		})
	}
}
