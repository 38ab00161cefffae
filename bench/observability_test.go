package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-go/gantry/observability"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// nopSpanExporter drops spans, so that the batch span processor's End cost is
// measured without any export work.
type nopSpanExporter struct{}

func (nopSpanExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (nopSpanExporter) Shutdown(context.Context) error                             { return nil }

// obsWriter is a ResponseWriter that allocates nothing.
type obsWriter struct{ h http.Header }

func (w *obsWriter) Header() http.Header         { return w.h }
func (w *obsWriter) WriteHeader(int)             {}
func (w *obsWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkTracing measures server tracing + metrics middleware around a trivial
// handler: bare (no instrumentation), otelhttp v0.72.0 (the reference) and Gantry's
// observability.Server, by default and with SpanDetails (the span attributes
// otelhttp sets besides the required ones). Both instrumented variants get the same SDK
// TracerProvider (ParentBased(AlwaysSample), batch span processor, no-op exporter),
// the same SDK MeterProvider (ManualReader) and the same W3C propagator. The fixed
// request carries a traceparent: sampled for sample=always, not sampled for
// sample=never (parent-based, so the server span is not sampled either). Its
// Pattern is set as if a ServeMux had routed it, so both name the span after the
// route. Targets: gantry <= 0.5x otelhttp ns/op and <= 15 allocs/op at
// sample=always; <= 1us and <= 6 allocs/op at sample=never.
func BenchmarkTracing(b *testing.B) {
	ok := []byte("ok")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(ok) })
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	samples := []struct{ name, flags string }{{"always", "01"}, {"never", "00"}}

	impls := []struct {
		name string
		wrap func(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider) http.Handler
	}{
		{"bare", func(*sdktrace.TracerProvider, *sdkmetric.MeterProvider) http.Handler { return handler }},
		{"otelhttp", func(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider) http.Handler {
			return otelhttp.NewHandler(handler, "server", otelhttp.WithTracerProvider(tp),
				otelhttp.WithMeterProvider(mp), otelhttp.WithPropagators(prop))
		}},
		{"gantry", func(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider) http.Handler {
			return observability.Server(observability.Instrumentation{TracerProvider: tp, MeterProvider: mp, Propagator: prop})(handler)
		}},
		// With SpanDetails, the server span carries every attribute otelhttp sets.
		{"gantry-details", func(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider) http.Handler {
			return observability.Server(observability.Instrumentation{TracerProvider: tp, MeterProvider: mp, Propagator: prop, SpanDetails: true})(handler)
		}},
	}
	for _, impl := range impls {
		for _, s := range samples {
			b.Run("impl="+impl.name+"/sample="+s.name, func(b *testing.B) {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(nopSpanExporter{}),
					sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
				defer tp.Shutdown(context.Background())
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				defer mp.Shutdown(context.Background())
				h := impl.wrap(tp, mp)

				r := httptest.NewRequest("GET", "http://catalog.local:8081/items/42", nil)
				r.Pattern = "GET /items/{id}"
				r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"+s.flags)
				r.Header.Set("User-Agent", "bench")
				w := &obsWriter{h: make(http.Header)}
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(w, r)
				}
			})
		}
	}
}

// fixedTransport answers every request with a fresh 200 response without I/O.
type fixedTransport struct{}

func (fixedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1, Body: http.NoBody, Request: r}, nil
}

// BenchmarkClientTracing measures client tracing + metrics around a RoundTripper that
// answers at once: bare, otelhttp.NewTransport v0.72.0 and observability.Client,
// with the providers of BenchmarkTracing and a sampled parent span in the request
// context (so every client span is recorded). Both instrumented variants clone the
// request headers to inject traceparent.
func BenchmarkClientTracing(b *testing.B) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	impls := []struct {
		name string
		wrap func(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider) http.RoundTripper
	}{
		{"bare", func(*sdktrace.TracerProvider, *sdkmetric.MeterProvider) http.RoundTripper { return fixedTransport{} }},
		{"otelhttp", func(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider) http.RoundTripper {
			return otelhttp.NewTransport(fixedTransport{}, otelhttp.WithTracerProvider(tp),
				otelhttp.WithMeterProvider(mp), otelhttp.WithPropagators(prop))
		}},
		{"gantry", func(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider) http.RoundTripper {
			return observability.Client(observability.Instrumentation{TracerProvider: tp, MeterProvider: mp, Propagator: prop})(fixedTransport{})
		}},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(nopSpanExporter{}),
				sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
			defer tp.Shutdown(context.Background())
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			defer mp.Shutdown(context.Background())
			rt := impl.wrap(tp, mp)
			ctx, parent := tp.Tracer("bench").Start(context.Background(), "caller")
			defer parent.End()
			req := httptest.NewRequest("GET", "http://catalog.local:8081/items/42", nil).WithContext(ctx)
			req.RequestURI = ""
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}
