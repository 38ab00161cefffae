package observability_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-go/gantry/observability"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

type nopExporter struct{}

func (nopExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (nopExporter) Shutdown(context.Context) error                             { return nil }

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// TestServerMiddlewareAllocs gates the allocation targets of the issue: at most 15
// allocations per request at 100% sampling and at most 6 when the parent says "not
// sampled", with an SDK tracer provider (batch processor) and SDK meter provider.
func TestServerMiddlewareAllocs(t *testing.T) {
	tests := []struct {
		name        string
		traceparent string
		max         float64
	}{
		{"sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 15},
		{"unsampled parent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(nopExporter{}),
				sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
			defer tp.Shutdown(context.Background())
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			defer mp.Shutdown(context.Background())
			body := []byte("ok")
			bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
			h := observability.Server(observability.Instrumentation{TracerProvider: tp, MeterProvider: mp})(bare)
			r := httptest.NewRequest("GET", "http://example.com/items/42", nil)
			r.Pattern = "GET /items/{id}" // as if routed by a ServeMux, whose own allocations are not ours
			r.Header.Set("Traceparent", tt.traceparent)
			r.Header.Set("User-Agent", "bench")
			w := &nopWriter{h: http.Header{}}
			h.ServeHTTP(w, r) // warm the caches
			got := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, r) })
			t.Logf("allocs/op = %v", got)
			if got > tt.max {
				t.Errorf("Middleware allocs/op = %v, want <= %v", got, tt.max)
			}
		})
	}
}
