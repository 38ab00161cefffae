package observability

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/otelconv"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// spanQueue bounds and counts what the SDK's batch span processor holds. It admits
// an ended, sampled span while fewer than capacity are held (queued, batched or
// being exported; the exporter hands them back) and drops it otherwise, so the
// processor, whose own queue is as large, never drops a span unseen. It records the
// SDK self-observability metrics of the OTel semantic conventions (their names
// here; the SDK's own instruments report to the global MeterProvider only):
// otel.sdk.processor.span.processed (error.type queue_full for a dropped span),
// otel.sdk.processor.span.queue.size and .capacity, and
// otel.sdk.exporter.span.exported (error.type for spans whose export failed). It is
// safe for concurrent use.
type spanQueue struct {
	sdktrace.SpanProcessor // the batch span processor over the spanExporter
	held                   atomic.Int64
	capacity               int64
	processed              metric.Int64Counter
	done, full             []metric.AddOption
	reg                    metric.Registration
}

// spanExporter counts what next exports and gives the spans back to q.
type spanExporter struct {
	next     sdktrace.SpanExporter
	timeout  time.Duration // of one export, retries included
	q        *spanQueue
	exported metric.Int64Counter
	attrs    []attribute.KeyValue // the exporter's otel.component.* and server.*
	ok       []metric.AddOption
}

var (
	_ sdktrace.SpanProcessor = (*spanQueue)(nil)
	_ sdktrace.SpanExporter  = (*spanExporter)(nil)
)

// newSpanQueue returns the batch span processor of exp for s (MaxQueueSize,
// MaxExportBatchSize), bounded and counted with meter. An export, retries included,
// ends after TimeoutMillis as OTEL_EXPORTER_OTLP_TIMEOUT says (otlptracehttp
// bounds each attempt only, and retries a timed-out one). exporterType and endpoint
// describe exp (otel.component.type, server.address and server.port).
func newSpanQueue(s TelemetrySettings, exp sdktrace.SpanExporter, exporterType otelconv.ComponentTypeAttr, endpoint string, meter metric.Meter) (*spanQueue, error) {
	processed, err1 := otelconv.NewSDKProcessorSpanProcessed(meter)
	size, err2 := otelconv.NewSDKProcessorSpanQueueSize(meter)
	capacity, err3 := otelconv.NewSDKProcessorSpanQueueCapacity(meter)
	exported, err4 := otelconv.NewSDKExporterSpanExported(meter)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	bsp := attribute.NewSet(
		processed.AttrComponentType(otelconv.ComponentTypeBatchingSpanProcessor),
		processed.AttrComponentName(string(otelconv.ComponentTypeBatchingSpanProcessor)+"/0"))
	q := &spanQueue{
		capacity:  int64(s.MaxQueueSize),
		processed: processed.Inst(),
		done:      []metric.AddOption{metric.WithAttributeSet(bsp)},
		full: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(append(bsp.ToSlice(),
			processed.AttrErrorType("queue_full"))...))},
	}
	observe := []metric.ObserveOption{metric.WithAttributeSet(bsp)}
	q.reg, err1 = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(size.Inst(), q.held.Load(), observe...)
		o.ObserveInt64(capacity.Inst(), q.capacity, observe...)
		return nil
	}, size.Inst(), capacity.Inst())
	if err1 != nil {
		return nil, err1
	}
	e := &spanExporter{next: exp, q: q, timeout: time.Duration(s.TimeoutMillis) * time.Millisecond, exported: exported.Inst(), attrs: []attribute.KeyValue{
		exported.AttrComponentType(exporterType),
		exported.AttrComponentName(string(exporterType) + "/0"),
	}}
	if u, err := url.Parse(endpoint); err == nil && u.Hostname() != "" {
		e.attrs = append(e.attrs, exported.AttrServerAddress(u.Hostname()))
		port := u.Port()
		if port == "" && u.Scheme == "https" {
			port = "443"
		} else if port == "" {
			port = "80"
		}
		if p, err := strconv.Atoi(port); err == nil {
			e.attrs = append(e.attrs, exported.AttrServerPort(p))
		}
	}
	e.ok = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(e.attrs...))}
	q.SpanProcessor = sdktrace.NewBatchSpanProcessor(e,
		sdktrace.WithMaxQueueSize(s.MaxQueueSize), sdktrace.WithMaxExportBatchSize(s.MaxExportBatchSize))
	return q, nil
}

// OnEnd hands s to the batch span processor, or drops and counts it when capacity
// spans are held. A recorded but unsampled span (no sampler of NewTelemetry makes
// one) is not exported, so it is not held either.
func (q *spanQueue) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if q.held.Add(1) > q.capacity {
		q.held.Add(-1)
		q.processed.Add(context.Background(), 1, q.full...)
		return
	}
	q.SpanProcessor.OnEnd(s)
}

// Shutdown shuts the batch span processor down (it exports what it holds) and stops
// observing the queue.
func (q *spanQueue) Shutdown(ctx context.Context) error {
	return errors.Join(q.SpanProcessor.Shutdown(ctx), q.reg.Unregister())
}

// ExportSpans exports spans, counts them as exported (with the error.type of a
// failure) and gives them back to the queue.
func (e *spanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	n := int64(len(spans))
	e.q.processed.Add(ctx, n, e.q.done...)
	ectx, cancel := context.WithTimeout(ctx, e.timeout)
	err := e.next.ExportSpans(ectx, spans)
	cancel()
	e.q.held.Add(-n)
	if err == nil {
		e.exported.Add(ctx, n, e.ok...)
		return nil
	}
	attrs := append(e.attrs[:len(e.attrs):len(e.attrs)], semconv.ErrorTypeKey.String(exportErrorType(err)))
	e.exported.Add(ctx, n, metric.WithAttributeSet(attribute.NewSet(attrs...)))
	return err
}

// Shutdown shuts the exporter down.
func (e *spanExporter) Shutdown(ctx context.Context) error { return e.next.Shutdown(ctx) }

// exportErrorType is the error.type of a failed export: timeout, canceled, network
// (a connection failed), the gRPC status code's name, or _OTHER.
func exportErrorType(err error) string {
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &op):
		if op.Timeout() {
			return "timeout"
		}
		return "network"
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st.Code().String()
	}
	return string(otelconv.ErrorTypeOther)
}
