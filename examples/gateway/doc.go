// Package gateway provides the example shop's single entry point: a reverse proxy
// that routes /api/products to catalog and /api/carts and /api/orders to cart, and,
// for users with the operator role (RoleOperator), /api/inventory to catalog and
// /api/payments (the ledger and refunds) to payment.
//
// The gateway owns no data. Its upstream calls go through whatever
// http.RoundTripper main hands it, normally gantry.NewClient's: tracing, retry with a
// budget, a circuit breaker per upstream route, and a discovery.Router, so that
// http://catalog/ and http://cart/ reach a live instance. Upstream problem+json
// responses pass through untouched; an upstream that cannot be reached becomes a 502,
// 503 or 504 problem of the gateway's own. In examples/cmd/gateway/main.go,
// gantry.NewServer serves the handler as an edge (no Gantry-* header in or out), with
// a per-client rate limit, and, with GATEWAY_AUTH=oidc (AuthSettings, Authenticate),
// verifies users' bearer tokens and passes their subject on as Gantry-Principal and
// their roles as Gantry-Roles. Without GATEWAY_AUTH=oidc the operator's routes
// answer 403 to everyone.
package gateway
