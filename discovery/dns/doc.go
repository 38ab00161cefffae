// Package dns provides a discovery.Resolver over DNS: A/AAAA records with a
// configured port, or SRV records with their own ports, re-resolved on an interval.
// It lets the same services run without Consul, for example on Kubernetes headless
// Services (catalog.default.svc.cluster.local, or
// _http._tcp.catalog.default.svc.cluster.local for SRV), or against Consul's DNS
// interface (catalog.service.consul).
//
// With a Client (a small stub client on golang.org/x/net/dns/dnsmessage that reports
// record TTLs), each name is resolved again when its answer expires, within [1s,
// Settings.MaxTTL]. With a *net.Resolver, which does not expose TTLs, names are
// re-resolved every Settings.Interval (default 5s, Kubernetes DNS's own TTL). A
// failed lookup keeps the last good set with the error attached (stale-if-error).
package dns
