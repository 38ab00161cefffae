// Package demoidp provides a small in-process OpenID Connect issuer for the
// one-process shop (examples/cmd/shop) and its tests: it serves
// /.well-known/openid-configuration and a JWKS over HTTP on loopback and signs
// ES256 access tokens for a fixed set of demo users ("alice" and "bob", buyers,
// and "operator", who holds the operator role).
//
// The gateway knows nothing of this package: it reads AUTH_ISSUER and AUTH_AUDIENCE
// (transport/auth) and follows discovery, so any standard OIDC provider works in
// its place by configuration alone.
//
// Keys rotate with [Provider.Rotate]. The key set publishes the next signing key
// before it signs anything and keeps the previous one after it stops, so verifiers
// that refresh between rotations never see a token signed by a key they have not
// been offered, and tokens issued before a rotation stay valid until the one after.
//
// It is a demo: it authenticates no one (whoever can call Token gets a token), it
// listens on loopback only, and its keys live in memory.
package demoidp
