package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/observability"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startShop runs the shop's real wiring (cmd/shop's) on random loopback ports, with
// every service's tracer provider exporting into exp and every log line into logs.
func startShop(t *testing.T, exp *tracetest.InMemoryExporter, logs io.Writer) (*shop.Shop, func()) {
	s, stop, _ := startShopWithMetrics(t, exp, logs)
	return s, stop
}

// startShopWithMetrics is startShop with every service's meter provider read by the
// returned readers.
func startShopWithMetrics(t *testing.T, exp *tracetest.InMemoryExporter, logs io.Writer) (*shop.Shop, func(), map[string]*sdkmetric.ManualReader) {
	t.Helper()
	providers := map[string]*sdktrace.TracerProvider{}
	readers := map[string]*sdkmetric.ManualReader{}
	opts := shop.Options{
		DataDir: t.TempDir(),
		Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
		Instrument: func(service string) observability.Instrumentation {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
				sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
			providers[service] = tp
			readers[service] = sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(readers[service]))
			return observability.Instrumentation{TracerProvider: tp, MeterProvider: mp}
		},
	}
	s, err := shop.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("shop.New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Shop.Run() = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop, readers
}

// TestCheckoutThroughGatewayIsOneTrace walks browse -> cart -> checkout through the
// gateway, with every service a real HTTP server, and checks that the checkout is
// one trace across gateway, cart, catalog and payment (started by the gateway, a
// public endpoint, and linked to the client's journey), and that the request id
// reached every service's log.
func TestCheckoutThroughGatewayIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	logs := &syncBuffer{}
	s, stop, readers := startShopWithMetrics(t, exp, logs)
	gw := s.URLs["gateway"]
	bearer := "Bearer " + token(t, s, "alice")

	// The client starts the user journey's trace and sends it with every request.
	client := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, root := client.Tracer("e2e").Start(context.Background(), "journey")
	traceID := root.SpanContext().TraceID()
	prop := propagation.TraceContext{}
	send := func(method, path, body, key, reqID string) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, gw+path, rd)
		prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
		req.Header.Set("Authorization", bearer)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		if reqID != "" {
			req.Header.Set("X-Request-Id", reqID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	if st, b := send("GET", "/api/products", "", "", ""); st != 200 || !strings.Contains(string(b), `"p01"`) {
		t.Fatalf("GET /api/products = %d %s", st, b)
	}
	if st, b := send("PUT", "/api/carts/e2e/items/p01", `{"quantity":1}`, "", ""); st != 200 {
		t.Fatalf("PUT item = %d %s", st, b)
	}
	st, b := send("POST", "/api/carts/e2e/checkout", "", "e2e-key", "e2e-checkout-request")
	if st != http.StatusCreated {
		t.Fatalf("checkout = %d %s", st, b)
	}
	var co cart.CheckoutBody
	if err := json.Unmarshal(b, &co); err != nil || co.Status != "paid" {
		t.Fatalf("checkout body = %s, want paid", b)
	}
	if st, b := send("GET", "/api/orders/"+co.OrderID, "", "", ""); st != 200 || !strings.Contains(string(b), `"paid"`) {
		t.Fatalf("GET order = %d %s, want paid", st, b)
	}
	root.End()

	stop() // every handler has returned, so every server span has ended

	// The gateway is a public endpoint: each request starts a new trace at the
	// gateway's server span, which links to the client's journey span; every span of
	// every service is in one of those traces.
	spans := exp.GetSpans()
	edgeTraces := map[trace.TraceID]bool{}
	for _, sp := range spans {
		if sp.SpanKind != trace.SpanKindServer || serviceOf(sp) != "gateway" {
			continue
		}
		edgeTraces[sp.SpanContext.TraceID()] = true
		if sp.Parent.IsValid() || sp.SpanContext.TraceID() == traceID {
			t.Errorf("gateway span %q: trace %s, parent %s; want a new root (not the journey's trace %s)", sp.Name, sp.SpanContext.TraceID(), sp.Parent.SpanID(), traceID)
		}
		if len(sp.Links) != 1 || sp.Links[0].SpanContext.TraceID() != traceID || sp.Links[0].SpanContext.SpanID() != root.SpanContext().SpanID() {
			t.Errorf("gateway span %q links %v, want one link to the journey span %s/%s", sp.Name, sp.Links, traceID, root.SpanContext().SpanID())
		}
	}
	if len(edgeTraces) != 4 {
		t.Errorf("gateway server spans in %d traces, want 4 (one per request)", len(edgeTraces))
	}
	parent := map[trace.SpanID]trace.SpanID{}
	servers := map[string]int{}
	var checkout trace.SpanID
	for _, sp := range spans {
		if sp.SpanContext.SpanID() == root.SpanContext().SpanID() {
			continue // the client's own journey span
		}
		if !edgeTraces[sp.SpanContext.TraceID()] {
			t.Errorf("span %q of %s has trace %s, not one the gateway started", sp.Name, serviceOf(sp), sp.SpanContext.TraceID())
		}
		parent[sp.SpanContext.SpanID()] = sp.Parent.SpanID()
		if sp.SpanKind == trace.SpanKindServer {
			servers[serviceOf(sp)]++
			if serviceOf(sp) == "gateway" && strings.Contains(sp.Name, "POST") && attr(sp, "url.path") == "/api/carts/e2e/checkout" {
				checkout = sp.SpanContext.SpanID()
			}
		}
	}
	for _, svc := range shop.Services() {
		if servers[svc] == 0 {
			t.Errorf("no server span from %s in the trace; server spans by service: %v", svc, servers)
		}
	}
	if !checkout.IsValid() {
		t.Fatalf("no gateway server span for the checkout among %d spans", len(spans))
	}
	// The checkout itself reached cart, catalog (reserve, confirm) and payment, each
	// server span a descendant of the gateway's.
	under := map[string]int{}
	for _, sp := range spans {
		if sp.SpanKind != trace.SpanKindServer || serviceOf(sp) == "gateway" {
			continue
		}
		for id := parent[sp.SpanContext.SpanID()]; id.IsValid(); id = parent[id] {
			if id == checkout {
				under[serviceOf(sp)]++
				break
			}
		}
	}
	if under["cart"] != 1 || under["catalog"] < 2 || under["payment"] != 1 {
		t.Errorf("server spans under the gateway's checkout span = %v, want cart 1, catalog >= 2 (reserve, confirm), payment 1", under)
	}

	// Every server span is named by its route, as the ServeMux pattern says, and
	// carries it as http.route; so do the duration metric and the access log. (The
	// route used to be lost under the deadline middleware's request copy.)
	wantRoutes := map[string]string{
		"cart":    "POST /carts/{cart_id}/checkout",
		"payment": "POST /payments",
		"catalog": "POST /reservations",
	}
	for svc, want := range wantRoutes {
		found := false
		for _, sp := range spans {
			if sp.SpanKind == trace.SpanKindServer && serviceOf(sp) == svc && sp.Name == want {
				found = true
				if got := attr(sp, "http.route"); got != strings.SplitN(want, " ", 2)[1] {
					t.Errorf("%s span %q has http.route %q, want %q", svc, sp.Name, got, strings.SplitN(want, " ", 2)[1])
				}
			}
		}
		if !found {
			var names []string
			for _, sp := range spans {
				if sp.SpanKind == trace.SpanKindServer && serviceOf(sp) == svc {
					names = append(names, sp.Name)
				}
			}
			t.Errorf("no %s server span named %q; its server spans: %q", svc, want, names)
		}
		route := strings.SplitN(want, " ", 2)[1]
		if !hasRouteMetric(t, readers[svc], route) {
			t.Errorf("%s http.server.request.duration has no data point with http.route=%q", svc, route)
		}
		if !hasLogLine(logs.String(), svc, `"route":"`+want+`"`) {
			t.Errorf("no %s access log line with route %q", svc, want)
		}
	}

	// The checkout's request id reached every service that took part in it.
	for _, svc := range []string{"gateway", "cart", "catalog", "payment"} {
		if !strings.Contains(logs.String(), `"service":"`+svc+`"`) || !hasLogLine(logs.String(), svc, "e2e-checkout-request") {
			t.Errorf("no %s log line carries request id e2e-checkout-request", svc)
		}
	}
}

// hasRouteMetric reports whether r's http.server.request.duration has a data point
// with http.route = route.
func hasRouteMetric(t *testing.T, r *sdkmetric.ManualReader, route string) bool {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		// After the shop stopped, the cart's order gauges cannot read their closed
		// database; the HTTP histograms are collected all the same.
		t.Logf("Collect() = %v", err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			h, ok := m.Data.(metricdata.Histogram[float64])
			if m.Name != "http.server.request.duration" || !ok {
				continue
			}
			for _, dp := range h.DataPoints {
				if v, ok := dp.Attributes.Value("http.route"); ok && v.AsString() == route {
					return true
				}
			}
		}
	}
	return false
}

func hasLogLine(logs, service, reqID string) bool {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"service":"`+service+`"`) && strings.Contains(line, reqID) {
			return true
		}
	}
	return false
}

func attr(sp tracetest.SpanStub, key attribute.Key) string {
	for _, kv := range sp.Attributes {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func serviceOf(sp tracetest.SpanStub) string {
	for _, kv := range sp.Resource.Attributes() {
		if kv.Key == "service.name" {
			return kv.Value.AsString()
		}
	}
	return "client"
}
