// Package dns provides a discovery.Resolver over DNS: A/AAAA records with a
// configured port, or SRV records with their own ports, re-resolved on an interval.
// It lets the same services run without Consul, for example on Kubernetes headless
// Services (catalog.default.svc.cluster.local, or
// _http._tcp.catalog.default.svc.cluster.local for SRV), or against Consul's DNS
// interface (catalog.service.consul).
//
// Go's resolver does not expose record TTLs, so records are re-resolved every
// Settings.Interval (default 5s, Kubernetes DNS's own TTL). A failed lookup keeps the
// last good set with the error attached (stale-if-error).
package dns
