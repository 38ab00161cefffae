// Package transport provides Gantry's HTTP base: a server constructor with safe
// timeouts, a middleware Chain, server middleware (recovery, request id, access log,
// body limit, deadline), RFC 9457 problem+json errors, strict JSON codecs, an
// *http.Client factory with a RoundTripper chain, go-kit endpoint adapters, and the
// one outcome taxonomy (Outcome, Classify) that the resilience and discovery packages
// share.
//
// Use it when a service speaks HTTP: the server side wraps handlers in one documented
// order, and every error, whatever its origin, leaves through WriteError so that
// callers always get a problem+json body and internals never leak.
package transport
