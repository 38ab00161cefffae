package observability_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/observability"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

func TestTelemetrySettingsErrorsNameEveryVariable(t *testing.T) {
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
		"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5",
		"OTEL_METRIC_EXPORT_INTERVAL": "soon",
	}
	_, err := config.Load[observability.TelemetrySettings](config.WithEnvironment(env))
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load(%v) error = %v, want *config.Error", env, err)
	}
	want := []string{"OTEL_METRIC_EXPORT_INTERVAL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_SAMPLER_ARG"}
	if diff := cmp.Diff(want, cerr.Vars()); diff != "" {
		t.Errorf("bad variables (-want +got):\n%s\n%v", diff, err)
	}
	if _, err := observability.NewTelemetry(context.Background(), observability.TelemetrySettings{Sampler: "jaeger_remote"}); err == nil {
		t.Errorf("NewTelemetry(Sampler=jaeger_remote) error = nil, want an error")
	}
}

func TestSamplers(t *testing.T) {
	sampled := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: [16]byte{1}, SpanID: [8]byte{1}, TraceFlags: trace.FlagsSampled, Remote: true}))
	unsampled := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: [16]byte{1}, SpanID: [8]byte{1}, Remote: true}))
	tests := []struct {
		sampler, arg                       string
		root, underSampled, underUnsampled bool
	}{
		{"", "", true, true, false},
		{"parentbased_always_on", "", true, true, false},
		{"parentbased_always_off", "", false, true, false},
		{"parentbased_traceidratio", "0", false, true, false},
		{"parentbased_traceidratio", "1", true, true, false},
		{"traceidratio", "0", false, false, false},
		{"always_on", "", true, true, true},
		{"always_off", "", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.sampler+"/"+tt.arg, func(t *testing.T) {
			env := map[string]string{"OTEL_TRACES_SAMPLER": tt.sampler, "OTEL_TRACES_SAMPLER_ARG": tt.arg}
			s, err := config.Load[observability.TelemetrySettings](config.WithEnvironment(env))
			if err != nil {
				t.Fatal(err)
			}
			tel, err := observability.NewTelemetry(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			defer tel.Shutdown(context.Background())
			tr := tel.TracerProvider().Tracer("test")
			for _, c := range []struct {
				ctx  context.Context
				want bool
				name string
			}{{context.Background(), tt.root, "root"}, {sampled, tt.underSampled, "sampled parent"}, {unsampled, tt.underUnsampled, "unsampled parent"}} {
				_, span := tr.Start(c.ctx, "x")
				if got := span.SpanContext().IsSampled(); got != c.want {
					t.Errorf("%s: IsSampled() = %v, want %v", c.name, got, c.want)
				}
				span.End()
			}
		})
	}
}

func TestMetricsHandlerUsesItsOwnRegistry(t *testing.T) {
	tel, err := observability.NewTelemetry(context.Background(), observability.TelemetrySettings{ServiceName: "cart"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	h := observability.Server(tel.Instrumentation(nil))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))

	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`http_server_request_duration_seconds_bucket{`, `http_request_method="GET"`, `service_name="cart"`, "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	mfs, _ := prometheus.DefaultGatherer.Gather()
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "http_server") {
			t.Errorf("metric %s leaked into the default Prometheus registry", mf.GetName())
		}
	}
}

// collector is a fake OTLP/HTTP collector on loopback.
type collector struct {
	mu    sync.Mutex
	paths []string
	body  []byte
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.paths = append(c.paths, r.URL.Path+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Api-Key"))
	c.body = append(c.body, b...)
	c.mu.Unlock()
}

func TestOTLPHTTPExportAndShutdownFlush(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	env := map[string]string{"OTEL_SERVICE_NAME": "checkout", "OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_HEADERS": "api-key=k1"}
	s, err := config.Load[observability.TelemetrySettings](config.WithEnvironment(env))
	if err != nil {
		t.Fatal(err)
	}
	tel, err := observability.NewTelemetry(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	h := observability.Server(tel.Instrumentation(nil))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders", nil))
	// Nothing forces an export but Shutdown: the batch processor waits 5s and the
	// metric reader a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	got := strings.Join(col.paths, "\n")
	for _, want := range []string{"/v1/traces application/x-protobuf k1", "/v1/metrics application/x-protobuf k1"} {
		if !strings.Contains(got, want) {
			t.Errorf("collector got %q, want a request %q", got, want)
		}
	}
	for _, want := range []string{"checkout", "http.server.request.duration", "GET"} {
		if !strings.Contains(string(col.body), want) {
			t.Errorf("exported payload lacks %q", want)
		}
	}
}

type grpcCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
}

func (g *grpcCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				g.names = append(g.names, s.GetName())
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestOTLPGRPCExport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	col := &grpcCollector{}
	coltracepb.RegisterTraceServiceServer(gs, col)
	go gs.Serve(ln)
	defer gs.Stop()

	tel, err := observability.NewTelemetry(context.Background(), observability.TelemetrySettings{
		Endpoint: "http://" + ln.Addr().String(), Protocol: observability.ProtocolGRPC})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider().Tracer("test").Start(context.Background(), "grpc-exported")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The metric exporter has no server here (Unimplemented), so Shutdown reports
	// that error; the spans must have gone through regardless.
	_ = tel.Shutdown(ctx)
	col.mu.Lock()
	defer col.mu.Unlock()
	if !cmp.Equal(col.names, []string{"grpc-exported"}) {
		t.Errorf("collector got spans %v, want [grpc-exported]", col.names)
	}
}

func TestCollectorDownNeverFailsRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, proto := range []string{observability.ProtocolHTTP, observability.ProtocolGRPC} {
		t.Run(proto, func(t *testing.T) {
			tel, err := observability.NewTelemetry(context.Background(), observability.TelemetrySettings{
				Endpoint: "http://" + addr, Protocol: proto, TimeoutMillis: 200})
			if err != nil {
				t.Fatalf("NewTelemetry(collector down) = %v, want nil (exporters connect lazily)", err)
			}
			srv := httptest.NewServer(observability.Server(tel.Instrumentation(nil))(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Write([]byte("ok"))
			})))
			defer srv.Close()
			for range 3 {
				resp, err := srv.Client().Get(srv.URL)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("GET with collector down = %v, %v; want 200", resp, err)
				}
				resp.Body.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := tel.Shutdown(ctx); err == nil {
				t.Errorf("Shutdown() with collector down = nil, want the export error")
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	tel, err := observability.NewTelemetry(context.Background(), observability.TelemetrySettings{Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider().Tracer("x").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("disabled telemetry made a real span")
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() = %v", err)
	}
}
