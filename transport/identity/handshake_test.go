package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// signed returns a certificate for id signed by ca after edit changed its template:
// certificates that ca.Issue would never make.
func signed(t *testing.T, ca *DevCA, id string, edit func(*x509.Certificate)) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		URIs:         []*url.URL{mustID(t, id).url()},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestServerRefusesCallers calls a server that allows only the cart service on GET
// /items, with callers a server must refuse at the handshake or with 403.
func TestServerRefusesCallers(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	other := mustCA(t, "gantry.test")
	const cart = "spiffe://gantry.test/ns/default/svc/cart"
	policy, err := NewPolicy(map[string][]string{"GET /items": {"cart"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /items", callerHandler())
	srv := httptest.NewUnstartedServer(Peer()(Authorize(policy, AuthorizeSettings{Mux: mux})(mux)))
	srv.TLS = ServerConfig(mustSource(t, ca, "spiffe://gantry.test/ns/default/svc/catalog", time.Hour))
	srv.EnableHTTP2 = true
	errs := make(chan string, 16) // the server's handshake errors
	srv.Config.ErrorLog = log.New(lineWriter(errs), "", 0)
	srv.StartTLS()
	defer srv.Close()

	tests := []struct {
		name   string
		cert   *tls.Certificate // nil: no client certificate at all
		status int              // 0: the handshake must fail
		reason string           // in the server's handshake error
	}{
		{"allowed caller", signed(t, ca, cart, nil), http.StatusOK, ""},
		{"no certificate", nil, 0, "didn't provide a certificate"},
		{"expired certificate", signed(t, ca, cart, func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		}), 0, "expired"},
		{"certificate from another CA", signed(t, other, cart, nil), 0, "unknown authority"},
		{"not valid for client auth", signed(t, ca, cart, func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}), 0, "incompatible key usage"},
		{"no URI SAN", signed(t, ca, cart, func(c *x509.Certificate) { c.URIs = nil }), 0, "0 URI SANs"},
		{"two URI SANs", signed(t, ca, cart, func(c *x509.Certificate) {
			c.URIs = append(c.URIs, mustID(t, "spiffe://gantry.test/ns/default/svc/payment").url())
		}), 0, "2 URI SANs"},
		{"another trust domain", signed(t, ca, "spiffe://evil.test/ns/default/svc/cart", nil), 0, "another trust domain"},
		{"wrong identity", signed(t, ca, "spiffe://gantry.test/ns/default/svc/payment", nil), http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr interface {
				http.RoundTripper
				CloseIdleConnections()
			}
			if tt.status == 0 {
				// A bare client that presents whatever it has, so that the refusal
				// can only come from the server.
				cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the server is not under test
				if tt.cert != nil {
					cfg.Certificates = []tls.Certificate{*tt.cert}
				}
				tr = &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
			} else {
				tr = NewTransport(newStatic(tt.cert, ca.Roots()), transport.ClientSettings{})
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/items")
			if tt.status == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("GET /items = %d, want a failed handshake", resp.StatusCode)
				}
				select {
				case line := <-errs:
					if !strings.Contains(line, tt.reason) {
						t.Errorf("server handshake error = %q, want it to say %q", line, tt.reason)
					}
				case <-time.After(10 * time.Second):
					t.Errorf("the server logged no handshake error; client error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET /items: %v, want %d", err, tt.status)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("GET /items = %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); tt.status == http.StatusForbidden && ct != transport.ContentTypeProblem {
				t.Errorf("403 Content-Type = %q, want %q", ct, transport.ContentTypeProblem)
			}
			if tt.status == http.StatusOK && string(body) != cart {
				t.Errorf("FromContext in the handler = %q, want %q", body, cart)
			}
		})
	}
}

// lineWriter sends each write (one log line) to ch, dropping it when ch is full.
type lineWriter chan<- string

func (w lineWriter) Write(b []byte) (int, error) {
	select {
	case w <- string(b):
	default:
	}
	return len(b), nil
}
