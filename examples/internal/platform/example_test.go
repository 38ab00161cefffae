package platform_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
)

// A service's API and its operational endpoints on one mux, behind the server chain.
func ExampleMount() {
	api := http.NewServeMux()
	api.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello\n") })
	checks := health.NewRegistry(health.Settings{})
	logger, _ := platform.NewLogger(io.Discard, "example", platform.Settings{})
	h := platform.ServerChain(logger, observability.Instrumentation{}, platform.Settings{})(platform.Mount(api, platform.Ops{Health: checks}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/hello", "/livez", "/nope"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode)
	}
	// Output:
	// /hello 200
	// /livez 200
	// /nope 404
}

// The -healthcheck mode: probe /readyz on the port of HTTP_ADDR.
func ExampleHealthcheck() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable) // draining
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	err := platform.Healthcheck(context.Background(), ":"+port)
	fmt.Println(err != nil)
	// Output: true
}

// Without CONSUL_HTTP_ADDR, peers come from DISCOVERY_STATIC and nothing registers.
func ExampleNewResolver() {
	s := platform.DiscoverySettings{}
	s.Static.Services = "payment=http://127.0.0.1:8083,http://127.0.0.1:9083"
	c, _ := platform.ConsulClient(s) // nil: no Consul
	reg, _ := platform.NewRegistrar(c, nil, "cart", ":8082", s, nil)
	r, run, _ := platform.NewResolver(c, []string{"payment"}, s, nil, nil)
	feed, _ := r.Lookup("payment")
	fmt.Println(reg == nil, run == nil, len(feed.Snapshot().Instances))
	// Output: true true 2
}
