// Package identity provides service identity for Gantry services: SPIFFE IDs in
// X.509 certificates, mutual TLS between every service, and authorization by the
// caller's identity, in process, with no sidecar.
//
// Each workload has an [ID], spiffe://<trust-domain>/ns/<namespace>/svc/<name>,
// carried as the one URI SAN of its certificate. A [Source] provides that
// certificate and the trust bundle; [ServerConfig] and [ClientConfig] read it on
// every handshake, so a rotated certificate is used by the next connection without
// a restart and without dropping the connections already open. Sources:
//
//   - [Files] reads a certificate, key and CA bundle (Kubernetes Secrets,
//     cert-manager) and reloads them when their content changes; a broken new set is
//     logged and counted, and the last good one stays in use;
//   - [DevCA] issues short-lived certificates from an in-memory ECDSA P-256 root, so
//     demos and tests run with mTLS and no files;
//   - discovery/consul's CASource uses Consul's built-in CA.
//
// [Settings] (TLS_* variables) selects one with [NewSource].
//
// On the server, [Peer] puts the caller's verified ID on the request context
// ([FromContext]) and [Authorize] refuses, with 403 problem+json, callers that an
// [Authorizer] such as a [Policy] does not allow on the route. On the client,
// [NewTransport] returns an *http.Transport whose dialer checks that the server is
// the service the request was meant for ([WithService]) and fails the dial with
// [ErrWrongIdentity] otherwise, so a rogue server with a valid certificate for
// another identity gets no request.
//
// Trust is one trust domain: a peer's ID must be in the trust domain of the
// workload's own certificate. Federation between trust domains is not supported.
package identity
