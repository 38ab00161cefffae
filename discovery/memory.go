package discovery

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// Memory is an in-process service registry and Resolver: Register and Deregister
// change a service's instance set and publish it to the service's Feed at once. It
// lets an embedded demo, where all services run in one process, and unit tests work
// without Consul. The zero value is not usable; call NewMemory. It is safe for
// concurrent use.
type Memory struct {
	mu        sync.Mutex
	feeds     map[string]*Feed
	instances map[string]map[string]Instance
}

var _ Resolver = (*Memory)(nil)

// NewMemory returns an empty registry.
func NewMemory() *Memory {
	return &Memory{feeds: map[string]*Feed{}, instances: map[string]map[string]Instance{}}
}

// Register adds or replaces the instance in with in's ID (or address, if the ID is
// empty) in service.
func (m *Memory) Register(service string, in Instance) {
	if in.ID == "" {
		in.ID = in.Address
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.instances[service] == nil {
		m.instances[service] = map[string]Instance{}
	}
	m.instances[service][in.ID] = in
	m.publish(service)
}

// Deregister removes the instance with id from service. Unknown ids are ignored.
func (m *Memory) Deregister(service, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.instances[service], id)
	m.publish(service)
}

// Lookup returns the feed of service. Unlike Static, a Memory registry knows every
// service: one with no instances yet has an empty feed that fills when an instance
// registers.
func (m *Memory) Lookup(service string) (*Feed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.feed(service), nil
}

// Services returns the names of the services looked up or registered, sorted.
func (m *Memory) Services() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.feeds))
}

func (m *Memory) feed(service string) *Feed {
	f, ok := m.feeds[service]
	if !ok {
		f = NewFeed(service)
		m.feeds[service] = f
	}
	return f
}

func (m *Memory) publish(service string) {
	ins := slices.Collect(maps.Values(m.instances[service]))
	m.feed(service).Update(Snapshot{Instances: ins, Updated: time.Now()})
}

// MemoryRegistrar registers one instance in a Memory registry for as long as its Run
// runs, the in-process counterpart of consul.Registrar: gantry.Run can drive either.
// Drain removes the instance from resolution at once; Run's end removes it too. It is
// safe for concurrent use.
type MemoryRegistrar struct {
	m       *Memory
	service string
	in      Instance
}

// Registrar returns a MemoryRegistrar for in under service.
func (m *Memory) Registrar(service string, in Instance) *MemoryRegistrar {
	if in.ID == "" {
		in.ID = in.Address
	}
	return &MemoryRegistrar{m: m, service: service, in: in}
}

// Run registers the instance, waits for ctx to end, deregisters it and returns nil.
func (r *MemoryRegistrar) Run(ctx context.Context) error {
	r.m.Register(r.service, r.in)
	<-ctx.Done()
	r.m.Deregister(r.service, r.in.ID)
	return nil
}

// Drain deregisters the instance so that balancers stop picking it.
func (r *MemoryRegistrar) Drain(context.Context) error {
	r.m.Deregister(r.service, r.in.ID)
	return nil
}
