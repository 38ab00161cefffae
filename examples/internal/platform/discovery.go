package platform

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/hashicorp/consul/api"
	"go.opentelemetry.io/otel/metric"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul"
	"github.com/gantry-go/gantry/discovery/dns"
)

// ConsulClient returns a Consul API client for s.ConsulAddr, or nil when it is empty
// (static discovery).
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

// NewRegistrar returns a Consul registrar for service, listening on httpAddr, with
// readiness from ready; nil when c is nil (no Consul). It advertises
// SERVICE_ADDRESS (host, or host:port overriding httpAddr's port). The registrar is
// both a gantry.Drainer and a gantry.Runner (a registrar in gantry.Options).
func NewRegistrar(c *api.Client, ready consul.Readiness, service, httpAddr string, s DiscoverySettings, logger *slog.Logger) (*consul.Registrar, error) {
	if c == nil {
		return nil, nil
	}
	_, portStr, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return nil, fmt.Errorf("HTTP_ADDR: %w", err)
	}
	host := s.ServiceAddress
	if h, p, err := net.SplitHostPort(s.ServiceAddress); err == nil {
		host, portStr = h, p
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("SERVICE_ADDRESS: port %q: %w", portStr, err)
	}
	return consul.NewRegistrar(c, ready, consul.Registration{Name: service, Address: host, Port: port, Logger: logger})
}

// NewResolver returns the resolver for the services this one calls (upstreams):
// watched in Consul when c is set, else resolved from DNS when DISCOVERY_DNS is set
// (Kubernetes headless Services: one instance per ready pod, re-resolved on the
// answer's TTL), else listed by DISCOVERY_STATIC. A Consul or DNS resolver must run:
// it is returned as a gantry.Runner to put in gantry.Options.Background (nil for
// static discovery).
func NewResolver(c *api.Client, upstreams []string, s DiscoverySettings, mp metric.MeterProvider, logger *slog.Logger) (discovery.Resolver, gantry.Runner, error) {
	if c == nil && s.DNS.Targets != "" {
		ds := s.DNS
		ds.Logger = logger
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
	r, err := consul.NewResolver(c, consul.WatchSettings{Services: upstreams, MeterProvider: mp, Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	return r, r, nil
}
