package observability

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/gantry-go/gantry/config"
)

// Sampler names of OTEL_TRACES_SAMPLER that [NewTelemetry] supports.
const (
	SamplerAlwaysOn                = "always_on"
	SamplerAlwaysOff               = "always_off"
	SamplerTraceIDRatio            = "traceidratio"
	SamplerParentBasedAlwaysOn     = "parentbased_always_on"
	SamplerParentBasedAlwaysOff    = "parentbased_always_off"
	SamplerParentBasedTraceIDRatio = "parentbased_traceidratio"
)

// OTLP protocols of OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Default values of TelemetrySettings, used for zero fields.
const (
	defaultServiceName          = "unknown_service"
	defaultProtocol             = ProtocolHTTP
	defaultTimeoutMillis        = 10000
	defaultSampler              = SamplerParentBasedAlwaysOn
	defaultSamplerRatio         = 1.0
	defaultMetricIntervalMillis = 60000
	defaultMaxQueueSize         = 2048
	defaultMaxExportBatchSize   = 512
)

// TelemetrySettings configure [NewTelemetry] with the variables of the OpenTelemetry
// specification (same names, same meaning), so that a collector set up for any
// OTel SDK works unchanged. The zero value works: no exporter, parent-based
// always-on sampling, metrics served on /metrics only. It is a plain value.
type TelemetrySettings struct {
	// ServiceName is the service.name resource attribute. Default "unknown_service".
	ServiceName string `env:"OTEL_SERVICE_NAME" desc:"Service name reported with every span and metric (resource attribute service.name)."`
	// ResourceAttributes are extra resource attributes, key=value pairs separated by
	// commas. OTEL_SERVICE_NAME wins over a service.name given here.
	ResourceAttributes map[string]string `env:"OTEL_RESOURCE_ATTRIBUTES" envKeyValSeparator:"=" desc:"Extra resource attributes: key=value pairs separated by commas, e.g. deployment.environment.name=prod."`
	// Endpoint is the OTLP collector's base URL, e.g. http://otel-collector:4318
	// (http/protobuf; /v1/traces and /v1/metrics are appended) or
	// http://otel-collector:4317 (grpc). Empty (the default) means no exporter:
	// spans are sampled and propagated but not sent anywhere, and metrics are served
	// on /metrics only. The scheme http means no TLS.
	Endpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT" desc:"OTLP collector base URL, e.g. http://otel-collector:4318. Empty: no exporter (metrics still on /metrics)."`
	// Protocol is http/protobuf or grpc. Default http/protobuf.
	Protocol string `env:"OTEL_EXPORTER_OTLP_PROTOCOL" desc:"OTLP protocol: http/protobuf or grpc."`
	// Headers are sent with every export, e.g. an API key: key=value pairs separated
	// by commas. Secret.
	Headers map[string]string `env:"OTEL_EXPORTER_OTLP_HEADERS" envKeyValSeparator:"=" secret:"true" desc:"Headers sent with every OTLP export (key=value,...), e.g. an API key."`
	// TimeoutMillis bounds one export, in milliseconds. Default 10000.
	TimeoutMillis int `env:"OTEL_EXPORTER_OTLP_TIMEOUT" desc:"Timeout of one OTLP export, in milliseconds."`
	// Sampler is one of always_on, always_off, traceidratio, parentbased_always_on,
	// parentbased_always_off, parentbased_traceidratio. Default parentbased_always_on.
	Sampler string `env:"OTEL_TRACES_SAMPLER" desc:"Trace sampler: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio."`
	// SamplerArg is the ratio in [0, 1] of the *traceidratio samplers. Default 1.
	SamplerArg string `env:"OTEL_TRACES_SAMPLER_ARG" desc:"Sampling ratio in [0, 1] for the traceidratio samplers (default 1)."`
	// MetricIntervalMillis is the OTLP metric export interval, in milliseconds.
	// Default 60000.
	MetricIntervalMillis int `env:"OTEL_METRIC_EXPORT_INTERVAL" desc:"Interval between two OTLP metric exports, in milliseconds."`
	// MaxQueueSize bounds the ended spans held for export, the batch being exported
	// included: a span that ends while as many are held is dropped and counted
	// (otel.sdk.processor.span.processed with error.type queue_full), never waited
	// for. Default 2048.
	MaxQueueSize int `env:"OTEL_BSP_MAX_QUEUE_SIZE" desc:"Most ended spans held for export; more are dropped and counted, never waited for."`
	// MaxExportBatchSize is the most spans sent in one export, at most MaxQueueSize.
	// Default 512, or MaxQueueSize when that is smaller.
	MaxExportBatchSize int `env:"OTEL_BSP_MAX_EXPORT_BATCH_SIZE" desc:"Most spans in one export (at most OTEL_BSP_MAX_QUEUE_SIZE)."`
	// Disabled turns tracing and metrics off (no-op providers; /metrics is empty).
	// Default false.
	Disabled bool `env:"OTEL_SDK_DISABLED" desc:"Disable tracing and metrics (no-op providers)."`
}

