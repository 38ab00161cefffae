package discovery

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Sentinel errors of the discovery package.
var (
	// ErrUnknownService is returned when a resolver has no such service.
	ErrUnknownService = errors.New("discovery: unknown service")
	// ErrNoInstances is returned by a pick when a service has no usable instance.
	ErrNoInstances = errors.New("discovery: no instances available")
	// ErrInvalidStatic is returned by ParseStatic for a malformed DISCOVERY_STATIC value.
	ErrInvalidStatic = errors.New("discovery: invalid static service list")
)

// Instance is one reachable copy of a service.
type Instance struct {
	// ID identifies the instance within its service. Resolvers that have no ID use
	// the Address.
	ID string `json:"id"`
	// Address is host:port, with IPv6 hosts in brackets.
	Address string `json:"address"`
	// Scheme is "http" or "https". Empty means keep the request's scheme.
	Scheme string `json:"scheme,omitempty"`
	// Tags and Meta are copied from the registry, if it has any.
	Tags []string          `json:"tags,omitempty"`
	Meta map[string]string `json:"meta,omitempty"`
}

// key returns the identity the Balancer uses to keep per-instance statistics across
// updates.
func (i Instance) key() string {
	if i.ID != "" {
		return i.ID
	}
	return i.Address
}

// Snapshot is the state of one service as its resolver last saw it. A Snapshot is a
// value; its Instances slice is shared and must not be modified.
type Snapshot struct {
	// Service is the service name.
	Service string `json:"service"`
	// Instances is the usable set, sorted by ID.
	Instances []Instance `json:"instances"`
	// Err is the error of the last refresh. When it is non-nil, Instances is the last
	// good set (stale-if-error).
	Err error `json:"-"`
	// Index is the registry's change index (Consul's X-Consul-Index), 0 if none.
	Index uint64 `json:"index"`
	// Updated is when the resolver last refreshed successfully. Zero means never.
	Updated time.Time `json:"updated"`
}

// sortInstances sorts a set by ID, then address, so that snapshots compare equal
// regardless of the registry's order.
func sortInstances(in []Instance) {
	slices.SortFunc(in, func(a, b Instance) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Address, b.Address)
	})
}

// SameInstances reports whether a and b hold the same instances (ID, address,
// scheme, tags and meta), in order.
func SameInstances(a, b []Instance) bool {
	return slices.EqualFunc(a, b, func(x, y Instance) bool {
		if x.ID != y.ID || x.Address != y.Address || x.Scheme != y.Scheme || !slices.Equal(x.Tags, y.Tags) || len(x.Meta) != len(y.Meta) {
			return false
		}
		for k, v := range x.Meta {
			if w, ok := y.Meta[k]; !ok || w != v {
				return false
			}
		}
		return true
	})
}
