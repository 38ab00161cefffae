package observability

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-go/gantry/internal/httpx"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Server returns server middleware that traces and measures each request following
// the OTel HTTP semantic conventions: a server span, child of the trace context
// extracted from the request (with PublicEndpoint, a new root linked to it) and named "METHOD route" when an http.ServeMux pattern
// matched (so it may wrap the mux), and the http.server.request.duration histogram.
// Instrumentation's fields add opt-in attributes and metrics; docs/observability.md
// lists them. With neither provider set, next is returned unwrapped. The request
// context carries the span, so logs written with it get trace ids (see
// [NewTraceHandler]). A panic below is recorded as a 500 and re-panicked for a
// recover middleware outside this one. Telemetry never fails a request. The
// middleware is safe for concurrent use; create it once, not per request.
func Server(i Instrumentation) func(http.Handler) http.Handler {
	s := &serverInst{prop: i.propagator(), details: i.SpanDetails, public: i.PublicEndpoint}
	if i.TracerProvider != nil {
		s.tracer = i.TracerProvider.Tracer(scope)
		s.startOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
		if s.public {
			s.startOpts = append(s.startOpts, trace.WithNewRoot())
		}
	}
	if i.MeterProvider != nil {
		m := i.MeterProvider.Meter(scope)
		var err1, err2, err3, err4 error
		s.duration, err1 = m.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
			metric.WithDescription("Duration of HTTP server requests."),
			metric.WithExplicitBucketBoundaries(durationBuckets()...))
		if i.BodySizeMetrics {
			s.reqSize, err2 = m.Int64Histogram("http.server.request.body.size", metric.WithUnit("By"),
				metric.WithDescription("Size of HTTP server request bodies."))
			s.respSize, err3 = m.Int64Histogram("http.server.response.body.size", metric.WithUnit("By"),
				metric.WithDescription("Size of HTTP server response bodies."))
		}
		// The API returns usable (no-op) instruments with an error; telemetry set-up
		// problems must not stop a service, so the errors are ignored.
		if i.ActiveRequests {
			s.active, err4 = m.Int64UpDownCounter("http.server.active_requests", metric.WithUnit("{request}"),
				metric.WithDescription("Number of active HTTP server requests."))
		}
		_, _, _, _ = err1, err2, err3, err4
		s.metrics = true
	}
	s.pool.New = func() any { return new(serverState) }
	return func(next http.Handler) http.Handler {
		if s.tracer == nil && !s.metrics {
			return next
		}
		return &serverHandler{serverInst: s, next: next}
	}
}

// serverInst is shared by every handler one Server call wraps.
type serverInst struct {
	tracer    trace.Tracer
	startOpts []trace.SpanStartOption
	prop      propagation.TextMapPropagator
	details   bool
	public    bool // new root spans linked to the inbound context
	metrics   bool
	duration  metric.Float64Histogram
	reqSize   metric.Int64Histogram
	respSize  metric.Int64Histogram
	active    metric.Int64UpDownCounter
	sets      cache[metricKey, []metric.RecordOption]
	actives   cache[activeKey, []metric.AddOption]
	names     cache[[2]string, string]
	pool      sync.Pool
}

type serverHandler struct {
	*serverInst
	next http.Handler
}

// serverState is the per-request scratch space, pooled.
type serverState struct {
	rec   httpx.Recorder
	attrs [16]attribute.KeyValue
}

func (s *serverHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := s.pool.Get().(*serverState)
	st.rec.Reset(w)
	ctx := r.Context()
	var span trace.Span
	if s.tracer != nil {
		if s.public {
			ctx, span = s.startPublic(ctx, r)
		} else {
			ctx = s.prop.Extract(ctx, headerCarrier(r.Header))
			ctx, span = s.tracer.Start(ctx, spanMethod(r.Method), s.startOpts...)
		}
		r = r.WithContext(ctx)
	}
	if s.active != nil {
		s.active.Add(ctx, 1, addOpts(&s.actives, activeKey{spanMethodAttr(r.Method), schemeOf(r)})...)
	}
	done := false
	defer func() {
		if !done { // the handler panicked: record a 500, let the panic go on
			s.finish(ctx, r, st, span, start, http.StatusInternalServerError)
		}
	}()
	s.next.ServeHTTP(&st.rec, r)
	done = true
	s.finish(ctx, r, st, span, start, st.rec.StatusOr(http.StatusOK))
}

