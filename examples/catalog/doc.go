// Package catalog is the example shop's product catalog and stock keeper: it lists
// products and holds, confirms and releases stock for orders.
//
// It is laid out as every example service is (CONTRIBUTING.md, rule 27), so that a newcomer can
// copy the folder as a starter:
//
//   - service.go: the domain (Service, Product, Reservation) and its sentinel errors;
//   - endpoint.go: go-kit endpoints with their request and response types;
//   - transport.go: the HTTP API on a http.ServeMux, problem+json errors;
//   - store.go: SQLite persistence, migrations and seed data.
//
// # Stock accounting
//
// Every product row carries four counters with a CHECK constraint that the database
// enforces on every write:
//
//	initial_stock = available + held + sold
//
// A reservation moves quantities from available to held; confirming it moves them
// from held to sold; releasing it moves them back to available (from held, or from
// sold when a confirmed reservation is cancelled). Each move is one transaction, so
// the invariant holds after every commit and GET /inventory shows it.
//
// # HTTP API
//
//	GET    /products                   200 [{"id","name","price_cents","currency","stock"}]
//	GET    /products/{id}              200 product, 404
//	POST   /reservations               {"order_id","items":[{"product_id","quantity"}]}
//	                                   201 {"id","order_id","status":"held","items"}
//	                                   200 (and Idempotent-Replayed: true) when the order
//	                                       already has a reservation with the same items
//	                                   409 stock is short, 422 same order, other items
//	                                       or an unknown product
//	GET    /reservations/{id}          200 reservation, 404
//	POST   /reservations/{id}/confirm  200 (idempotent), 404, 409 if released
//	DELETE /reservations/{id}          204 (idempotent), 404
//	GET    /inventory                  200 [{"product_id","initial","available","held","sold"}]
//
// "stock" in a product is the quantity available to reserve.
package catalog
