// Package observability provides the logging, tracing and metrics of a Gantry
// service, built on log/slog and OpenTelemetry.
//
//   - [NewLogger] builds a JSON or text *slog.Logger whose level and format come from
//     the environment ([LogSettings]); [NewTraceHandler] adds trace_id and span_id from
//     the context to every record, so logs and traces join up.
//   - [NewTelemetry] builds an OTel TracerProvider and MeterProvider from the
//     standard OTEL_* variables ([TelemetrySettings]): OTLP over HTTP or gRPC when an
//     endpoint is set, no exporter otherwise; a W3C trace-context + baggage propagator;
//     and a Prometheus /metrics handler on its own registry. Nothing is global:
//     neither otel.SetTracerProvider nor prometheus.DefaultRegisterer is touched.
//   - [Server] and [Client] instrument HTTP servers and clients following the
//     OTel HTTP semantic conventions (server and client spans,
//     http.server.request.duration, http.client.request.duration), the signals
//     otelhttp produces; docs/observability.md compares their cost with otelhttp's.
//
// Health checks (/livez, /readyz, /startupz) live in the sub-package health.
//
// Telemetry never fails a request: exporter errors are reported through the OTel
// error handler, never to the caller.
package observability
