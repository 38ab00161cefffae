package transport

import "net/http"

// Chain composes server middleware into one. The first is outermost: it sees the
// request first and the response last. Nil middleware are skipped, so optional
// pieces can be left out without branching. The order Gantry's own server uses is
// shown in the package gantry example (ExampleNewServer). The returned function is
// safe for concurrent use if the middleware are.
func Chain(mw ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		for i := len(mw) - 1; i >= 0; i-- {
			if mw[i] != nil {
				next = mw[i](next)
			}
		}
		return next
	}
}

// RoundTripperFunc adapts a function to http.RoundTripper, as http.HandlerFunc does
// for handlers. It is as safe for concurrent use as the function is.
type RoundTripperFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f(r).
func (f RoundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ClientChain composes client middleware into one, as Chain does for servers: the
// first is outermost, and nil middleware are skipped. The order Gantry's own client
// uses is shown in the package gantry example (ExampleNewClient). The returned
// function is safe for concurrent use if the middleware are.
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
