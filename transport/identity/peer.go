package identity

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/gantry-go/gantry/internal/route"
)

type peerKey struct{}

// Peer returns server middleware that puts the caller's SPIFFE ID on the request
// context, for [FromContext]. The ID is the one URI SAN of the leaf of the first
// verified chain in r.TLS, which the handshake of [ServerConfig] checked. Requests
// without one (plain HTTP, no client certificate) pass unchanged and have no ID;
// [Authorize] refuses them. It is safe for concurrent use.
func Peer() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := fromTLS(r.TLS)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			r2 := r.WithContext(context.WithValue(r.Context(), peerKey{}, &id))
			next.ServeHTTP(w, r2)
			route.Keep(r, r2)
		})
	}
}

// FromContext returns the caller's SPIFFE ID that [Peer] stored in ctx, and whether
// there is one.
func FromContext(ctx context.Context) (ID, bool) {
	if id, ok := ctx.Value(peerKey{}).(*ID); ok {
		return *id, true
	}
	return ID{}, false
}

// fromRequest returns the caller's ID from r's context or, without [Peer], from
// r.TLS. It does not allocate.
func fromRequest(r *http.Request) (ID, bool) {
	if id, ok := FromContext(r.Context()); ok {
		return id, true
	}
	return fromTLS(r.TLS)
}

func fromTLS(cs *tls.ConnectionState) (ID, bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ID{}, false
	}
	id, err := idOf(cs.VerifiedChains[0][0])
	return id, err == nil
}
