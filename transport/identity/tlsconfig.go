package identity

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
)

// nextProtos are the ALPN protocols offered and accepted: HTTP/2, then HTTP/1.1.
func nextProtos() []string { return []string{"h2", "http/1.1"} }

// ServerConfig returns a *tls.Config for servers that requires and verifies a client
// certificate on every connection: TLS 1.2 or later with the standard library's
// cipher suites, ALPN h2 and http/1.1, the certificate and bundle read from src on
// each handshake, and the client's leaf required to carry exactly one SPIFFE ID in
// the trust domain of src's own certificate. Verified chains reach handlers in
// r.TLS (see [Peer]). Use it as http.Server.TLSConfig with ListenAndServeTLS("", "")
// or with tls.NewListener. The config is safe for concurrent use; do not modify it.
func ServerConfig(src Source) *tls.Config {
	s := &serverConfigs{src: src}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         nextProtos(),
		ClientAuth:         tls.RequireAndVerifyClientCert,
		GetCertificate:     s.certificate,
		GetConfigForClient: s.forClient,
	}
}

// serverConfigs hands each handshake a config whose ClientCAs is src's current
// bundle, so crypto/tls verifies the client (and fills VerifiedChains) against a
// bundle that may rotate. The config is rebuilt only when the bundle changes.
type serverConfigs struct {
	src Source
	cur atomic.Pointer[serverConfig]
}

type serverConfig struct {
	roots *x509.CertPool
	cfg   *tls.Config
}

func (s *serverConfigs) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.src.Certificate()
}

func (s *serverConfigs) forClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	roots, err := s.src.Roots()
	if err != nil {
		return nil, err
	}
	if c := s.cur.Load(); c != nil && c.roots == roots {
		return c.cfg, nil
	}
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		NextProtos:       nextProtos(),
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        roots,
		GetCertificate:   s.certificate,
		VerifyConnection: s.verifyClient,
	}
	s.cur.Store(&serverConfig{roots: roots, cfg: cfg})
	return cfg, nil
}

// verifyClient runs after crypto/tls verified the client's chain against ClientCAs.
func (s *serverConfigs) verifyClient(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return fmt.Errorf("%w: no verified client certificate", ErrNoIdentity)
	}
	_, err := checkPeer(s.src, cs.VerifiedChains[0][0])
	return err
}

// ClientConfig returns a *tls.Config for clients that presents src's certificate
// when asked and verifies the server against src's current bundle on every
// handshake: TLS 1.2 or later, ALPN h2 and http/1.1, the server's leaf valid for
// server authentication and carrying exactly one SPIFFE ID in the trust domain of
// src's own certificate. The SPIFFE ID replaces the host name check, so any address
// works. Which service the server is, is checked by [Transport]. The
// config is safe for concurrent use; do not modify it.
func ClientConfig(src Source) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return src.Certificate()
		},
		// The default verification would check a host name against the bundle of
		// the moment the config was built; VerifyConnection verifies the chain
		// against src's current bundle and the SPIFFE ID instead.
		InsecureSkipVerify: true, //nolint:gosec // G402: verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			roots, err := src.Roots()
			if err != nil {
				return err
			}
			if err := verifyChain(cs.PeerCertificates, roots, x509.ExtKeyUsageServerAuth); err != nil {
				return err
			}
			_, err = checkPeer(src, cs.PeerCertificates[0])
			return err
		},
	}
}
