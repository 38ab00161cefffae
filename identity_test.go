package gantry_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport/identity"
)

// serveMTLS runs api behind NewServer with src as its Identity, under Run, on a
// loopback port, until the test ends. It returns the address.
func serveMTLS(t *testing.T, api http.Handler, src identity.Source, policies ...func(http.Handler) http.Handler) string {
	t.Helper()
	srv, err := gantry.NewServer(api, gantry.ServerSettings{Identity: src}, observability.Instrumentation{}, policies...)
	if err != nil {
		t.Fatal(err)
	}
	srv.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- gantry.Run(ctx, gantry.Options{Servers: []gantry.Server{{Server: srv, Listener: ln}},
			Settings: gantry.Settings{DrainDelay: -1, Timeout: 5 * time.Second}, Signals: make(chan os.Signal)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return ln.Addr().String()
}

// TestMTLSBetweenServices: with Identity set on both sides, a NewClient call reaches
// a NewServer over mutual TLS (HTTP/2), the server's policy sees the caller's SPIFFE
// ID, a rogue instance registered under the service's name with a valid certificate
// for another identity receives no request while every call succeeds, and callers
// without the right certificate or identity are refused.
func TestMTLSBetweenServices(t *testing.T) {
	ca, err := identity.NewDevCA("gantry.test")
	if err != nil {
		t.Fatal(err)
	}
	source := func(svc string) *identity.DevSource {
		t.Helper()
		id, err := identity.NewID("gantry.test", "default", svc)
		if err != nil {
			t.Fatal(err)
		}
		src, err := ca.Source(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /payments", func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		_, _ = io.WriteString(w, id.String())
	})
	policy, err := identity.NewPolicy(map[string][]string{"POST /payments": {"cart"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	real := serveMTLS(t, mux, source("payment"), identity.Authorize(policy, identity.AuthorizeSettings{Mux: mux}))
	var rogueCalls atomic.Int64
	rogue := serveMTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rogueCalls.Add(1)
	}), source("evil"))

	peers := discovery.NewStatic(map[string][]discovery.Instance{
		"payment": {{Address: real}, {Address: rogue}},
	})
	newClient := func(svc string) *gantry.Client {
		t.Helper()
		c, err := gantry.NewClient(svc, peers, gantry.ClientSettings{Identity: source(svc)}, observability.Instrumentation{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	post := func(c *http.Client) (*http.Response, string, error) {
		req, _ := http.NewRequest("POST", "http://payment/payments", strings.NewReader("{}"))
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}

	cart := newClient("cart")
	const calls = 40
	for i := range calls {
		resp, body, err := post(cart.HTTP)
		if err != nil {
			t.Fatalf("call %d from cart = %v, want 200", i, err)
		}
		if resp.StatusCode != http.StatusOK || body != "spiffe://gantry.test/ns/default/svc/cart" {
			t.Fatalf("call %d from cart = %d %q, want 200 and the caller's ID", i, resp.StatusCode, body)
		}
		if resp.ProtoMajor != 2 || resp.TLS == nil {
			t.Fatalf("call %d: %s, TLS %v; want HTTP/2 over TLS", i, resp.Proto, resp.TLS != nil)
		}
	}
	if n := rogueCalls.Load(); n != 0 {
		t.Errorf("the rogue instance registered as payment received %d of %d calls, want 0", n, calls)
	}

	// Another service of the trust domain: verified, but not allowed on the route.
	resp, body, err := post(newClient("catalog").HTTP)
	if err != nil || resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("call from catalog = %v %v %q, want 403 problem+json", resp, err, body)
	}

	// Callers without the trust domain's certificate do not get past the handshake.
	other, err := identity.NewDevCA("gantry.test")
	if err != nil {
		t.Fatal(err)
	}
	cartID, _ := identity.NewID("gantry.test", "default", "cart")
	foreign, err := other.Issue(cartID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*tls.Config{
		"no client certificate":              {RootCAs: ca.Roots()},
		"a certificate from another CA":      {RootCAs: ca.Roots(), Certificates: []tls.Certificate{*foreign}},
		"no certificate, server not checked": {InsecureSkipVerify: true},
	} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
		resp, err := c.Post("https://"+real+"/payments", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: POST = %d, want a failed handshake", name, resp.StatusCode)
		}
	}
	// Plain HTTP to the TLS port gets no API answer.
	if resp, err := http.Post("http://"+real+"/payments", "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP POST to the mTLS port = %d, want 400", resp.StatusCode)
		}
	}

	// The cart's balancer counted the rogue's failed dials (so it is picked less, and
	// ejected after BALANCER_EJECT_AFTER of them in a row): its debug view says so.
	var ejected bool
	b, err := cart.Router.Balancer("payment")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range b.Endpoints() {
		if e.Address == rogue && (e.Ejected || e.Ejections > 0 || e.ConsecutiveFailures > 0) {
			ejected = true
		}
	}
	if !ejected {
		t.Errorf("rogue instance %s never counted as failing by the cart's balancer: %+v", rogue, b.Endpoints())
	}
}
