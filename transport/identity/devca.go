package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// devRootLifetime is how long a development root is valid.
	devRootLifetime = 365 * 24 * time.Hour
	// backdate is subtracted from NotBefore, for clocks that lag a little.
	backdate = time.Minute
)

// DevCA is a development certificate authority held in memory: an ECDSA P-256 root
// for one trust domain that issues short-lived leaf certificates, so that demos and
// tests run with mTLS and no files. Its key never leaves the process, so only
// workloads of one process trust each other; use files or Consul's CA across
// processes. A DevCA is safe for concurrent use.
type DevCA struct {
	td   string
	key  *ecdsa.PrivateKey
	root *x509.Certificate
	pool *x509.CertPool
}

// NewDevCA returns a new development CA for trustDomain (such as "gantry.test"),
// with a root valid for a year. Errors match [ErrInvalidID] for a malformed trust
// domain.
func NewDevCA(trustDomain string) (*DevCA, error) {
	if why := checkTrustDomain(trustDomain); why != "" {
		return nil, invalid("spiffe://"+trustDomain, why)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "gantry development CA " + trustDomain},
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: trustDomain}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(devRootLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &DevCA{td: trustDomain, key: key, root: root, pool: pool}, nil
}

// serial returns a random 128-bit certificate serial number.
func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128)) // crypto/rand never fails
	return n
}

// TrustDomain returns the CA's trust domain.
func (ca *DevCA) TrustDomain() string { return ca.td }

// Roots returns the CA's trust bundle: its root alone. Do not modify it.
func (ca *DevCA) Roots() *x509.CertPool { return ca.pool }

// Issue returns a new certificate and ECDSA P-256 key for id, valid from now (minus
// a minute for clock skew) for ttl, usable for both server and client
// authentication. id must be in the CA's trust domain.
func (ca *DevCA) Issue(id ID, ttl time.Duration) (*tls.Certificate, error) {
	now := time.Now()
	return ca.issue(id, now.Add(-backdate), now.Add(ttl))
}

func (ca *DevCA) issue(id ID, notBefore, notAfter time.Time) (*tls.Certificate, error) {
	if id.td != ca.td {
		return nil, fmt.Errorf("%w: %s is not in trust domain %s", ErrForeignTrustDomain, id, ca.td)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// X.509 times have whole seconds and encoding truncates: round both up, so that a
	// certificate never expires before the lifetime its source renews it by, and its
	// validity stays exactly backdate + ttl (NotBefore stays in the past by backdate).
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		URIs:         []*url.URL{id.url()},
		NotBefore:    ceilSecond(notBefore),
		NotAfter:     ceilSecond(notAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// WriteFiles issues a certificate for id valid for ttl (as Issue) and writes, into
// dir, the files a files-mode Source reads (the names of a Kubernetes TLS Secret):
// tls.crt (the leaf), tls.key (its PKCS #8 key, mode 0600) and ca.crt (the CA's
// root). It is for development setups of several processes, such as docker
// compose, where an in-memory CA cannot be shared; the CA's own key is never
// written. Each file is replaced atomically (never read half written); a Files
// source that reloads between two of them sees a key that does not match its leaf,
// keeps the set it has and takes the new one at its next reload.
func (ca *DevCA) WriteFiles(dir string, id ID, ttl time.Duration) error {
	cert, err := ca.Issue(id, ttl)
	if err != nil {
		return err
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		block *pem.Block
		mode  os.FileMode
	}{
		{"ca.crt", &pem.Block{Type: "CERTIFICATE", Bytes: ca.root.Raw}, 0o644},
		{"tls.key", &pem.Block{Type: "PRIVATE KEY", Bytes: key}, 0o600},
		{"tls.crt", &pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}, 0o644},
	} {
		if err := writeAtomic(filepath.Join(dir, f.name), pem.EncodeToMemory(f.block), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	err = errors.Join(err, tmp.Chmod(mode), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// Source returns a [Source] that presents certificates for id issued by ca, each
// valid for ttl (1h when ttl is zero or negative) and replaced by a new one, on the
// first handshake after half its lifetime. It issues the first one at once.
func (ca *DevCA) Source(id ID, ttl time.Duration) (*DevSource, error) {
	if ttl <= 0 {
		ttl = defaultDevCertTTL
	}
	s := &DevSource{ca: ca, id: id, ttl: ttl}
	if _, err := s.renew(); err != nil {
		return nil, err
	}
	return s, nil
}

// DevSource is the [Source] of [DevCA.Source]. It is safe for concurrent use.
type DevSource struct {
	ca  *DevCA
	id  ID
	ttl time.Duration
	mu  sync.Mutex // serializes renewals
	cur atomic.Pointer[devCert]
}

var _ Source = (*DevSource)(nil)

type devCert struct {
	cert    *tls.Certificate
	renewAt time.Time
}

// Certificate returns the current certificate, issuing a new one when the current
// one has lived half its ttl.
func (s *DevSource) Certificate() (*tls.Certificate, error) {
	if c := s.cur.Load(); time.Now().Before(c.renewAt) {
		return c.cert, nil
	}
	return s.renew()
}

func (s *DevSource) renew() (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if c := s.cur.Load(); c != nil && now.Before(c.renewAt) {
		return c.cert, nil // renewed by another handshake meanwhile
	}
	cert, err := s.ca.issue(s.id, now.Add(-backdate), now.Add(s.ttl))
	if err != nil {
		return nil, err
	}
	s.cur.Store(&devCert{cert: cert, renewAt: now.Add(s.ttl / 2)})
	return cert, nil
}

// Roots returns the CA's bundle.
func (s *DevSource) Roots() (*x509.CertPool, error) { return s.ca.pool, nil }

// ceilSecond rounds t up to a whole second.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); r.Before(t) {
		return r.Add(time.Second)
	}
	return t
}
