package identity

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// BenchmarkRequest is one GET on a kept-alive connection: mTLS through
// NewTransport and ServerConfig (impl=gantry, HTTP/2 as negotiated) against
// plaintext HTTP/1.1 through net/http (impl=nethttp).
func BenchmarkRequest(b *testing.B) {
	ca := mustCA(b, "gantry.test")
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	run := func(b *testing.B, client *http.Client, url string) {
		ctx := WithService(context.Background(), "catalog")
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("impl=gantry", func(b *testing.B) {
		srv := startTLS(b, mustSource(b, ca, "spiffe://gantry.test/ns/default/svc/catalog", time.Hour), Peer()(ok))
		run(b, newClient(b, mustSource(b, ca, cartID, time.Hour)), srv.URL)
	})
	b.Run("impl=nethttp", func(b *testing.B) {
		srv := httptest.NewServer(ok)
		b.Cleanup(srv.Close)
		tr := transport.NewRoundTripper(transport.ClientSettings{})
		b.Cleanup(tr.CloseIdleConnections)
		run(b, &http.Client{Transport: tr}, srv.URL)
	})
}

// BenchmarkHandshake is full mTLS handshakes (TLS 1.3, no resumption) over
// loopback TCP against a server configured by ServerConfig over a Source
// (impl=gantry) and by a bare crypto/tls config with the same static certificate
// and bundle (impl=crypto-tls). The client is the same bare one for both.
func BenchmarkHandshake(b *testing.B) {
	ca := mustCA(b, "gantry.test")
	serverCert, _ := ca.Issue(mustID(b, "spiffe://gantry.test/ns/default/svc/catalog"), time.Hour)
	clientCert, _ := ca.Issue(mustID(b, cartID), time.Hour)
	client := &tls.Config{Certificates: []tls.Certificate{*clientCert}, InsecureSkipVerify: true} //nolint:gosec // the client is not measured
	for _, impl := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"impl=gantry", ServerConfig(newStatic(serverCert, ca.Roots()))},
		{"impl=crypto-tls", &tls.Config{Certificates: []tls.Certificate{*serverCert}, ClientCAs: ca.Roots(),
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}},
	} {
		b.Run(impl.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					tc := tls.Server(c, impl.cfg)
					_ = tc.Handshake()
					_ = tc.Close()
				}
			}()
			b.ReportAllocs()
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				c, err := tls.Dial("tcp", ln.Addr().String(), client)
				if err != nil {
					b.Fatal(err)
				}
				// TLS 1.3: the server's verdict on our certificate arrives with its
				// first record; read until it closes.
				_, _ = c.Read(make([]byte, 1))
				_ = c.Close()
				took = append(took, time.Since(start))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
			_ = ln.Close()
			<-done
		})
	}
}

// BenchmarkAuthorize is one allowed request through Authorize with a Policy
// (impl=gantry) against the bare handler (impl=bare).
func BenchmarkAuthorize(b *testing.B) {
	ca := mustCA(b, "gantry.test")
	policy, _ := NewPolicy(map[string][]string{"GET /items/{id}": {"cart"}}, nil)
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	r := withCaller(b, ca, "GET", "/items/7", cartID)
	r.Pattern = "GET /items/{id}"
	w := &discardWriter{h: http.Header{}}
	// In a gantry.NewServer chain the policy runs before the mux has routed: the
	// route is looked up in AuthorizeSettings.Mux (impl=gantry-mux, against the same
	// lookup done by hand, impl=bare-mux).
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", ok)
	unrouted := withCaller(b, ca, "GET", "/items/7", cartID)
	bareMux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = mux.Handler(r); ok(w, r) })
	for _, c := range []struct {
		name string
		h    http.Handler
		r    *http.Request
	}{
		{"impl=gantry", Authorize(policy, AuthorizeSettings{})(ok), r},
		{"impl=bare", ok, r},
		{"impl=gantry-mux", Authorize(policy, AuthorizeSettings{Mux: mux})(ok), unrouted},
		{"impl=bare-mux", bareMux, unrouted},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, c.r)
			}
		})
	}
}
