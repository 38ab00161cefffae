package gateway

import (
	"net/http"
	"strings"

	"github.com/gantry-go/gantry/transport"
)

// Criticality returns server middleware that marks each request's importance to
// the load shedder after it (transport.HeaderCriticality, which
// resilience.Shedder.Server reads): checkouts (IsCheckout) are critical, browsing
// (GET and HEAD of /api/products and /api/products/{id}) is sheddable, and every
// other request is default, whatever the client sent. Put it after transport.Edge
// and before the shedder. The header stays at the gateway: the proxy drops Gantry-*
// headers on the way out. It is safe for concurrent use.
func Criticality() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case IsCheckout(r):
				r.Header.Set(transport.HeaderCriticality, "critical")
			case isBrowsing(r):
				r.Header.Set(transport.HeaderCriticality, "sheddable")
			default:
				r.Header.Del(transport.HeaderCriticality)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// isBrowsing reports whether r reads the catalog: GET or HEAD /api/products or
// /api/products/{id}.
func isBrowsing(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.URL.Path == "/api/products" {
		return true
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/api/products/")
	return ok && id != "" && !strings.Contains(id, "/")
}
