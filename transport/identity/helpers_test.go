package identity

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// staticSource is a Source that returns one certificate and bundle, swappable by
// tests.
type staticSource struct {
	cert  atomic.Pointer[tls.Certificate]
	roots *x509.CertPool
}

func newStatic(cert *tls.Certificate, roots *x509.CertPool) *staticSource {
	s := &staticSource{roots: roots}
	s.cert.Store(cert)
	return s
}

func (s *staticSource) Certificate() (*tls.Certificate, error) { return s.cert.Load(), nil }
func (s *staticSource) Roots() (*x509.CertPool, error)         { return s.roots, nil }

func mustID(t testing.TB, s string) ID {
	t.Helper()
	id, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustCA(t testing.TB, td string) *DevCA {
	t.Helper()
	ca, err := NewDevCA(td)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustSource(t testing.TB, ca *DevCA, id string, ttl time.Duration) *DevSource {
	t.Helper()
	s, err := ca.Source(mustID(t, id), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// callerHandler answers 200 with the caller's SPIFFE ID as the body.
func callerHandler() http.Handler {
	return Peer()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		_, _ = w.Write([]byte(id.String()))
	}))
}

// startTLS starts an httptest server on loopback serving h with ServerConfig(src).
func startTLS(t testing.TB, src Source, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = ServerConfig(src)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns an mTLS client over NewTransport(src), closed when t ends.
func newClient(t testing.TB, src Source) *http.Client {
	t.Helper()
	tr := NewTransport(src, transport.ClientSettings{})
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// writePEM writes a certificate (with its key) and a bundle as PEM files under dir,
// each through a temporary file and a rename, and returns their paths.
func writePEM(t testing.TB, dir string, cert *tls.Certificate, roots ...*x509.Certificate) (certFile, keyFile, caFile string) {
	t.Helper()
	certFile, keyFile, caFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	var c, ca []byte
	for _, der := range cert.Certificate {
		c = append(c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	for _, r := range roots {
		ca = append(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Raw})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	k := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	for path, b := range map[string][]byte{certFile: c, keyFile: k, caFile: ca} {
		writeFile(t, path, b)
	}
	return certFile, keyFile, caFile
}

// writeFile replaces path with b atomically.
func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
