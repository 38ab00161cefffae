package identity

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gantry-go/gantry/config"
)

const cartID = "spiffe://gantry.test/ns/default/svc/cart"

func filesSettings(certFile, keyFile, caFile string) Settings {
	return Settings{CertFile: certFile, KeyFile: keyFile, CAFile: caFile}
}

// TestNewFilesNamesTheBadFile breaks one file at a time and checks that NewFiles
// names its variable.
func TestNewFilesNamesTheBadFile(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	good, _ := ca.Issue(mustID(t, cartID), time.Hour)
	other, _ := mustCA(t, "gantry.test").Issue(mustID(t, cartID), time.Hour)
	tests := []struct {
		name    string
		service string
		td      string
		edit    func(t *testing.T, cert, key, caf string) Settings
		want    string
	}{
		{"missing setting", "cart", "", func(t *testing.T, c, k, a string) Settings { return filesSettings(c, "", a) }, "TLS_KEY_FILE"},
		{"missing file", "cart", "", func(t *testing.T, c, k, a string) Settings { return filesSettings(c+".nope", k, a) }, "TLS_CERT_FILE"},
		{"garbage certificate", "cart", "", func(t *testing.T, c, k, a string) Settings {
			writeFile(t, c, []byte("not a certificate"))
			return filesSettings(c, k, a)
		}, "TLS_CERT_FILE"},
		{"garbage key", "cart", "", func(t *testing.T, c, k, a string) Settings {
			writeFile(t, k, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
			return filesSettings(c, k, a)
		}, "TLS_KEY_FILE"},
		{"key of another certificate", "cart", "", func(t *testing.T, c, k, a string) Settings {
			_, k2, _ := writePEM(t, t.TempDir(), other, ca.root)
			return filesSettings(c, k2, a)
		}, "TLS_KEY_FILE"},
		{"empty bundle", "cart", "", func(t *testing.T, c, k, a string) Settings {
			writeFile(t, a, nil)
			return filesSettings(c, k, a)
		}, "TLS_CA_FILE"},
		{"certificate of another CA", "cart", "", func(t *testing.T, c, k, a string) Settings {
			c2, k2, _ := writePEM(t, t.TempDir(), other, ca.root)
			return filesSettings(c2, k2, a)
		}, "TLS_CERT_FILE"},
		{"another service", "catalog", "", func(t *testing.T, c, k, a string) Settings { return filesSettings(c, k, a) }, "TLS_CERT_FILE"},
		{"another trust domain", "cart", "prod.test", func(t *testing.T, c, k, a string) Settings { return filesSettings(c, k, a) }, "TLS_CERT_FILE"},
		{"expired", "cart", "", func(t *testing.T, c, k, a string) Settings {
			old, _ := ca.issue(mustID(t, cartID), time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
			c2, k2, _ := writePEM(t, t.TempDir(), old, ca.root)
			return filesSettings(c2, k2, a)
		}, "TLS_CERT_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, k, a := writePEM(t, t.TempDir(), good, ca.root)
			s := tt.edit(t, c, k, a)
			s.TrustDomain = tt.td
			_, err := NewFiles(s, tt.service)
			var ce *config.Error
			if !errors.As(err, &ce) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("NewFiles = %v, want a *config.Error", err)
			}
			if tt.name == "expired" && !strings.Contains(err.Error(), "expired") {
				t.Errorf("NewFiles(expired) = %v, want it to say so", err)
			}
			if got := ce.Vars(); len(got) != 1 || got[0] != tt.want {
				t.Errorf("NewFiles = %v, naming %v, want %s", err, got, tt.want)
			}
		})
	}
	c, k, a := writePEM(t, t.TempDir(), good, ca.root)
	if _, err := NewFiles(filesSettings(c, k, a), "cart"); err != nil {
		t.Errorf("NewFiles(good files) = %v", err)
	}
}

