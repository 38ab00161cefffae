package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Upstreams names the base URL of each upstream service. The zero value routes to
// the discovery names "http://catalog", "http://cart" and "http://payment".
type Upstreams struct {
	// Catalog serves /api/products and /api/inventory. Default "http://catalog".
	Catalog string `env:"GATEWAY_CATALOG_URL" envDefault:"http://catalog"`
	// Cart serves /api/carts and /api/orders. Default "http://cart".
	Cart string `env:"GATEWAY_CART_URL" envDefault:"http://cart"`
	// Payment serves /api/payments (the operator's ledger and refunds). Default
	// "http://payment".
	Payment string `env:"GATEWAY_PAYMENT_URL" envDefault:"http://payment"`
}

// Validate reports an upstream URL that is not an absolute http(s) URL, naming its
// environment variable.
func (u Upstreams) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"GATEWAY_CATALOG_URL", u.Catalog}, {"GATEWAY_CART_URL", u.Cart}, {"GATEWAY_PAYMENT_URL", u.Payment}} {
		if f.v == "" {
			continue
		}
		if t, err := url.Parse(f.v); err != nil || t.Host == "" || (t.Scheme != "http" && t.Scheme != "https") {
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute http(s) URL", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

func (u Upstreams) withDefaults() Upstreams {
	if u.Catalog == "" {
		u.Catalog = "http://catalog"
	}
	if u.Cart == "" {
		u.Cart = "http://cart"
	}
	if u.Payment == "" {
		u.Payment = "http://payment"
	}
	u.Catalog = strings.TrimRight(u.Catalog, "/")
	u.Cart = strings.TrimRight(u.Cart, "/")
	u.Payment = strings.TrimRight(u.Payment, "/")
	return u
}

// Route is one public path prefix and the upstream that serves it.
type Route struct {
	// Prefix is the public path prefix, such as "/api/products".
	Prefix string
	// Upstream is the upstream's name: "catalog", "cart" or "payment".
	Upstream string
	// Login is set for routes that need an authenticated user when the gateway
	// authenticates users (GATEWAY_AUTH=oidc): carts and orders.
	Login bool
	// Role, when set, is the role the user needs (a Login route whatever Login
	// says): the operator's routes. Without user authentication (GATEWAY_AUTH=off)
	// no request has it, so these routes answer 403 to everyone.
	Role string
}

// RoleOperator is the role of the operator's routes: the inventory report, the
// payment ledger and refunds.
const RoleOperator = "operator"

// Routes returns the gateway's routing table. The public path minus "/api" is the
// upstream path: /api/products/p-1 is catalog's /products/p-1.
func Routes() []Route {
	return []Route{
		{Prefix: "/api/products", Upstream: "catalog"},
		{Prefix: "/api/carts", Upstream: "cart", Login: true},
		{Prefix: "/api/orders", Upstream: "cart", Login: true},
		{Prefix: "/api/inventory", Upstream: "catalog", Login: true, Role: RoleOperator},
		{Prefix: "/api/payments", Upstream: "payment", Login: true, Role: RoleOperator},
	}
}

// Resolve maps a public path to its upstream name and upstream path. ok is false
// when no route matches; a route matches its prefix exactly or followed by "/".
func Resolve(path string) (upstream, upstreamPath string, ok bool) {
	if rt, ok := match(path); ok {
		return rt.Upstream, strings.TrimPrefix(path, "/api"), true
	}
	return "", "", false
}

// match returns the route serving path, as NewHandler's mux chooses it.
func match(path string) (Route, bool) {
	for _, rt := range Routes() {
		if path == rt.Prefix || strings.HasPrefix(path, rt.Prefix+"/") {
			return rt, true
		}
	}
	return Route{}, false
}

// BreakerKey keys the gateway's circuit breakers by upstream and route class, so that
// checkouts failing (for example while payment is down) do not cut off browsing and
// carts: "cart/checkout", "cart/carts", "cart/orders", "catalog/products",
// "catalog/inventory", "payment/payments". It reads the upstream request, whose path
// has lost its "/api" prefix.
func BreakerKey(r *http.Request) string {
	host := r.URL.Host
	p := strings.TrimPrefix(r.URL.Path, "/")
	first, rest, _ := strings.Cut(p, "/")
	if first == "carts" && strings.HasSuffix(rest, "/checkout") {
		return host + "/checkout"
	}
	switch first {
	case "carts", "orders", "products", "inventory", "payments":
		return host + "/" + first
	}
	return host + "/other"
}
