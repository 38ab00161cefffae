// Package cart provides the example shop's cart service: carts of catalog products,
// and a checkout saga (reserve stock, charge, confirm; release and refund on failure)
// that never loses an order or charges twice, even when payment or catalog fail half
// way or the process crashes.
//
// The layout is the one to copy for a new service (CONTRIBUTING.md, rule 27): service.go holds
// the domain (Service, its errors and types), saga.go the checkout state machine,
// endpoint.go the go-kit endpoints, transport.go the HTTP decoders and encoders,
// store.go the SQLite persistence, clients.go the calls to catalog and payment, and
// recovery.go the background loop that finishes orders left pending. The wiring
// lives in examples/cmd/cart/main.go.
package cart
