package platform

import (
	"fmt"
	"maps"
	"net"
	"strconv"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul"
	"github.com/gantry-go/gantry/discovery/dns"
	"github.com/gantry-go/gantry/observability"
)

// ConsulClient returns a Consul API client for s.ConsulAddr, or nil when it is empty
// (DNS or static discovery).
func ConsulClient(s DiscoverySettings) (*api.Client, error) {
	if s.ConsulAddr == "" {
		return nil, nil
	}
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = s.ConsulAddr
	cfg.Token = s.ConsulToken
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("CONSUL_HTTP_ADDR: %w", err)
	}
	return c, nil
}

// NewRegistrar returns the Consul registrar of service, with readiness from ready;
// nil when c is nil (no Consul). It registers s.Discovery.Register, whose name
// defaults to service and whose port defaults to HTTP_ADDR's; its metadata gets
// admin_port (ADMIN_ADDR's port, where Prometheus scrapes /metrics) unless
// DISCOVERY_SERVICE_META sets one. An HTTP check (DISCOVERY_CHECK=http) polls /readyz
// on the admin port unless DISCOVERY_CHECK_URL says otherwise. The registrar is a
// gantry Registrar and a Drainer.
func NewRegistrar(c *api.Client, ready consul.Readiness, service string, s Settings, inst observability.Instrumentation) (*consul.Registrar, error) {
	if c == nil {
		return nil, nil
	}
	r := s.Discovery.Register
	if r.Name == "" {
		r.Name = service
	}
	if r.Port == 0 {
		port, err := portOf(s.Server.HTTP.Addr, ":8080")
		if err != nil {
			return nil, fmt.Errorf("HTTP_ADDR: %w", err)
		}
		r.Port = port
	}
	adminPort, err := portOf(s.Admin.Addr, ":9090")
	if err != nil {
		return nil, fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	if _, ok := r.Meta["admin_port"]; !ok {
		r.Meta = maps.Clone(r.Meta)
		if r.Meta == nil {
			r.Meta = map[string]string{}
		}
		r.Meta["admin_port"] = strconv.Itoa(adminPort)
	}
	if r.Check == consul.CheckHTTP && r.CheckURL == "" {
		host := r.Address
		if host == "" {
			host = "127.0.0.1"
		}
		r.CheckURL = "http://" + net.JoinHostPort(host, strconv.Itoa(adminPort)) + "/readyz"
	}
	r.Logger = inst.Logger
	return consul.NewRegistrar(c, ready, r)
}

// portOf returns the port of a listen address, def's when addr is empty.
func portOf(addr, def string) (int, error) {
	if addr == "" {
		addr = def
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

// NewResolver returns the resolver for the services this one calls (upstreams):
// watched in Consul when c is set (DISCOVERY_CONSUL_*; the services default to
// upstreams), else resolved from DNS when DISCOVERY_DNS is set (Kubernetes headless
// Services: one instance per ready pod, re-resolved every DISCOVERY_DNS_INTERVAL),
// else listed by DISCOVERY_STATIC. A Consul or DNS resolver must run: it is returned
// as a Runner to list in gantry.Options.Components (nil for static discovery).
func NewResolver(c *api.Client, upstreams []string, s DiscoverySettings, inst observability.Instrumentation) (discovery.Resolver, gantry.Runner, error) {
	if c == nil && s.DNS.Targets != "" {
		ds := s.DNS
		ds.Logger = inst.Logger
		r, err := dns.NewResolver(net.DefaultResolver, ds)
		if err != nil {
			return nil, nil, err
		}
		return r, r, nil
	}
	if c == nil {
		services, err := discovery.ParseStatic(s.Static.Services)
		if err != nil {
			return nil, nil, err
		}
		return discovery.NewStatic(services), nil, nil
	}
	w := s.Watch
	if len(w.Services) == 0 {
		w.Services = upstreams
	}
	w.MeterProvider, w.Logger = inst.MeterProvider, inst.Logger
	r, err := consul.NewResolver(c, w)
	if err != nil {
		return nil, nil, err
	}
	return r, r, nil
}
