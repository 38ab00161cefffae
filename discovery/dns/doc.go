// Package dns provides a discovery.Resolver over DNS: A/AAAA records with a
// configured port, or SRV records with their own ports, resolved again and again
// while the Resolver runs. It lets the same services run without Consul, for example
// on Kubernetes headless Services (catalog.default.svc.cluster.local, or
// _http._tcp.catalog.default.svc.cluster.local for SRV), or against Consul's DNS
// interface (catalog.service.consul).
//
// How soon a name is resolved again depends on the Lookuper given to NewResolver:
//
//   - A Client, this package's stub client, reads record TTLs: a name is resolved
//     again when its answer expires, after its smallest TTL raised to 1s (a TTL of 0
//     included) and cut to Settings.MaxTTL (DISCOVERY_DNS_MAX_TTL).
//   - A *net.Resolver (net.DefaultResolver, or nil for a new one), or any Lookuper that
//     is not a TTLResolver, does not expose TTLs: a name is resolved again every
//     Settings.Interval (DISCOVERY_DNS_INTERVAL), and MaxTTL has no effect.
//
// With either, a failed lookup is retried Settings.Interval later, and meanwhile the
// feed keeps the last good set with the error attached (stale-if-error).
package dns
