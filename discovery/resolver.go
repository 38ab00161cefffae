package discovery

// Resolver maps a service name to the Feed that tracks its instances. Static,
// Memory, consul.Resolver and dns.Resolver implement it.
//
// Lookup must be cheap and must not do I/O: resolvers that talk to a registry do so
// in their own Run method and publish into the feed. An unknown service yields an
// error wrapping ErrUnknownService.
type Resolver interface {
	Lookup(service string) (*Feed, error)
}

// Lister is implemented by resolvers that can list the services they track. The
// debug handler uses it to show services no request has touched yet.
type Lister interface {
	Services() []string
}
