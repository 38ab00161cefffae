package observability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/observability"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

type rig struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	inst   observability.Instrumentation
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() { tp.Shutdown(context.Background()); mp.Shutdown(context.Background()) })
	r.inst = observability.Instrumentation{TracerProvider: tp, MeterProvider: mp}
	return r
}

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// histogram returns the data points of the named float64 histogram.
func histogram(t *testing.T, r *sdkmetric.ManualReader, name string) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data.(metricdata.Histogram[float64]).DataPoints
			}
		}
	}
	return nil
}

func TestServerSpansFollowSemconv(t *testing.T) {
	r := newRig(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("item")) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	mux.HandleFunc("POST /bad", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) })
	srv := httptest.NewServer(observability.Server(r.inst)(mux))
	defer srv.Close()
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		method, path string
		wantName     string
		wantCode     codes.Code
		want         map[string]string // attributes that must be present with these values
		absent       []string
	}{
		{"GET", "/items/42", "GET /items/{id}", codes.Unset, map[string]string{
			"http.request.method": "GET", "url.path": "/items/42", "url.scheme": "http", "http.route": "/items/{id}",
			"http.response.status_code": "200", "server.address": "127.0.0.1", "server.port": portStr,
			"client.address": "127.0.0.1",
		}, []string{"error.type", "network.protocol.version", "user_agent.original", "network.peer.address", "http.response.body.size"}},
		{"GET", "/fail", "GET /fail", codes.Error, map[string]string{"http.response.status_code": "502", "error.type": "502", "http.route": "/fail"}, nil},
		{"POST", "/bad", "POST /bad", codes.Unset, map[string]string{"http.response.status_code": "400"}, []string{"error.type"}},
		{"GET", "/nowhere", "GET", codes.Unset, map[string]string{"http.response.status_code": "404"}, []string{"http.route"}},
		{"FOO", "/items/1", "HTTP", codes.Unset, map[string]string{"http.request.method": "_OTHER", "http.request.method_original": "FOO"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			before := len(r.spans.Ended())
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			req.Header.Set("Traceparent", parent)
			req.Header.Set("User-Agent", "gantry-test")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ended := r.spans.Ended()
			if len(ended) != before+1 {
				t.Fatalf("spans ended = %d, want %d", len(ended), before+1)
			}
			s := ended[len(ended)-1]
			if s.Name() != tt.wantName || s.SpanKind() != trace.SpanKindServer || s.Status().Code != tt.wantCode {
				t.Errorf("span = %q kind %v status %v, want %q server %v", s.Name(), s.SpanKind(), s.Status().Code, tt.wantName, tt.wantCode)
			}
			if got := s.Parent().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" || !s.Parent().IsRemote() {
				t.Errorf("span parent trace = %s (remote %v), want the traceparent's", got, s.Parent().IsRemote())
			}
			got := attrs(s.Attributes())
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("attribute %s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("attribute %s = %q, want absent", k, got[k])
				}
			}
		})
	}

	dps := histogram(t, r.reader, "http.server.request.duration")
	var total uint64
	for _, dp := range dps {
		total += dp.Count
		if diff := cmp.Diff([]float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}, dp.Bounds); diff != "" {
			t.Errorf("bucket bounds (-want +got):\n%s", diff)
		}
		if v, ok := dp.Attributes.Value("http.response.status_code"); ok && v.AsInt64() == 502 {
			if et, _ := dp.Attributes.Value("error.type"); et.AsString() != "502" {
				t.Errorf("502 data point error.type = %q, want 502", et.AsString())
			}
		}
		if v, _ := dp.Attributes.Value("http.route"); v.AsString() == "/items/{id}" {
			if m, _ := dp.Attributes.Value("http.request.method"); m.AsString() != "GET" {
				t.Errorf("route data point method = %v, want GET", m)
			}
			if _, ok := dp.Attributes.Value("server.address"); ok {
				t.Errorf("data point has the opt-in server.address: %v", dp.Attributes)
			}
		}
	}
	if total != uint64(len(tests)) {
		t.Errorf("http.server.request.duration count = %d, want %d", total, len(tests))
	}
}

func TestServerPanicIsRecordedAs500(t *testing.T) {
	r := newRig(t)
	var recovered any
	h := observability.Server(r.inst)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	func() {
		defer func() { recovered = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if recovered != "boom" {
		t.Errorf("recovered = %v, want the handler's panic to go on up", recovered)
	}
	ended := r.spans.Ended()
	if len(ended) != 1 || attrs(ended[0].Attributes())["http.response.status_code"] != "500" || ended[0].Status().Code != codes.Error {
		t.Errorf("spans after panic = %v, want one 500 span with Error status", ended)
	}
}

func TestServerLogsCarryTraceIDs(t *testing.T) {
	r := newRig(t)
	var buf bytes.Buffer
	logger, _ := observability.NewLogger(&buf, observability.LogSettings{})
	h := observability.Server(r.inst)(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		logger.InfoContext(req.Context(), "handled")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	sc := r.spans.Ended()[0].SpanContext()
	if rec["trace_id"] != sc.TraceID().String() || rec["span_id"] != sc.SpanID().String() {
		t.Errorf("log record = %v, want trace_id %s span_id %s", rec, sc.TraceID(), sc.SpanID())
	}
}

func TestZeroInstrumentationIsPassThrough(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	if _, ok := observability.Server(observability.Instrumentation{})(next).(http.HandlerFunc); !ok {
		t.Errorf("Server(zero)(h) wraps h; want h itself (no cost when nothing is recorded)")
	}
}

func TestOptInMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	var during int64 = -1
	inst := observability.Instrumentation{MeterProvider: mp, BodySizeMetrics: true, ActiveRequests: true}
	h := observability.Server(inst)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		during = sumInt(t, reader, "http.server.active_requests")
		w.Write([]byte("hello"))
	}))
	req := httptest.NewRequest("POST", "/x", strings.NewReader("abc"))
	h.ServeHTTP(httptest.NewRecorder(), req)
	if after := sumInt(t, reader, "http.server.active_requests"); during != 1 || after != 0 {
		t.Errorf("http.server.active_requests during/after = %d/%d, want 1/0", during, after)
	}
	for name, want := range map[string]int64{"http.server.request.body.size": 3, "http.server.response.body.size": 5} {
		if got := histSumInt(t, reader, name); got != want {
			t.Errorf("%s sum = %d, want %d", name, got, want)
		}
	}
}

func collect(t *testing.T, r *sdkmetric.ManualReader, name string) metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	t.Fatalf("metric %s not found", name)
	return nil
}

func sumInt(t *testing.T, r *sdkmetric.ManualReader, name string) int64 {
	var n int64
	for _, dp := range collect(t, r, name).(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

func histSumInt(t *testing.T, r *sdkmetric.ManualReader, name string) int64 {
	var n int64
	for _, dp := range collect(t, r, name).(metricdata.Histogram[int64]).DataPoints {
		n += dp.Sum
	}
	return n
}

func TestServerSpanDetails(t *testing.T) {
	r := newRig(t)
	inst := r.inst
	inst.SpanDetails = true
	srv := httptest.NewServer(observability.Server(inst)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("item"))
	})))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	req.Header.Set("User-Agent", "gantry-test")
	req.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.1")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := attrs(r.spans.Ended()[0].Attributes())
	want := map[string]string{
		"network.protocol.version": "1.1", "user_agent.original": "gantry-test", "network.peer.address": "127.0.0.1",
		"http.response.body.size": "4", "client.address": "203.0.113.9",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if _, ok := got["network.peer.port"]; !ok {
		t.Errorf("network.peer.port missing: %v", got)
	}
}