// TestFilesKeepsTheOldCertificate serves with a Files source, breaks its files, and
// checks that new connections still get the old certificate, that the failure is
// counted once per broken version, and that a good set then loads.
func TestFilesKeepsTheOldCertificate(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	first, _ := ca.Issue(mustID(t, "spiffe://gantry.test/ns/default/svc/catalog"), time.Hour)
	dir := t.TempDir()
	c, k, a := writePEM(t, dir, first, ca.root)
	reader := metric.NewManualReader()
	var logs strings.Builder
	s := filesSettings(c, k, a)
	s.MeterProvider = metric.NewMeterProvider(metric.WithReader(reader))
	s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	src, err := NewFiles(s, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, src, http.NotFoundHandler())
	client := newClient(t, mustSource(t, ca, cartID, time.Hour))
	serverSerial := func() string {
		t.Helper()
		client.CloseIdleConnections() // a new connection, a new handshake
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	if got, want := serverSerial(), first.Leaf.SerialNumber.String(); got != want {
		t.Fatalf("serial before = %s, want %s", got, want)
	}

	writeFile(t, c, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"))
	for range 2 { // the second attempt sees the same broken file: not counted again
		var fe *config.FieldError
		if err := src.Reload(context.Background()); err != nil && (!errors.As(err, &fe) || fe.Var != "TLS_CERT_FILE") {
			t.Fatalf("Reload(broken) = %v, want TLS_CERT_FILE", err)
		}
	}
	if got, want := serverSerial(), first.Leaf.SerialNumber.String(); got != want {
		t.Errorf("serial after a broken file = %s, want the old %s", got, want)
	}
	if n := reloadErrors(t, reader); n != 1 {
		t.Errorf("identity.certificate.reload.errors = %d, want 1", n)
	}
	if !strings.Contains(logs.String(), "keeping the last good certificate") {
		t.Errorf("logs = %q, want the failure logged", logs.String())
	}

	second, _ := ca.Issue(mustID(t, "spiffe://gantry.test/ns/default/svc/catalog"), time.Hour)
	writePEM(t, dir, second, ca.root)
	if err := src.Reload(context.Background()); err != nil {
		t.Fatalf("Reload(good) = %v", err)
	}
	if got, want := serverSerial(), second.Leaf.SerialNumber.String(); got != want {
		t.Errorf("serial after a good file = %s, want the new %s", got, want)
	}
}

func reloadErrors(t *testing.T, r *metric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "identity.certificate.reload.errors" {
				var n int64
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					n += dp.Value
				}
				return n
			}
		}
	}
	return 0
}

// TestFilesRunPollsTheFiles checks, on a fake clock, that Run loads changed files
// at the first tick of TLS_RELOAD_INTERVAL after the change, and not before.
func TestFilesRunPollsTheFiles(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		// Issued inside the bubble, so that they are valid on its clock.
		ca := mustCA(t, "gantry.test")
		first, _ := ca.Issue(mustID(t, cartID), time.Hour)
		second, _ := ca.Issue(mustID(t, cartID), time.Hour)
		c, k, a := writePEM(t, dir, first, ca.root)
		s := filesSettings(c, k, a)
		s.ReloadInterval = 30 * time.Second
		src, err := NewFiles(s, "cart")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- src.Run(ctx) }()

		time.Sleep(10 * time.Second)
		writePEM(t, dir, second, ca.root)
		serial := func() *x509.Certificate { cert, _ := src.Certificate(); return cert.Leaf }
		time.Sleep(19 * time.Second) // 29s: before the first tick
		synctest.Wait()
		if got := serial(); !got.Equal(first.Leaf) {
			t.Errorf("Certificate() before the tick = %s, want the first", got.SerialNumber)
		}
		time.Sleep(time.Second) // 30s: the tick
		synctest.Wait()
		if got := serial(); !got.Equal(second.Leaf) {
			t.Errorf("Certificate() after the tick = %s, want the second %s", got.SerialNumber, second.Leaf.SerialNumber)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

// TestFilesRotatesTheBundle replaces the CA: after a reload, the server trusts the
// new bundle alone, so callers with certificates of the new CA get in and callers
// with certificates of the old one are refused.
func TestFilesRotatesTheBundle(t *testing.T) {
	oldCA, newCA := mustCA(t, "gantry.test"), mustCA(t, "gantry.test")
	catalog := mustID(t, "spiffe://gantry.test/ns/default/svc/catalog")
	first, _ := oldCA.Issue(catalog, time.Hour)
	dir := t.TempDir()
	c, k, a := writePEM(t, dir, first, oldCA.root)
	src, err := NewFiles(filesSettings(c, k, a), "catalog")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLS(t, src, http.NotFoundHandler())
	get := func(ca *DevCA) error {
		// The client trusts both CAs, so only the server can refuse.
		cert, _ := ca.Issue(mustID(t, cartID), time.Hour)
		roots := x509.NewCertPool()
		roots.AddCert(oldCA.root)
		roots.AddCert(newCA.root)
		resp, err := newClient(t, newStatic(cert, roots)).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(oldCA); err != nil {
		t.Fatalf("GET with the old CA before the rotation = %v", err)
	}
	second, _ := newCA.Issue(catalog, time.Hour)
	writePEM(t, dir, second, newCA.root)
	if err := src.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := get(newCA); err != nil {
		t.Errorf("GET with the new CA after the rotation = %v, want 404", err)
	}
	if err := get(oldCA); err == nil {
		t.Errorf("GET with the old CA after the rotation succeeded, want a refused handshake")
	}
}