// startPublic starts a new root span, linked to the span context the request
// carries, if any. Nothing else of the inbound context (baggage) is kept.
func (s *serverHandler) startPublic(ctx context.Context, r *http.Request) (context.Context, trace.Span) {
	opts := s.startOpts
	if sc := trace.SpanContextFromContext(s.prop.Extract(ctx, headerCarrier(r.Header))); sc.IsValid() {
		opts = append(opts[:len(opts):len(opts)], trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return s.tracer.Start(ctx, spanMethod(r.Method), opts...)
}

func (s *serverHandler) finish(ctx context.Context, r *http.Request, st *serverState, span trace.Span, start time.Time, status int) {
	route := routeOf(r.Pattern)
	method, known := methodAttr(r.Method)
	scheme := schemeOf(r)
	host, port := splitHostPort(r.Host)
	if (scheme == "http" && port == 80) || (scheme == "https" && port == 443) {
		port = -1
	}
	proto := protoVersion(r.ProtoMajor, r.ProtoMinor)
	errType := ""
	if status >= 500 {
		errType = statusText(status)
	}
	if span != nil {
		if span.IsRecording() {
			a := st.attrs[:0]
			a = append(a, semconv.HTTPRequestMethodKey.String(method), semconv.URLScheme(scheme),
				semconv.ServerAddress(host), semconv.HTTPResponseStatusCode(status))
			if !known {
				a = append(a, semconv.HTTPRequestMethodOriginal(r.Method))
			}
			if port > 0 {
				a = append(a, semconv.ServerPort(port))
			}
			if r.URL != nil && r.URL.Path != "" {
				a = append(a, semconv.URLPath(r.URL.Path))
			}
			peer, peerPort := splitHostPort(r.RemoteAddr)
			client := peer
			if !s.public {
				// Behind the edge, X-Forwarded-For was set by our own proxy; at a public
				// endpoint it is whatever the client wrote.
				client = clientIP(r.Header.Get("X-Forwarded-For"), peer)
			}
			if client != "" {
				a = append(a, semconv.ClientAddress(client))
			}
			if route != "" {
				a = append(a, semconv.HTTPRoute(route))
				span.SetName(s.spanName(r.Method, r.Pattern, route))
			}
			if s.details {
				if peer != "" {
					a = append(a, semconv.NetworkPeerAddress(peer))
					if peerPort > 0 {
						a = append(a, semconv.NetworkPeerPort(peerPort))
					}
				}
				if ua := r.Header.Get("User-Agent"); ua != "" {
					a = append(a, semconv.UserAgentOriginal(ua))
				}
				if proto != "" {
					a = append(a, semconv.NetworkProtocolVersion(proto))
				}
				if st.rec.Bytes > 0 {
					a = append(a, semconv.HTTPResponseBodySize(int(st.rec.Bytes)))
				}
			}
			if errType != "" {
				a = append(a, semconv.ErrorTypeKey.String(errType))
				span.SetStatus(codes.Error, "")
			}
			span.SetAttributes(a...)
			clear(a) // drop references to request data before pooling
		}
		span.End()
	}
	if s.metrics {
		opts := recordOpts(&s.sets, metricKey{method: method, scheme: scheme, proto: proto, status: status, route: route, errType: errType})
		s.duration.Record(ctx, time.Since(start).Seconds(), opts...)
		if s.active != nil {
			s.active.Add(ctx, -1, addOpts(&s.actives, activeKey{method, scheme})...)
		}
		if s.reqSize != nil {
			if r.ContentLength >= 0 {
				s.reqSize.Record(ctx, r.ContentLength, opts...)
			}
			s.respSize.Record(ctx, st.rec.Bytes, opts...)
		}
	}
	st.rec.Reset(nil)
	s.pool.Put(st)
}

// spanName returns "METHOD route", reusing the pattern itself when it already reads
// that way, and caching the others.
func (s *serverInst) spanName(method, pattern, route string) string {
	m := spanMethod(method)
	if len(pattern) == len(m)+1+len(route) && strings.HasPrefix(pattern, m) && pattern[len(m)] == ' ' {
		return pattern
	}
	k := [2]string{m, route}
	if n, ok := s.names.load(k); ok {
		return n
	}
	n := m + " " + route
	s.names.store(k, n)
	return n
}

// clientIP returns the first address of X-Forwarded-For, else the peer. It is not
// used for a PublicEndpoint, whose X-Forwarded-For a client can forge.
func clientIP(xff, peer string) string {
	if xff == "" {
		return peer
	}
	if i := strings.IndexByte(xff, ','); i >= 0 {
		xff = xff[:i]
	}
	return strings.TrimSpace(xff)
}

// statusText returns the status code as a string (error.type for 5xx).
func statusText(code int) string {
	switch code {
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(code)
}

func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func spanMethodAttr(m string) string {
	v, _ := methodAttr(m)
	return v
}
