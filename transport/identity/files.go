package identity

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/gantry-go/gantry/config"
)

// Files is a [Source] read from a certificate, key and CA bundle file (a Kubernetes
// TLS Secret, a cert-manager Certificate). Run reads the files every
// TLS_RELOAD_INTERVAL and, when their content changed, loads them; a new set that
// does not load (unparsable, a key that does not match, expired, not chaining to
// the bundle, the wrong identity) is logged and counted by
// identity.certificate.reload.errors, and the last good set stays in use. Files is
// safe for concurrent use.
type Files struct {
	s       Settings
	service string
	errs    metric.Int64Counter
	mu      sync.Mutex // serializes Reload
	tried   [sha256.Size]byte
	cur     atomic.Pointer[loaded]
}

var _ Source = (*Files)(nil)

type loaded struct {
	cert  *tls.Certificate
	roots *x509.CertPool
}

// NewFiles loads the files s names, which must hold a certificate for service (any
// service when empty; in TLS_TRUST_DOMAIN when set). Errors are a *config.Error
// naming the variable of the bad file: TLS_CERT_FILE, TLS_KEY_FILE or TLS_CA_FILE.
func NewFiles(s Settings, service string) (*Files, error) {
	s.Mode = ModeFiles
	if err := config.Validate(s); err != nil {
		return nil, err
	}
	f := &Files{s: s.withDefaults(), service: service, errs: noop.Int64Counter{}}
	if mp := s.MeterProvider; mp != nil {
		c, err := mp.Meter(meterName).Int64Counter("identity.certificate.reload.errors", metric.WithUnit("{error}"),
			metric.WithDescription("New certificate files that did not load; the last good certificate stays in use."))
		if err != nil {
			return nil, err
		}
		f.errs = c
	}
	sum, l, err := f.load()
	if err != nil {
		return nil, &config.Error{Problems: []error{err}}
	}
	f.tried = sum
	f.cur.Store(l)
	return f, nil
}

// Certificate returns the last certificate that loaded.
func (f *Files) Certificate() (*tls.Certificate, error) { return f.cur.Load().cert, nil }

// Roots returns the last bundle that loaded.
func (f *Files) Roots() (*x509.CertPool, error) { return f.cur.Load().roots, nil }

// Run reloads the files every TLS_RELOAD_INTERVAL until ctx ends, then returns nil.
func (f *Files) Run(ctx context.Context) error {
	t := time.NewTicker(f.s.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = f.Reload(ctx) // logged and counted
		}
	}
}

// Reload reads the files once and loads them if their content changed since the
// last attempt. A set that does not load is logged, counted once and returned (a
// *config.FieldError naming the variable); the last good set stays in use.
func (f *Files) Reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	sum, l, err := f.load()
	if sum == f.tried && !errors.Is(err, errRead) {
		return nil // unchanged since the last attempt, good or bad
	}
	f.tried = sum
	if err != nil {
		f.errs.Add(ctx, 1)
		f.s.Logger.LogAttrs(ctx, slog.LevelError, "identity: new certificate files did not load; keeping the last good certificate",
			slog.String("error", err.Error()), slog.String("serial", f.cur.Load().cert.Leaf.SerialNumber.Text(16)))
		return err
	}
	f.cur.Store(l)
	f.s.Logger.LogAttrs(ctx, slog.LevelInfo, "identity: certificate reloaded",
		slog.String("serial", l.cert.Leaf.SerialNumber.Text(16)), slog.Time("not_after", l.cert.Leaf.NotAfter))
	return nil
}

// errRead marks a file that could not be read: retried on every tick.
var errRead = errors.New("cannot read")

// load reads and checks the three files and returns the hash of their content.
func (f *Files) load() (sum [sha256.Size]byte, _ *loaded, _ error) {
	var raw [3][]byte
	h := sha256.New()
	for i, v := range [...]struct{ name, path string }{
		{"TLS_CERT_FILE", f.s.CertFile}, {"TLS_KEY_FILE", f.s.KeyFile}, {"TLS_CA_FILE", f.s.CAFile},
	} {
		b, err := os.ReadFile(v.path)
		if err != nil {
			return sum, nil, config.Invalid(v.name, "%w: %w", errRead, err)
		}
		raw[i] = b
		h.Write(b)
		h.Write([]byte{0})
	}
	h.Sum(sum[:0])
	l, err := parseFiles(raw[0], raw[1], raw[2], f.s.TrustDomain, f.service)
	return sum, l, err
}

// parseFiles checks a certificate chain, its key and a bundle, naming the variable
// of the file at fault.
func parseFiles(certPEM, keyPEM, caPEM []byte, td, service string) (*loaded, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, config.Invalid("TLS_CA_FILE", "no PEM certificate")
	}
	chain, err := parseChain(certPEM)
	if err != nil {
		return nil, config.Invalid("TLS_CERT_FILE", "%w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, config.Invalid("TLS_KEY_FILE", "%w", err)
	}
	cert.Leaf = chain[0]
	id, err := idOf(chain[0])
	switch {
	case err != nil:
		return nil, config.Invalid("TLS_CERT_FILE", "%w", err)
	case service != "" && id.svc != service:
		return nil, config.Invalid("TLS_CERT_FILE", "%w: the certificate is for %s, not service %q", ErrWrongIdentity, id, service)
	case td != "" && id.td != td:
		return nil, config.Invalid("TLS_CERT_FILE", "%w: %s is not in TLS_TRUST_DOMAIN %s", ErrForeignTrustDomain, id, td)
	}
	// Verify checks the validity period too: an expired certificate fails here.
	if err := verifyChain(chain, roots, x509.ExtKeyUsageAny); err != nil {
		return nil, config.Invalid("TLS_CERT_FILE", "does not chain to TLS_CA_FILE: %w", err)
	}
	return &loaded{cert: &cert, roots: roots}, nil
}

// parseChain parses every CERTIFICATE block of a PEM file, leaf first.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return chain, nil
}
