package cart

import (
	"errors"
	"net/http"

	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

// TrustedEdge is the service whose Gantry-Principal header the cart believes: the
// gateway, the only caller that verifies users.
const TrustedEdge = "gateway"

// ErrUntrustedPrincipal means a caller other than the gateway sent a
// Gantry-Principal header: it may not act for a user (403).
var ErrUntrustedPrincipal = errors.New("cart: only the gateway may name the principal")

// Owner returns the owner of the carts and orders r acts on: the user the gateway
// verified, from the Gantry-Principal header (transport.HeaderPrincipal), or ""
// without one (the gateway authenticates no one, or an operator calls directly).
//
// Over mTLS (identity.FromContext names the caller) the header is believed only
// from the gateway; from any other caller it is ErrUntrustedPrincipal. Without mTLS
// (TLS_MODE=off, the shop's PlainHTTP) no caller can be told apart, and the cart
// trusts its network, as it does for every route: keep the cart's port private
// (compose and Kubernetes do). A malformed header is an *InvalidError.
func Owner(r *http.Request) (string, error) {
	vals := r.Header.Values(transport.HeaderPrincipal)
	if len(vals) == 0 {
		return "", nil
	}
	if id, ok := identity.FromContext(r.Context()); ok && id.ServiceName() != TrustedEdge {
		return "", ErrUntrustedPrincipal
	}
	if len(vals) > 1 || vals[0] == "" {
		return "", &InvalidError{Field: "principal", Detail: "must be one non-empty value"}
	}
	if err := validOwner(vals[0]); err != nil {
		return "", err
	}
	return vals[0], nil
}
