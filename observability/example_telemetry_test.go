package observability_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gantry-go/gantry/observability"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func ExampleNewTelemetry() {
	ctx := context.Background()
	// In main: s, err := config.Load[observability.TelemetrySettings]() reads
	// OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, ...
	tel, err := observability.NewTelemetry(ctx, observability.TelemetrySettings{ServiceName: "catalog"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(ctx) // flushes; gantry.Run calls it last

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	handler := observability.Server(tel.Instrumentation(nil))(mux)

	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/7", nil))
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "http_server_request_duration_seconds_count") && strings.Contains(line, `/items/{id}`) {
			fmt.Println("duration recorded for route /items/{id}")
		}
	}
	// Output: duration recorded for route /items/{id}
}

func ExampleServer() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	// The middleware may wrap the mux: it names the span after the matched pattern.
	h := observability.Server(observability.Instrumentation{TracerProvider: tp})(mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/7", nil))

	s := spans.Ended()[0]
	fmt.Println(s.Name(), s.SpanKind(), s.Status().Code)
	for _, a := range s.Attributes() {
		if a.Key == "http.route" || a.Key == "error.type" {
			fmt.Println(a.Key, a.Value.Emit())
		}
	}
	// Unordered output:
	// GET /items/{id} server Error
	// http.route /items/{id}
	// error.type 503
}

func ExampleClient() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("traceparent sent:", r.Header.Get("Traceparent") != "")
	}))
	defer srv.Close()

	client := &http.Client{Transport: observability.Client(observability.Instrumentation{TracerProvider: tp})(http.DefaultTransport)}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Gantry-Attempt", "1") // what the retry policy sets on a resend
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, a := range spans.Ended()[0].Attributes() {
		if a.Key == "http.request.resend_count" {
			fmt.Println(a.Key, a.Value.Emit())
		}
	}
	// Output:
	// traceparent sent: true
	// http.request.resend_count 1
}
