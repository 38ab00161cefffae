package discovery

import (
	"sync"
	"time"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func instances(addrs ...string) []Instance {
	out := make([]Instance, len(addrs))
	for i, a := range addrs {
		out[i] = Instance{ID: a, Address: a}
	}
	return out
}

// feedOf returns a feed of service "svc" holding addrs.
func feedOf(addrs ...string) *Feed {
	f := NewFeed("svc")
	f.Update(Snapshot{Instances: instances(addrs...), Updated: time.Now()})
	return f
}
