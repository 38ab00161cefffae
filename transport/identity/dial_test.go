package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTransportVerifiesTheIntendedService dials servers with valid certificates of
// the trust domain: only the one that proves the service named by WithService gets
// the request.
func TestTransportVerifiesTheIntendedService(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	const catalog = "spiffe://gantry.test/ns/default/svc/catalog"
	real := startTLS(t, mustSource(t, ca, catalog, time.Hour), callerHandler())
	rogue := startTLS(t, mustSource(t, ca, "spiffe://gantry.test/ns/default/svc/payment", time.Hour), callerHandler())
	// Servers that accept any client, so that only the client's checks refuse them.
	foreignCert, _ := mustCA(t, "gantry.test").Issue(mustID(t, catalog), time.Hour)
	foreign := bareServer(t, foreignCert)
	expired := bareServer(t, signed(t, ca, catalog, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	}))
	clientOnly := bareServer(t, signed(t, ca, catalog, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}))
	client := newClient(t, mustSource(t, ca, "spiffe://gantry.test/ns/default/svc/cart", time.Hour))

	tests := []struct {
		name    string
		url     string
		service string
		wrong   bool // want ErrWrongIdentity
		fail    bool // want another error
	}{
		{"the intended service", real.URL, "catalog", false, false},
		{"no service named", rogue.URL, "", false, false},
		{"a rogue server with another identity", rogue.URL, "catalog", true, false},
		{"a server from another CA", foreign.URL, "catalog", false, true},
		{"a server with an expired certificate", expired.URL, "catalog", false, true},
		{"a server certificate not for server auth", clientOnly.URL, "catalog", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := WithService(context.Background(), tt.service)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tt.url+"/x", nil)
			resp, err := client.Do(req)
			switch {
			case tt.wrong:
				var we *WrongIdentityError
				if !errors.Is(err, ErrWrongIdentity) || !errors.As(err, &we) {
					t.Fatalf("Do = %v, want ErrWrongIdentity", err)
				}
				if we.Want != "catalog" || we.Got.String() != "spiffe://gantry.test/ns/default/svc/payment" {
					t.Errorf("WrongIdentityError = %+v, want catalog and the payment ID", we)
				}
			case tt.fail:
				if err == nil || !strings.Contains(err.Error(), "x509: ") {
					t.Fatalf("Do = %v, want a failed verification", err)
				}
			default:
				if err != nil {
					t.Fatalf("Do = %v, want 200", err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != "spiffe://gantry.test/ns/default/svc/cart" {
					t.Errorf("Do = %d %q, want 200 and the caller's ID", resp.StatusCode, body)
				}
				if resp.ProtoMajor != 2 {
					t.Errorf("Do: protocol %s, want HTTP/2", resp.Proto)
				}
			}
		})
	}
}

// bareServer serves with a plain crypto/tls config that asks for no client
// certificate.
func bareServer(t *testing.T, cert *tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestTransportNamesTheServiceFromTheHost: without WithService, a request whose Host
// is a bare service name (as discovery.Router leaves it after picking an instance)
// is checked against that name, and an http:// URL is sent over TLS.
func TestTransportNamesTheServiceFromTheHost(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	real := startTLS(t, mustSource(t, ca, "spiffe://gantry.test/ns/default/svc/catalog", time.Hour), callerHandler())
	rogue := startTLS(t, mustSource(t, ca, "spiffe://gantry.test/ns/default/svc/payment", time.Hour), callerHandler())
	client := newClient(t, mustSource(t, ca, "spiffe://gantry.test/ns/default/svc/cart", time.Hour))
	plain := func(u string) string { return "http://" + strings.TrimPrefix(u, "https://") + "/x" }
	do := func(ctx context.Context, url, host string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Host = host
		return client.Do(req)
	}

	resp, err := do(context.Background(), plain(real.URL), "catalog")
	if err != nil {
		t.Fatalf("GET http://<catalog's address> with Host catalog = %v, want 200 over TLS", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("GET with Host catalog = %d, TLS %v; want 200 over TLS", resp.StatusCode, resp.TLS != nil)
	}
	if _, err := do(context.Background(), plain(rogue.URL), "catalog"); !errors.Is(err, ErrWrongIdentity) {
		t.Errorf("GET the payment server with Host catalog = %v, want ErrWrongIdentity", err)
	}
	// WithService wins over the Host; an empty name removes the check.
	if _, err := do(WithService(context.Background(), "catalog"), plain(rogue.URL), "payment"); !errors.Is(err, ErrWrongIdentity) {
		t.Errorf("GET the payment server named catalog by WithService = %v, want ErrWrongIdentity", err)
	}
	if resp, err := do(WithService(context.Background(), ""), plain(rogue.URL), "catalog"); err != nil {
		t.Errorf("GET with WithService(\"\") = %v, want no identity check", err)
	} else {
		resp.Body.Close()
	}
	// An address in the Host is checked against the trust bundle only.
	if resp, err := do(context.Background(), rogue.URL+"/x", ""); err != nil {
		t.Errorf("GET %s = %v, want 200 (no service named)", rogue.URL, err)
	} else {
		resp.Body.Close()
	}
}
