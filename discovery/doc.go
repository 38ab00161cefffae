// Package discovery provides service discovery and client-side load balancing:
// resolvers that map a service name to a live set of instances (static config, an
// in-memory registry, and, in sub-packages, Consul and DNS), a Balancer (round robin or
// power-of-two-choices on peak-EWMA latency and in-flight load) with outlier ejection
// and slow start, and a Router, an http.RoundTripper that sends
// http://<service-name>/path requests to a balanced instance.
//
// Every resolver publishes into a Feed. A Feed holds the current Snapshot of one
// service, notifies Balancers when it changes, and also satisfies go-kit's
// sd.Instancer, so sd.NewEndpointer and go-kit's lb package work on top of any
// resolver.
//
// The request path never touches the registry: a pick reads the Balancer's current
// set of usable endpoints without a lock, an allocation or I/O. Outcomes are
// classified by transport.Classify, the taxonomy the breaker and retry policies share.
//
// In a client chain the Router sits innermost, below retry and breaker (the gantry
// package's ExampleNewClient shows the whole order), so that each retry attempt is
// balanced again and, when another instance exists, goes to a different one (see
// RememberAttempts).
package discovery
