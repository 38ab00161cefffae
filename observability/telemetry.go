package observability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/otelconv"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Telemetry holds the tracer and meter providers of a service, its propagator and
// its Prometheus registry. Build it with [NewTelemetry] and call Shutdown last (it
// is a gantry.Shutdowner). Its methods are safe for concurrent use.
type Telemetry struct {
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	prop     propagation.TextMapPropagator
	registry *prometheus.Registry
	metrics  http.Handler
	shutdown []func(context.Context) error
}

// NewTelemetry builds the providers described by s:
//
//   - a TracerProvider with the sampler of OTEL_TRACES_SAMPLER and a batch span
//     processor exporting over OTLP (HTTP or gRPC per OTEL_EXPORTER_OTLP_PROTOCOL)
//     when OTEL_EXPORTER_OTLP_ENDPOINT is set, with no exporter otherwise; it holds
//     at most OTEL_BSP_MAX_QUEUE_SIZE spans, drops the rest and counts what it
//     drops and what fails to export (the otel.sdk.* metrics, on /metrics too);
//   - a MeterProvider read by a Prometheus exporter registered on a registry of its
//     own (with the Go and process collectors), plus a periodic OTLP reader when an
//     endpoint is set;
//   - the W3C trace-context + baggage propagator.
//
// Nothing global is set: pass the providers on (see [Telemetry.Instrumentation]).
// Exporters connect lazily, so an unreachable collector does not fail NewTelemetry;
// export errors go to the OTel error handler. NewTelemetry fails when s is invalid
// (the error names the variable) or an exporter cannot be built.
func NewTelemetry(ctx context.Context, s TelemetrySettings) (*Telemetry, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	t := &Telemetry{
		prop:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		registry: prometheus.NewRegistry(),
	}
	t.metrics = promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	if s.Disabled {
		t.tp, t.mp = tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()
		return t, nil
	}
	if err := t.registry.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("observability: %w", err)
	}
	if err := t.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("observability: %w", err)
	}

	res := newResource(s)
	sampler, err := newSampler(s)
	if err != nil {
		return nil, err
	}
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	promExp, err := otelprom.New(otelprom.WithRegisterer(t.registry))
	if err != nil {
		return nil, fmt.Errorf("observability: prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)}

	if s.Endpoint == "" {
		tp := sdktrace.NewTracerProvider(topts...)
		mp := sdkmetric.NewMeterProvider(mopts...)
		t.tp, t.mp = tp, mp
		t.shutdown = []func(context.Context) error{tp.Shutdown, mp.Shutdown}
		return t, nil
	}
	spanExp, metricExp, err := newExporters(ctx, s)
	if err != nil {
		return nil, err
	}
	interval := time.Duration(s.MetricIntervalMillis) * time.Millisecond
	mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(interval))))
	mp := sdkmetric.NewMeterProvider(mopts...)
	expType := otelconv.ComponentTypeOtlpHTTPSpanExporter
	if s.Protocol == ProtocolGRPC {
		expType = otelconv.ComponentTypeOtlpGRPCSpanExporter
	}
	queue, err := newSpanQueue(s, spanExp, expType, s.Endpoint, mp.Meter(scope))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("observability: span queue metrics: %w", err), spanExp.Shutdown(ctx), mp.Shutdown(ctx))
	}
	tp := sdktrace.NewTracerProvider(append(topts, sdktrace.WithSpanProcessor(queue))...)
	t.tp, t.mp = tp, mp
	// The tracer provider first: its last exports are counted on the meter provider.
	t.shutdown = []func(context.Context) error{tp.Shutdown, mp.Shutdown}
	return t, nil
}

func newResource(s TelemetrySettings) *resource.Resource {
	name := s.ServiceName // withDefaults filled it
	attrs := make([]attribute.KeyValue, 0, len(s.ResourceAttributes)+4)
	for k, v := range s.ResourceAttributes {
		attrs = append(attrs, attribute.String(strings.TrimSpace(k), strings.TrimSpace(v)))
	}
	attrs = append(attrs,
		semconv.ServiceName(name),
		semconv.TelemetrySDKName("opentelemetry"),
		semconv.TelemetrySDKLanguageGo,
	)
	// Later attributes win on duplicate keys, so OTEL_SERVICE_NAME beats
	// OTEL_RESOURCE_ATTRIBUTES as the specification requires.
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...)
}

func newSampler(s TelemetrySettings) (sdktrace.Sampler, error) {
	ratio, err := s.ratio()
	if err != nil {
		return nil, err
	}
	switch s.Sampler {
	case SamplerAlwaysOn:
		return sdktrace.AlwaysSample(), nil
	case SamplerAlwaysOff:
		return sdktrace.NeverSample(), nil
	case SamplerTraceIDRatio:
		return sdktrace.TraceIDRatioBased(ratio), nil
	case SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case SamplerParentBasedTraceIDRatio:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	default: // parentbased_always_on, the default
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	}
}

func newExporters(ctx context.Context, s TelemetrySettings) (sdktrace.SpanExporter, sdkmetric.Exporter, error) {
	timeout := time.Duration(s.TimeoutMillis) * time.Millisecond
	base := strings.TrimRight(s.Endpoint, "/")
	if s.Protocol == ProtocolGRPC {
		se, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(base), otlptracegrpc.WithHeaders(s.Headers), otlptracegrpc.WithTimeout(timeout))
		if err != nil {
			return nil, nil, fmt.Errorf("observability: otlp grpc trace exporter: %w", err)
		}
		me, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(base), otlpmetricgrpc.WithHeaders(s.Headers), otlpmetricgrpc.WithTimeout(timeout))
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("observability: otlp grpc metric exporter: %w", err), se.Shutdown(ctx))
		}
		return se, me, nil
	}
	se, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces"), otlptracehttp.WithHeaders(s.Headers), otlptracehttp.WithTimeout(timeout))
	if err != nil {
		return nil, nil, fmt.Errorf("observability: otlp http trace exporter: %w", err)
	}
	me, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"), otlpmetrichttp.WithHeaders(s.Headers), otlpmetrichttp.WithTimeout(timeout))
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("observability: otlp http metric exporter: %w", err), se.Shutdown(ctx))
	}
	return se, me, nil
}

// TracerProvider returns the tracer provider (a no-op one when disabled).
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the meter provider (a no-op one when disabled).
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Propagator returns the W3C trace-context + baggage propagator.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// Registry returns the Prometheus registry behind [Telemetry.MetricsHandler], for
// registering other collectors.
func (t *Telemetry) Registry() *prometheus.Registry { return t.registry }

// MetricsHandler serves the metrics in the Prometheus text format; mount it on
// GET /metrics.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Instrumentation returns logger with the providers and propagator, for [Server],
// [Client] and every other instrumented part. A nil logger means no logs.
func (t *Telemetry) Instrumentation(logger *slog.Logger) Instrumentation {
	return Instrumentation{Logger: logger, TracerProvider: t.tp, MeterProvider: t.mp, Propagator: t.prop}
}

// Shutdown flushes pending spans and metrics and shuts the providers down; it is
// the last step of gantry.Run's shutdown. Later spans and metrics are dropped.
// It returns the joined errors of the providers (an unreachable collector makes the
// flush fail once ctx expires).
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		if err := f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
