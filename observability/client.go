package observability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gantry-go/gantry/internal/httpx"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Client returns client middleware that traces and measures each request following
// the OTel HTTP semantic conventions: a client span, child of the span in the request
// context, with http.request.resend_count when the request carries a Gantry-Attempt
// header above 0; the trace context and baggage injected into a copy of the request
// (the caller's is never modified); and the http.client.request.duration histogram,
// measured until the response headers arrive. docs/observability.md lists the
// attributes. Placed outside the retry policy it gives one span per logical request,
// inside it one per attempt. With neither provider set, next is returned unwrapped
// and nothing is injected. Telemetry never fails a request. The RoundTripper is safe
// for concurrent use when next is; next nil means http.DefaultTransport.
func Client(i Instrumentation) func(http.RoundTripper) http.RoundTripper {
	c := &clientInst{prop: i.propagator()}
	if i.TracerProvider != nil {
		c.tracer = i.TracerProvider.Tracer(scope)
		c.startOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	}
	if i.MeterProvider != nil {
		var err error
		c.duration, err = i.MeterProvider.Meter(scope).Float64Histogram("http.client.request.duration",
			metric.WithUnit("s"), metric.WithDescription("Duration of HTTP client requests."),
			metric.WithExplicitBucketBoundaries(durationBuckets()...))
		_ = err // a usable no-op instrument comes back with the error
		c.metrics = true
	}
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			next = http.DefaultTransport
		}
		if c.tracer == nil && !c.metrics {
			return next
		}
		return &clientTransport{clientInst: c, next: next}
	}
}

type clientInst struct {
	tracer    trace.Tracer
	startOpts []trace.SpanStartOption
	prop      propagation.TextMapPropagator
	metrics   bool
	duration  metric.Float64Histogram
	sets      cache[metricKey, []metric.RecordOption]
}

type clientTransport struct {
	*clientInst
	next http.RoundTripper
}

func (c *clientTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	ctx := req.Context()
	out := req
	var span trace.Span
	if c.tracer != nil {
		ctx, span = c.tracer.Start(ctx, spanMethod(req.Method), c.startOpts...)
		out = req.WithContext(ctx)
		out.Header = req.Header.Clone()
		if out.Header == nil {
			out.Header = http.Header{}
		}
		c.prop.Inject(ctx, headerCarrier(out.Header))
	}
	resp, err := c.next.RoundTrip(out)

	method, known := methodAttr(req.Method)
	scheme, hostport := "", ""
	if req.URL != nil {
		scheme, hostport = req.URL.Scheme, req.URL.Host
	}
	if hostport == "" {
		hostport = req.Host
	}
	host, port := splitHostPort(hostport)
	if port < 0 {
		switch scheme {
		case "http":
			port = 80
		case "https":
			port = 443
		}
	}
	status, proto, errType := 0, "", ""
	if err != nil {
		errType = errorType(err)
	} else if resp != nil {
		status = resp.StatusCode
		proto = protoVersion(resp.ProtoMajor, resp.ProtoMinor)
		if status >= 400 {
			errType = statusText(status)
		}
	}
	if span != nil {
		if span.IsRecording() {
			a := make([]attribute.KeyValue, 0, 10)
			a = append(a, semconv.HTTPRequestMethodKey.String(method), semconv.ServerAddress(host))
			if !known {
				a = append(a, semconv.HTTPRequestMethodOriginal(req.Method))
			}
			if port > 0 {
				a = append(a, semconv.ServerPort(port))
			}
			if req.URL != nil {
				a = append(a, semconv.URLFull(redactedURL(req.URL)))
			}
			if n := atoiPort(req.Header.Get(httpx.HeaderAttempt)); n > 0 {
				a = append(a, semconv.HTTPRequestResendCount(n))
			}
			if status > 0 {
				a = append(a, semconv.HTTPResponseStatusCode(status))
			}
			if proto != "" {
				a = append(a, semconv.NetworkProtocolVersion(proto))
			}
			if errType != "" {
				a = append(a, semconv.ErrorTypeKey.String(errType))
				if err != nil {
					span.RecordError(err)
					span.SetStatus(codes.Error, err.Error())
				} else {
					span.SetStatus(codes.Error, "")
				}
			}
			span.SetAttributes(a...)
		}
		span.End()
	}
	if c.metrics {
		opts := recordOpts(&c.sets, metricKey{method: method, scheme: scheme, host: host, port: port, proto: proto, status: status, errType: errType})
		c.duration.Record(ctx, time.Since(start).Seconds(), opts...)
	}
	return resp, err
}

// redactedURL returns u as a string with any password replaced, as semconv requires
// for url.full.
func redactedURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.UserPassword("REDACTED", "REDACTED")
	return c.String()
}

// errorType returns the error.type of a transport error.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return fmt.Sprintf("%T", err)
}