// Validate reports every bad variable.
func (s TelemetrySettings) Validate() error {
	var errs []error
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, config.Invalid("OTEL_EXPORTER_OTLP_ENDPOINT", "want a URL such as http://otel-collector:4318, got %q", s.Endpoint))
		}
	}
	switch s.Protocol {
	case "", ProtocolHTTP, ProtocolGRPC:
	default:
		errs = append(errs, config.Invalid("OTEL_EXPORTER_OTLP_PROTOCOL", "want http/protobuf or grpc, got %q", s.Protocol))
	}
	if s.TimeoutMillis < 0 {
		errs = append(errs, config.Invalid("OTEL_EXPORTER_OTLP_TIMEOUT", "must not be negative, got %d", s.TimeoutMillis))
	}
	if s.MetricIntervalMillis < 0 {
		errs = append(errs, config.Invalid("OTEL_METRIC_EXPORT_INTERVAL", "must not be negative, got %d", s.MetricIntervalMillis))
	}
	if s.MaxQueueSize < 0 {
		errs = append(errs, config.Invalid("OTEL_BSP_MAX_QUEUE_SIZE", "must not be negative, got %d", s.MaxQueueSize))
	}
	if q := s.withDefaults().MaxQueueSize; s.MaxExportBatchSize < 0 || s.MaxExportBatchSize > q {
		errs = append(errs, config.Invalid("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "must be from 0 (the default) to OTEL_BSP_MAX_QUEUE_SIZE (%d), got %d", q, s.MaxExportBatchSize))
	}
	switch s.Sampler {
	case "", SamplerAlwaysOn, SamplerAlwaysOff, SamplerTraceIDRatio, SamplerParentBasedAlwaysOn,
		SamplerParentBasedAlwaysOff, SamplerParentBasedTraceIDRatio:
	default:
		errs = append(errs, config.Invalid("OTEL_TRACES_SAMPLER", "unsupported sampler %q", s.Sampler))
	}
	if _, err := s.ratio(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero fields that have a default (and the non-positive
// durations, which Validate rejects).
func (s TelemetrySettings) withDefaults() TelemetrySettings {
	if s.ServiceName == "" {
		s.ServiceName = defaultServiceName
	}
	if s.Protocol == "" {
		s.Protocol = defaultProtocol
	}
	if s.TimeoutMillis <= 0 {
		s.TimeoutMillis = defaultTimeoutMillis
	}
	if s.Sampler == "" {
		s.Sampler = defaultSampler
	}
	if s.MetricIntervalMillis <= 0 {
		s.MetricIntervalMillis = defaultMetricIntervalMillis
	}
	if s.MaxQueueSize <= 0 {
		s.MaxQueueSize = defaultMaxQueueSize
	}
	if s.MaxExportBatchSize <= 0 {
		s.MaxExportBatchSize = min(defaultMaxExportBatchSize, s.MaxQueueSize)
	}
	return s
}

// ratio parses SamplerArg; it is only meaningful for the ratio samplers.
func (s TelemetrySettings) ratio() (float64, error) {
	if s.SamplerArg == "" {
		return defaultSamplerRatio, nil
	}
	r, err := strconv.ParseFloat(strings.TrimSpace(s.SamplerArg), 64)
	if err != nil || r < 0 || r > 1 {
		return 0, config.Invalid("OTEL_TRACES_SAMPLER_ARG", "want a ratio in [0, 1], got %q", s.SamplerArg)
	}
	return r, nil
}
