// Package transport provides Gantry's HTTP base: a server constructor with safe
// timeouts, Chain and ClientChain, server middleware (edge, recovery, request id,
// access log, body limit), RFC 9457 problem+json errors, strict JSON codecs, the
// tuned *http.Transport (NewRoundTripper) with deadline and request-id propagation,
// go-kit endpoint adapters, and the one outcome taxonomy (Outcome, Classify) that
// the resilience and discovery packages share.
//
// Use it when a service speaks HTTP: every error, whatever its origin, leaves
// through WriteError, so callers always get a problem+json body and internals never
// leak. The order in which a service composes these pieces is shown once, in the
// gantry package's ExampleNewServer and ExampleNewClient.
package transport
