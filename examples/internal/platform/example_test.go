package platform_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/observability"
)

// The -healthcheck mode: probe /readyz on the port of ADMIN_ADDR.
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
	reg, _ := platform.NewRegistrar(c, nil, "cart", platform.Settings{Discovery: s}, observability.Instrumentation{})
	r, run, _ := platform.NewResolver(c, []string{"payment"}, s, observability.Instrumentation{})
	feed, _ := r.Lookup("payment")
	fmt.Println(reg == nil, run == nil, len(feed.Snapshot().Instances))
	// Output: true true 2
}
