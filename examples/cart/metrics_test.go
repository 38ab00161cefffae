package cart_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gantry-go/gantry/examples/cart"
)

func TestCheckoutMetrics(t *testing.T) {
	e := newShopEnv(t, nil)
	reader := sdkmetric.NewManualReader()
	shop := cart.NewShop(e.cart.Store, cart.NewCatalogClient(e.hcUp, "http://catalog"), cart.NewPaymentClient(e.hcUp, "http://payment"),
		cart.Settings{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	ctx := context.Background()
	e.put(t, "a", "p01", 1)
	e.put(t, "b", "p23", 1) // declined
	e.put(t, "c", "p02", 1)
	if _, err := shop.Checkout(ctx, "", "a", "ka"); err != nil {
		t.Fatal(err)
	}
	_, _ = shop.Checkout(ctx, "", "b", "kb")
	e.payDown.Store(true)
	_, _ = shop.Checkout(ctx, "", "c", "kc")
	_, _ = shop.Checkout(ctx, "", "nope", "")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			got[m.Name] = map[string]int64{}
			for _, p := range points {
				for _, kv := range p.Attributes.ToSlice() {
					got[m.Name][kv.Value.AsString()] = p.Value
				}
			}
		}
	}
	want := map[string]map[string]int64{
		"cart.checkouts": {"paid": 1, "declined": 1, "pending": 1, "error": 1},
		"cart.orders":    {"paid": 1, "failed": 1, "pending": 1, "cancelled": 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}
