package transport

import "net/http"

// Chain composes server middleware into one. The first argument is the outermost: it
// sees the request first and the response last. Nil middleware are skipped, so
// optional pieces can be left out without branching. The recommended server order is
//
//	Recover → RequestID → instrumentation (trace, metrics) → AccessLog →
//	load shedding / rate limiting → BodyLimit → Deadline → handler
//
// that is: recover → trace/metrics/log → shed/ratelimit → timeout → handler. Recover
// is outermost so that a panic anywhere below becomes a 500 problem response;
// RequestID comes next so every log line and error body carries the id; shedding runs
// before any per-request work; the deadline is applied last so it bounds the handler
// only.
//
// The returned function is safe for concurrent use if the middleware are.
func Chain(outer func(http.Handler) http.Handler, others ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		for i := len(others) - 1; i >= 0; i-- {
			if others[i] != nil {
				next = others[i](next)
			}
		}
		if outer != nil {
			next = outer(next)
		}
		return next
	}
}

// RoundTripperFunc adapts a function to http.RoundTripper, as http.HandlerFunc does
// for handlers. It is as safe for concurrent use as the function is.
type RoundTripperFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f(r).
func (f RoundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ClientChain composes client middleware into one; the first is outermost, and nil
// middleware are skipped. The recommended client order is
//
//	instrumentation (trace) → retry (with budget) → breaker → per-attempt timeout →
//	balancer → PropagateDeadline → PropagateRequestID → *http.Transport
//
// so that the deadline header written on the wire reflects each attempt's own
// deadline. The returned function is safe for concurrent use if the middleware are.
func ClientChain(mw ...func(http.RoundTripper) http.RoundTripper) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		for i := len(mw) - 1; i >= 0; i-- {
			if mw[i] != nil {
				next = mw[i](next)
			}
		}
		return next
	}
}
