package identity

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/gantry-go/gantry/transport"
)

// meterName is the instrumentation scope of this package's metrics.
const meterName = "github.com/gantry-go/gantry/transport/identity"

// Authorizer decides whether a caller may call a route. [*Policy] is one; Consul
// intentions (discovery/consul) are another. Implementations must be safe for
// concurrent use.
type Authorizer interface {
	// Authorize returns nil when caller may call route (a ServeMux pattern as
	// registered, "" when the request matched none), an error matching [ErrDenied]
	// when it may not, and any other error when it cannot decide.
	Authorize(ctx context.Context, route string, caller ID) error
}

// AuthorizeSettings holds the optional parts of [Authorize]. The zero value works.
// It is a plain value, read once.
type AuthorizeSettings struct {
	// Mux names the route of requests that the middleware sees before routing (in
	// the server chain, outside the mux): it is looked up with Mux.Handler, which
	// allocates for patterns with wildcards. Nil means r.Pattern, which ServeMux sets
	// for the middleware when it wraps a route's handler.
	Mux *http.ServeMux
	// MeterProvider receives the identity.authorization.denials counter; nil means
	// no metrics.
	MeterProvider metric.MeterProvider
	// Logger receives the Authorizer's failures to decide; nil discards them.
	Logger *slog.Logger
}

// Authorize returns server middleware that lets a request through only when a
// allows its caller (the SPIFFE ID from [Peer], or from r.TLS without it) on its
// route. A request with no verified identity, or that a refuses with [ErrDenied],
// gets 403 application/problem+json and is counted by the
// identity.authorization.denials counter (attributes http.route and
// identity.caller); other Authorizer errors get 503 with Retry-After and are logged.
// Allowed requests cost no allocation beyond the Authorizer's (none for [*Policy])
// and Mux's. It is safe for concurrent use.
func Authorize(a Authorizer, s AuthorizeSettings) func(http.Handler) http.Handler {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	denials := newDenials(s.MeterProvider)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			route := r.Pattern
			if route == "" && s.Mux != nil {
				_, route = s.Mux.Handler(r)
			}
			caller, ok := fromRequest(r)
			err := ErrDenied
			if ok {
				err = a.Authorize(r.Context(), route, caller)
			}
			switch {
			case err == nil:
				next.ServeHTTP(w, r)
			case errors.Is(err, ErrDenied):
				denials.Add(r.Context(), 1, metric.WithAttributes(
					attribute.String("http.route", route), attribute.String("identity.caller", caller.String())))
				transport.WriteProblem(w, r, &transport.Problem{Status: http.StatusForbidden,
					Detail: "the caller's identity is not allowed on this route"})
			default:
				logger.LogAttrs(r.Context(), slog.LevelError, "identity: authorization failed",
					slog.String("route", route), slog.String("caller", caller.String()), slog.String("error", err.Error()))
				transport.WriteProblem(w, r, &transport.Problem{Status: http.StatusServiceUnavailable,
					Detail: "authorization is unavailable", Retry: time.Second})
			}
		})
	}
}

// newDenials returns the denial counter, a no-op one when mp is nil.
func newDenials(mp metric.MeterProvider) metric.Int64Counter {
	if mp != nil {
		c, err := mp.Meter(meterName).Int64Counter("identity.authorization.denials", metric.WithUnit("{request}"),
			metric.WithDescription("Requests refused with 403 because the caller's identity is not allowed on the route."))
		if err == nil {
			return c
		}
	}
	return noop.Int64Counter{}
}
