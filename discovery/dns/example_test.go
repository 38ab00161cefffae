package dns_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gantry-go/gantry/discovery/dns"
)

// staticDNS answers like a Kubernetes headless Service with two ready pods.
type staticDNS struct{}

func (staticDNS) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	return name, []*net.SRV{{Target: "10-0-0-7.payment.default.svc.cluster.local.", Port: 8083}}, nil
}

func (staticDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	switch host {
	case "catalog.default.svc.cluster.local":
		return []net.IPAddr{{IP: net.IPv4(10, 0, 0, 5)}, {IP: net.IPv4(10, 0, 0, 6)}}, nil
	default:
		return []net.IPAddr{{IP: net.IPv4(10, 0, 0, 7)}}, nil
	}
}

func ExampleNewResolver() {
	// In production pass a Client to follow record TTLs, or nil (a *net.Resolver) to
	// resolve again every Interval, and run r.Run(ctx) in the background.
	r, err := dns.NewResolver(staticDNS{}, dns.Settings{
		Targets: "catalog=catalog.default.svc.cluster.local:8081;payment=srv:_http._tcp.payment.default.svc.cluster.local",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range r.Services() {
		_ = r.Refresh(context.Background(), name)
		f, _ := r.Lookup(name)
		for _, in := range f.Snapshot().Instances {
			fmt.Println(name, in.Address)
		}
	}
	// Output:
	// catalog 10.0.0.5:8081
	// catalog 10.0.0.6:8081
	// payment 10.0.0.7:8083
}

func ExampleParseTargets() {
	_, err := dns.ParseTargets("catalog=catalog.default.svc.cluster.local")
	fmt.Println(err)
	// Output:
	// DISCOVERY_DNS: dns: invalid target: service "catalog": "catalog.default.svc.cluster.local": want host:port with a port in 1-65535, or srv:host
}

func ExampleNewResolverTargets() {
	r, err := dns.NewResolverTargets(staticDNS{}, map[string]dns.Target{
		"catalog": {Name: "catalog.default.svc.cluster.local", Port: 8081},
	}, dns.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = r.Refresh(context.Background(), "catalog")
	f, _ := r.Lookup("catalog")
	fmt.Println(len(f.Snapshot().Instances), err)
	// Output:
	// 2 <nil>
}

func ExampleNewClient() {
	// A Client reports record TTLs, so the Resolver re-resolves each name when its
	// answer expires. Here: Consul's DNS interface; "" means /etc/resolv.conf's first
	// nameserver (in Kubernetes, the cluster DNS).
	c := dns.NewClient("127.0.0.1:8600")
	r, err := dns.NewResolver(c, dns.Settings{Targets: "catalog=srv:catalog.service.consul", MaxTTL: 30 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c, r.Services())
	// Output:
	// dns client via 127.0.0.1:8600 [catalog]
}
