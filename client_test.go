package gantry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/observability"
)

// TestNewClientCountsEjections: an instance that keeps failing is ejected by the
// client's balancer, and the ejection is counted (discovery.balancer.ejections, on
// /metrics) by the Instrumentation's MeterProvider when ClientSettings.Balancer sets
// none, and by the Balancer's own when it does.
func TestNewClientCountsEjections(t *testing.T) {
	for _, tc := range []struct {
		name            string
		balancerOwn     bool
		wantInst, wantB map[string]int64
	}{
		{"Instrumentation's MeterProvider", false, map[string]int64{"pay/bad": 1, "pay/good": 0}, map[string]int64{}},
		{"Balancer's own MeterProvider", true, map[string]int64{}, map[string]int64{"pay/bad": 1, "pay/good": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var badHits atomic.Int64
			bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				badHits.Add(1)
				w.WriteHeader(http.StatusInternalServerError)
			}))
			defer bad.Close()
			good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
			defer good.Close()

			instReader, balancerReader := sdkmetric.NewManualReader(), sdkmetric.NewManualReader()
			instMP := sdkmetric.NewMeterProvider(sdkmetric.WithReader(instReader))
			balancerMP := sdkmetric.NewMeterProvider(sdkmetric.WithReader(balancerReader))
			defer func() { _ = instMP.Shutdown(context.Background()); _ = balancerMP.Shutdown(context.Background()) }()
			bs := discovery.BalancerSettings{Policy: discovery.PolicyRoundRobin}
			if tc.balancerOwn {
				bs.MeterProvider = balancerMP
			}
			r := discovery.NewStatic(map[string][]discovery.Instance{"pay": {
				{ID: "bad", Address: bad.Listener.Addr().String()},
				{ID: "good", Address: good.Listener.Addr().String()},
			}})
			c, err := gantry.NewClient("shop", r, gantry.ClientSettings{Balancer: bs}, observability.Instrumentation{MeterProvider: instMP})
			if err != nil {
				t.Fatalf("NewClient() = %v", err)
			}
			defer c.Close()

			for i := range 20 {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://pay/charge", nil)
				resp, err := c.HTTP.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				// The status depends on whether the retry budget let the request retry on
				// good; what matters here is the balancer's view of bad.
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if got := badHits.Load(); got != 5 {
				t.Fatalf("bad instance hits = %d, want 5 (BALANCER_EJECT_AFTER) before its ejection", got)
			}
			if diff := cmp.Diff(tc.wantInst, ejections(t, instReader)); diff != "" {
				t.Errorf("Instrumentation's discovery.balancer.ejections by service/instance (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantB, ejections(t, balancerReader)); diff != "" {
				t.Errorf("Balancer's discovery.balancer.ejections by service/instance (-want +got):\n%s", diff)
			}
		})
	}
}

// ejections returns discovery.balancer.ejections as read from reader, by
// service/instance.
func ejections(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || m.Name != "discovery.balancer.ejections" {
				continue
			}
			for _, dp := range sum.DataPoints {
				svc, _ := dp.Attributes.Value("service")
				inst, _ := dp.Attributes.Value("instance")
				got[svc.AsString()+"/"+inst.AsString()] += dp.Value
			}
		}
	}
	return got
}
