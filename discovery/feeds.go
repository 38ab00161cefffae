package discovery

import (
	"fmt"
	"slices"
)

// Feeds is a fixed set of feeds by service name, for resolvers that know their
// services when they are built (static lists, Consul watches, DNS targets). Its Lookup
// and Services implement Resolver and Lister. Build it before sharing it; it is
// read-only after that and safe for concurrent use.
type Feeds map[string]*Feed

// Lookup returns the feed of service, or an error wrapping ErrUnknownService.
func (fs Feeds) Lookup(service string) (*Feed, error) {
	f, ok := fs[service]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownService, service)
	}
	return f, nil
}

// Services returns the service names, sorted.
func (fs Feeds) Services() []string {
	out := make([]string, 0, len(fs))
	for n := range fs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
