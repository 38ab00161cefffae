package identity

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// Source provides a workload's certificate and the trust bundle its peers'
// certificates are verified against. The configs of [ServerConfig] and
// [ClientConfig] call it on every handshake, so a Source that starts returning a
// new certificate or bundle rotates them without a restart, while connections
// already made keep theirs. Implementations must be safe for concurrent use and
// must not block: return what is loaded and refresh it in the background.
type Source interface {
	// Certificate returns the current certificate chain (leaf first) with its
	// private key. Leaf should be set; it is parsed on every handshake otherwise.
	// The leaf must carry exactly one URI SAN, the workload's SPIFFE ID.
	Certificate() (*tls.Certificate, error)
	// Roots returns the current trust bundle. It should return the same pool until
	// the bundle changes: [ServerConfig] rebuilds its per-handshake config only then.
	Roots() (*x509.CertPool, error)
}

// leafOf returns c's parsed leaf certificate.
func leafOf(c *tls.Certificate) (*x509.Certificate, error) {
	if c.Leaf != nil {
		return c.Leaf, nil
	}
	if len(c.Certificate) == 0 {
		return nil, fmt.Errorf("%w: empty certificate chain", ErrNoIdentity)
	}
	return x509.ParseCertificate(c.Certificate[0])
}

// idOf returns the SPIFFE ID of a certificate: its one URI SAN.
func idOf(leaf *x509.Certificate) (ID, error) {
	if n := len(leaf.URIs); n != 1 {
		return ID{}, fmt.Errorf("%w: %d URI SANs", ErrNoIdentity, n)
	}
	return fromURL(leaf.URIs[0])
}

// ownID returns the SPIFFE ID of src's current certificate.
func ownID(src Source) (ID, error) {
	c, err := src.Certificate()
	if err != nil {
		return ID{}, err
	}
	leaf, err := leafOf(c)
	if err != nil {
		return ID{}, err
	}
	id, err := idOf(leaf)
	if err != nil {
		return ID{}, fmt.Errorf("own certificate: %w", err)
	}
	return id, nil
}

// checkPeer returns the SPIFFE ID of a verified peer leaf, provided it is in the
// trust domain of src's own certificate.
func checkPeer(src Source, leaf *x509.Certificate) (ID, error) {
	peer, err := idOf(leaf)
	if err != nil {
		return ID{}, err
	}
	own, err := ownID(src)
	if err != nil {
		return ID{}, err
	}
	if peer.td != own.td {
		return ID{}, fmt.Errorf("%w: %s is not in %s", ErrForeignTrustDomain, peer, own.td)
	}
	return peer, nil
}

// verifyChain verifies certs (leaf first, as sent by the peer) against roots for
// usage, the way crypto/tls does with RootCAs or ClientCAs, but without a host name:
// the SPIFFE ID takes its place.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: the peer sent no certificate", ErrNoIdentity)
	}
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	_, err := certs[0].Verify(opts)
	return err
}
