package dns

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/internal/consultest"
)

// Against a real DNS server: Consul's DNS interface on its loopback port answers A
// and SRV queries for registered, passing services.
func TestResolverAgainstConsulDNS(t *testing.T) {
	agent := consultest.Start(t)
	c := agent.Client()
	var servers []*httptest.Server
	for i := range 2 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "web-%d", i)
		}))
		defer srv.Close()
		servers = append(servers, srv)
		_, p, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
		port, _ := strconv.Atoi(p)
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: fmt.Sprintf("web-%d", i), Name: "web", Address: "127.0.0.1", Port: port}); err != nil {
			t.Fatal(err)
		}
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: fmt.Sprintf("api-%d", i), Name: "api", Address: fmt.Sprintf("127.0.0.%d", i+2), Port: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var d net.Dialer
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, agent.DNSAddr())
	}}
	r, err := NewResolver(nr, Settings{Targets: "web=srv:web.service.consul;api=api.service.consul:8080"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range r.Services() {
		if err := r.Refresh(context.Background(), name); err != nil {
			t.Fatalf("Refresh(%s) = %v", name, err)
		}
	}

	api, _ := r.Lookup("api")
	if s := api.Snapshot(); s.Err != nil || !cmp.Equal(addrs(s), []string{"127.0.0.2:8080", "127.0.0.3:8080"}) {
		t.Errorf("api from A records = %v (err %v), want 127.0.0.2:8080 and 127.0.0.3:8080", addrs(s), s.Err)
	}
	web, _ := r.Lookup("web")
	var want []string
	for _, s := range servers {
		want = append(want, strings.TrimPrefix(s.URL, "http://"))
	}
	if s := web.Snapshot(); s.Err != nil || len(s.Instances) != 2 {
		t.Fatalf("web from SRV records = %v (err %v), want %v", addrs(s), s.Err, want)
	}

	// The resolved set drives the resolving RoundTripper.
	tr := discovery.NewRouter(r, nil, discovery.BalancerSettings{Policy: discovery.PolicyRoundRobin})
	defer tr.Close()
	hc := &http.Client{Transport: tr}
	seen := map[string]bool{}
	for range 4 {
		resp, err := hc.Get("http://web/")
		if err != nil {
			t.Fatalf("GET http://web/ error = %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen[string(b)] = true
	}
	if !seen["web-0"] || !seen["web-1"] {
		t.Errorf("GET http://web/ via SRV reached %v, want web-0 and web-1", seen)
	}
}
