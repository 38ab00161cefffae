// Package gateway provides the example shop's single entry point: a reverse proxy
// that routes /api/products to catalog and /api/carts and /api/orders to cart.
//
// The gateway owns no data. Its upstream calls go through whatever
// http.RoundTripper main hands it, normally the library's client chain: tracing,
// retry with a budget, a circuit breaker per upstream, and discovery's resolving
// RoundTripper, so that http://catalog/ and http://cart/ reach a live instance.
// Upstream problem+json responses pass through untouched; an upstream that cannot be
// reached becomes a 502, 503 or 504 problem of the gateway's own. Server middleware
// (recovery, telemetry, request ids, per-client rate limiting) wraps the handler in
// examples/cmd/gateway/main.go.
package gateway
