package cart

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// meterName is the OTel instrumentation scope of the cart's metrics.
const meterName = "github.com/gantry-go/gantry/examples/cart"

// metrics are the cart's business instruments:
//
//   - cart.checkouts (counter): checkout requests by outcome: paid, declined,
//     out_of_stock, cancelled, failed, pending (a dependency was unavailable) or
//     error (anything else, bad input included);
//   - cart.orders (observable gauge): stored orders by status, read from the
//     database at each collection, so "pending" is what the recovery loop has left.
type metrics struct {
	checkouts metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider, store Repository) metrics {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter(meterName)
	c, _ := m.Int64Counter("cart.checkouts", metric.WithDescription("Checkout requests by outcome."))
	_, _ = m.Int64ObservableGauge("cart.orders", metric.WithDescription("Stored orders by status."),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			counts, err := store.CountOrders(ctx)
			if err != nil {
				return err
			}
			for _, st := range []Status{StatusPending, StatusPaid, StatusFailed, StatusCancelled} {
				o.Observe(int64(counts[st]), metric.WithAttributes(attribute.String("status", string(st))))
			}
			return nil
		}))
	if c == nil {
		c, _ = noop.NewMeterProvider().Meter(meterName).Int64Counter("cart.checkouts")
	}
	return metrics{checkouts: c}
}

// checkoutOutcome names the outcome of a Checkout call for cart.checkouts.
func checkoutOutcome(o Order, err error) string {
	switch {
	case err == nil && o.Status == StatusPaid:
		return "paid"
	case o.Status == StatusCancelled:
		return "cancelled"
	case o.Status == StatusFailed && o.Failure == FailureDeclined:
		return "declined"
	case o.Status == StatusFailed && o.Failure == FailureOutOfStock:
		return "out_of_stock"
	case o.Status == StatusFailed:
		return "failed"
	case o.ID != "" && o.Status == StatusPending:
		return "pending"
	}
	return "error"
}
