package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport/identity"
)

// BenchmarkServiceCall is one call from a service to another over loopback TCP on a
// kept-alive connection, through the whole composition on both sides: the client of
// gantry.NewClient (tracing off, retry, breaker, timeouts, propagation, a Router over
// a static resolver) and the server of gantry.NewServer (recover, request id, access
// log off, body limit, deadline), under gantry.Run.
//
//   - impl=nethttp: bare net/http client and server, plaintext HTTP/1.1 (the floor);
//   - impl=plain: Gantry's stacks, plaintext HTTP/1.1;
//   - impl=mtls: Gantry's stacks with ClientSettings.Identity and
//     ServerSettings.Identity (a dev CA): mutual TLS, HTTP/2 as negotiated, the
//     server's identity checked against the service named by the URL, the caller's
//     put on the context, and identity.Authorize with a one-route policy.
//
// mode=serial is one caller; mode=parallel is 16 on 2 cores, where HTTP/1.1 needs a
// connection per concurrent call and HTTP/2 multiplexes them on one. The target is
// mtls/plain <= 1.10: the handshake is paid once per connection.
func BenchmarkServiceCall(b *testing.B) {
	ca, err := identity.NewDevCA("gantry.test")
	if err != nil {
		b.Fatal(err)
	}
	source := func(svc string) identity.Source {
		id, _ := identity.NewID("gantry.test", "default", svc)
		src, err := ca.Source(id, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		return src
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	policy, err := identity.NewPolicy(map[string][]string{"GET /items/{id}": {"cart"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	none := observability.Instrumentation{}

	// serve runs srv under gantry.Run until the benchmark ends and returns its address.
	serve := func(b *testing.B, srv *http.Server) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- gantry.Run(ctx, gantry.Options{Servers: []gantry.Server{{Server: srv, Listener: ln}},
				Settings: gantry.Settings{DrainDelay: -1, Timeout: 5 * time.Second}, Signals: make(chan os.Signal)})
		}()
		b.Cleanup(func() { cancel(); <-done })
		return ln.Addr().String()
	}
	call := func(b *testing.B, c *http.Client, url string, parallel bool) {
		b.ReportAllocs()
		if parallel {
			b.SetParallelism(8) // 16 callers on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			return
		}
		for b.Loop() {
			resp, err := c.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("GET = %d", resp.StatusCode)
			}
		}
	}
	gantryPair := func(b *testing.B, tls bool) (*http.Client, string) {
		ss := gantry.ServerSettings{}
		cs := gantry.ClientSettings{}
		var policies []func(http.Handler) http.Handler
		if tls {
			ss.Identity, cs.Identity = source("catalog"), source("cart")
			policies = append(policies, identity.Authorize(policy, identity.AuthorizeSettings{Mux: mux}))
		}
		srv, err := gantry.NewServer(mux, ss, none, policies...)
		if err != nil {
			b.Fatal(err)
		}
		addr := serve(b, srv)
		c, err := gantry.NewClient("cart", discovery.NewStatic(map[string][]discovery.Instance{"catalog": {{Address: addr}}}), cs, none)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		return c.HTTP, "http://catalog/items/7"
	}

	for _, mode := range []string{"serial", "parallel"} {
		parallel := mode == "parallel"
		b.Run("mode="+mode+"/impl=nethttp", func(b *testing.B) {
			addr := serve(b, &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second})
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			b.Cleanup(tr.CloseIdleConnections)
			call(b, &http.Client{Transport: tr}, "http://"+addr+"/items/7", parallel)
		})
		b.Run("mode="+mode+"/impl=plain", func(b *testing.B) {
			c, url := gantryPair(b, false)
			call(b, c, url, parallel)
		})
		b.Run("mode="+mode+"/impl=mtls", func(b *testing.B) {
			c, url := gantryPair(b, true)
			call(b, c, url, parallel)
		})
	}
}
