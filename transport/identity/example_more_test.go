package identity_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gantry-go/gantry/transport/identity"
)

func tlsDial(addr string, cfg *tls.Config) (*tls.Conn, error) { return tls.Dial("tcp", addr, cfg) }

// ExamplePeer reads the caller's SPIFFE ID from the request context.
func ExamplePeer() {
	h := identity.Peer()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := identity.FromContext(r.Context())
		fmt.Println("identity:", ok)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) // plain HTTP: no identity
	// Output: identity: false
}

func ExampleNewPolicy() {
	policy, err := identity.NewPolicy(map[string][]string{
		"GET /items/{id}": {"cart", "gateway"},
		"POST /stock":     {"spiffe://shop.test/ns/ops/svc/admin"},
		"GET /status":     {identity.Any},
	}, nil) // unlisted routes: deny
	fmt.Println(policy != nil, err)
	_, err = identity.NewPolicy(map[string][]string{"GET items": {"cart"}}, nil)
	fmt.Println(err)
	// Output:
	// true <nil>
	// identity: invalid policy: route "GET items": parsing "GET items": at offset 4: host/path missing /
}

// ExampleAuthorize puts authorization in the server chain, outside the mux, which
// names the routes.
func ExampleAuthorize() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "item") })
	policy, err := identity.NewPolicy(map[string][]string{"GET /items/{id}": {"cart"}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	h := identity.Peer()(identity.Authorize(policy, identity.AuthorizeSettings{Mux: mux})(mux))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/items/7", nil)) // no client certificate
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output: 403 application/problem+json
}
