// Package auth provides OIDC/JWT bearer-token authentication for the edge of a
// Gantry service, such as the gateway.
//
// A [Verifier] reads the provider's signing keys (a JWKS, found through OIDC
// discovery at <issuer>/.well-known/openid-configuration or named directly),
// keeps them cached and refreshed, and verifies tokens against them: the
// signature, with an algorithm pinned by configuration and by the key (never by
// the token alone), then iss, aud, exp, nbf (with leeway) and sub. A token
// signed by a key the cache does not know triggers at most one refresh per
// minimum interval, so a rotation at the provider does not fail valid tokens and
// a flood of forged key ids does not flood the provider.
//
// [Authenticate] is the server middleware that reads "Authorization: Bearer" (RFC
// 6750), puts the [Principal] on the request context ([FromContext]) and answers
// failures with 401 problem+json and a WWW-Authenticate challenge. [RequireRole]
// and [RequireScope] answer 403 with error="insufficient_scope".
//
// The package sits in the transport layer and does not depend on observability.
package auth
