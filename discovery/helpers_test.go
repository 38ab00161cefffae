package discovery

import "time"

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
