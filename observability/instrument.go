package observability

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// scope is the instrumentation scope name of Gantry's spans and metrics.
const scope = "github.com/gantry-go/gantry/observability"

// Instrumentation carries the logger and the providers that every instrumented part
// of Gantry uses: [Server] and [Client] here, and the resilience and discovery
// policies. The zero value works and records nothing. [Telemetry.Instrumentation]
// fills it in. It is a plain value; the logger and providers it holds are safe for
// concurrent use.
type Instrumentation struct {
	// Logger receives state changes (a breaker opening, an instance ejected); nil
	// means no logs.
	Logger *slog.Logger
	// TracerProvider creates the spans; nil means no spans (and no trace context
	// extraction or injection).
	TracerProvider trace.TracerProvider
	// MeterProvider creates the instruments; nil means no metrics.
	MeterProvider metric.MeterProvider
	// Propagator extracts and injects the trace context; nil means W3C trace-context
	// and baggage.
	Propagator propagation.TextMapPropagator
	// BodySizeMetrics adds the opt-in histograms http.server.request.body.size and
	// http.server.response.body.size (which otelhttp always records). Default false:
	// each costs about as much as the duration histogram.
	BodySizeMetrics bool
	// SpanDetails adds the recommended attributes network.peer.address,
	// network.peer.port, user_agent.original and network.protocol.version and the
	// opt-in http.response.body.size to server spans, as otelhttp does. Default false:
	// server spans carry the required attributes plus server.address and
	// client.address.
	SpanDetails bool
	// ActiveRequests adds the opt-in up-down counter http.server.active_requests
	// (attributes http.request.method and url.scheme). Default false.
	ActiveRequests bool
	// PublicEndpoint makes [Server] start every server span as a new root that links
	// to the inbound trace context instead of continuing it, and take client.address
	// from the connection rather than a client-written X-Forwarded-For (OTel's public-endpoint
	// behaviour), so an untrusted caller neither joins its spans to the service's
	// traces nor decides their sampling. Default false: the span is a child of the
	// inbound context. gantry.NewServer sets it for ServerSettings.Edge.
	PublicEndpoint bool
}

func (i Instrumentation) propagator() propagation.TextMapPropagator {
	if i.Propagator != nil {
		return i.Propagator
	}
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// durationBuckets are the bucket boundaries (seconds) the HTTP semantic conventions
// recommend for http.*.request.duration.
func durationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}

// methodAttr returns the semconv value of http.request.method: the method when it
// is a known one, else "_OTHER" (and the original is reported separately).
func methodAttr(m string) (string, bool) {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE", "QUERY":
		return m, true
	}
	return "_OTHER", false
}

// spanMethod is the method used in span names: "HTTP" for unknown methods.
func spanMethod(m string) string {
	if v, ok := methodAttr(m); ok {
		return v
	}
	return "HTTP"
}

// routeOf turns a ServeMux pattern ("GET example.com/items/{id}") into the
// http.route value ("/items/{id}").
func routeOf(pattern string) string {
	if pattern == "" {
		return ""
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if pattern != "" && pattern[0] != '/' {
		if i := strings.IndexByte(pattern, '/'); i >= 0 {
			pattern = pattern[i:]
		} else {
			pattern = ""
		}
	}
	return pattern
}

// splitHostPort splits "host:port", "[v6]:port" or "host"; port is -1 when absent
// or invalid. It never allocates.
func splitHostPort(hp string) (string, int) {
	if hp == "" {
		return "", -1
	}
	if hp[0] == '[' {
		i := strings.LastIndexByte(hp, ']')
		if i < 0 {
			return hp, -1
		}
		if len(hp) > i+1 && hp[i+1] == ':' {
			return hp[1:i], atoiPort(hp[i+2:])
		}
		return hp[1:i], -1
	}
	i := strings.LastIndexByte(hp, ':')
	if i < 0 || strings.IndexByte(hp, ':') != i {
		return hp, -1 // no port, or a bare IPv6 address
	}
	return hp[:i], atoiPort(hp[i+1:])
}

func atoiPort(s string) int {
	if s == "" || len(s) > 5 {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return -1
	}
	return n
}

// protoVersion returns network.protocol.version: "1.0", "1.1", "2" or "3".
func protoVersion(major, minor int) string {
	switch {
	case major == 1 && minor == 1:
		return "1.1"
	case major == 1 && minor == 0:
		return "1.0"
	case major == 2:
		return "2"
	case major == 3:
		return "3"
	}
	return ""
}

// metricKey identifies one attribute set of an HTTP duration metric. Following the
// semantic conventions, network.protocol.name is left out (it is only required when
// it is not "http"); server metrics leave out server.address and server.port, which
// are opt-in there (and would let clients mint time series with Host headers).
type metricKey struct {
	method, scheme, host, proto, route string
	port, status                       int
	errType                            string
}

func (k metricKey) attrs() []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 9)
	kv = append(kv,
		semconv.HTTPRequestMethodKey.String(k.method),
		semconv.URLScheme(k.scheme),
	)
	if k.host != "" {
		kv = append(kv, semconv.ServerAddress(k.host))
	}
	if k.port > 0 {
		kv = append(kv, semconv.ServerPort(k.port))
	}
	if k.proto != "" {
		kv = append(kv, semconv.NetworkProtocolVersion(k.proto))
	}
	if k.status > 0 {
		kv = append(kv, semconv.HTTPResponseStatusCode(k.status))
	}
	if k.route != "" {
		kv = append(kv, semconv.HTTPRoute(k.route))
	}
	if k.errType != "" {
		kv = append(kv, semconv.ErrorTypeKey.String(k.errType))
	}
	return kv
}

// maxCached bounds the caches below: a hostile client sending random Host headers
// must not grow them without bound. Past the bound, values are computed per request.
const maxCached = 1024

// cache is a copy-on-write map: lookups are one atomic load and a map access,
// without locks or allocations. Misses are rare (the key space is small) and copy
// the map.
type cache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

func (c *cache[K, V]) load(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

func (c *cache[K, V]) store(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil && len(*old) >= maxCached {
		return
	}
	n := make(map[K]V, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			n[k] = v
		}
	}
	n[k] = v
	c.m.Store(&n)
}

func lenOf[K comparable, V any](m *map[K]V) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// recordOpts returns the record options (one attribute set) for k, cached.
func recordOpts(c *cache[metricKey, []metric.RecordOption], k metricKey) []metric.RecordOption {
	if o, ok := c.load(k); ok {
		return o
	}
	o := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(k.attrs()...))}
	c.store(k, o)
	return o
}

// activeKey identifies one attribute set of http.server.active_requests.
type activeKey struct{ method, scheme string }

// addOpts returns the add options (one attribute set) for k, cached.
func addOpts(c *cache[activeKey, []metric.AddOption], k activeKey) []metric.AddOption {
	if o, ok := c.load(k); ok {
		return o
	}
	o := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		semconv.HTTPRequestMethodKey.String(k.method), semconv.URLScheme(k.scheme)))}
	c.store(k, o)
	return o
}
