package consul

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const meterName = "github.com/gantry-go/gantry/discovery/consul"

// registerMetrics exports, per watched service:
//
//	discovery.consul.staleness (s)   time since the last successful refresh
//	discovery.consul.instances       instances in the published set
//	discovery.consul.errors          failed refreshes since start
//
// It returns a function that unregisters the callback.
func (r *Resolver) registerMetrics() (func(), error) {
	if r.s.MeterProvider == nil {
		return func() {}, nil
	}
	m := r.s.MeterProvider.Meter(meterName)
	stale, err := m.Float64ObservableGauge("discovery.consul.staleness", metric.WithUnit("s"),
		metric.WithDescription("Time since the service's instance set was last refreshed from Consul; grows while Consul is unreachable."))
	if err != nil {
		return nil, err
	}
	count, err := m.Int64ObservableGauge("discovery.consul.instances", metric.WithUnit("{instance}"),
		metric.WithDescription("Instances in the service's published set."))
	if err != nil {
		return nil, err
	}
	errs, err := m.Int64ObservableCounter("discovery.consul.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failed Consul queries for the service."))
	if err != nil {
		return nil, err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := time.Now()
		for name, f := range r.feeds {
			attrs := metric.WithAttributes(attribute.String("service", name))
			if d, ok := r.Staleness(name, now); ok {
				o.ObserveFloat64(stale, d.Seconds(), attrs)
			}
			o.ObserveInt64(count, int64(len(f.Snapshot().Instances)), attrs)
			r.mu.Lock()
			n := r.errors[name]
			r.mu.Unlock()
			o.ObserveInt64(errs, n, attrs)
		}
		return nil
	}, stale, count, errs)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}
