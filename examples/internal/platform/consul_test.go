package platform_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul/consultest"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport"
)

type always bool

func (a always) Ready() bool { return bool(a) }

// TestConsulRegistrationAndDiscovery runs against a real Consul agent: with
// CONSUL_HTTP_ADDR set, the registrar advertises DISCOVERY_SERVICE_ADDRESS with HTTP_ADDR's
// port, the resolver finds the instance once its TTL check passes, and stopping the
// registrar deregisters it.
func TestConsulRegistrationAndDiscovery(t *testing.T) {
	agent := consultest.Start(t)
	s := platform.DiscoverySettings{ConsulAddr: agent.HTTPAddr()}
	s.Register.Address = "127.0.0.1"
	c, err := platform.ConsulClient(s)
	if err != nil || c == nil {
		t.Fatalf("ConsulClient(%q) = %v, %v", s.ConsulAddr, c, err)
	}
	reg, err := platform.NewRegistrar(c, always(true), "catalog", platform.Settings{Discovery: s,
		Server: gantry.ServerSettings{HTTP: transport.ServerSettings{Addr: ":18081"}}}, observability.Instrumentation{})
	if err != nil {
		t.Fatalf("NewRegistrar() = %v", err)
	}
	resolver, watch, err := platform.NewResolver(c, []string{"catalog"}, s, observability.Instrumentation{})
	if err != nil || watch == nil {
		t.Fatalf("NewResolver(consul) = %v, %v, want a resolver that runs", watch, err)
	}
	feed, err := resolver.Lookup("catalog")
	if err != nil {
		t.Fatal(err)
	}
	found := make(chan discovery.Instance, 1)
	cancelSub := feed.Subscribe(func(snap discovery.Snapshot) {
		if len(snap.Instances) == 1 {
			select {
			case found <- snap.Instances[0]:
			default:
			}
		}
	})
	defer cancelSub()

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = reg.Run(ctx) })
	wg.Go(func() { _ = watch.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	select {
	case in := <-found:
		if in.Address != "http://127.0.0.1:18081" && in.Address != "127.0.0.1:18081" {
			t.Errorf("discovered catalog at %q, want 127.0.0.1:18081", in.Address)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("catalog not discovered through Consul within 20s")
	}
	cancel()
	wg.Wait()
	services, err := c.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range services {
		if svc.Service == "catalog" {
			t.Errorf("catalog still registered after the registrar stopped: %+v", svc)
		}
	}
}
