package platform_test

import (
	"context"
	"fmt"
	"maps"
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

// TestRegistrarAdvertisesAdminPort runs against a real Consul agent: the instance a
// resolver discovers carries admin_port (where Prometheus scrapes /metrics) as
// ADMIN_ADDR's port, its default 9090 without one, or as DISCOVERY_SERVICE_META sets
// it; other metadata stays, and the settings' map is left as it was.
func TestRegistrarAdvertisesAdminPort(t *testing.T) {
	agent := consultest.Start(t)
	for i, tc := range []struct {
		name      string
		adminAddr string
		meta      map[string]string
		want      map[string]string
	}{
		{"default ADMIN_ADDR", "", nil, map[string]string{"admin_port": "9090"}},
		{"ADMIN_ADDR's port, other metadata kept", "127.0.0.1:19091", map[string]string{"zone": "a"},
			map[string]string{"admin_port": "19091", "zone": "a"}},
		{"DISCOVERY_SERVICE_META wins", ":19091", map[string]string{"admin_port": "7000"}, map[string]string{"admin_port": "7000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			service := fmt.Sprintf("svc%d", i)
			s := platform.DiscoverySettings{ConsulAddr: agent.HTTPAddr()}
			s.Register.Address = "127.0.0.1"
			s.Register.Meta = maps.Clone(tc.meta)
			c, err := platform.ConsulClient(s)
			if err != nil {
				t.Fatal(err)
			}
			reg, err := platform.NewRegistrar(c, always(true), service, platform.Settings{Discovery: s,
				Server: gantry.ServerSettings{HTTP: transport.ServerSettings{Addr: ":18081"}},
				Admin:  gantry.AdminSettings{Addr: tc.adminAddr}}, observability.Instrumentation{})
			if err != nil {
				t.Fatalf("NewRegistrar() = %v", err)
			}
			if !maps.Equal(s.Register.Meta, tc.meta) {
				t.Errorf("NewRegistrar changed DISCOVERY_SERVICE_META's map to %v, want %v", s.Register.Meta, tc.meta)
			}
			resolver, watch, err := platform.NewResolver(c, []string{service}, s, observability.Instrumentation{})
			if err != nil {
				t.Fatal(err)
			}
			feed, err := resolver.Lookup(service)
			if err != nil {
				t.Fatal(err)
			}
			found := make(chan discovery.Instance, 1)
			defer feed.Subscribe(func(snap discovery.Snapshot) {
				if len(snap.Instances) == 1 {
					select {
					case found <- snap.Instances[0]:
					default:
					}
				}
			})()
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			wg.Go(func() { _ = reg.Run(ctx) })
			wg.Go(func() { _ = watch.Run(ctx) })
			defer func() { cancel(); wg.Wait() }()
			select {
			case in := <-found:
				if !maps.Equal(in.Meta, tc.want) {
					t.Errorf("discovered %s with metadata %v, want %v", service, in.Meta, tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s not discovered through Consul within 20s", service)
			}
		})
	}
}
