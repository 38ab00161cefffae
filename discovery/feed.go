package discovery

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-kit/kit/sd"
)

// Feed holds the current Snapshot of one service and fans every change out to its
// subscribers: Balancers (Subscribe) and go-kit endpointers (Register). Resolvers
// publish into it with Update; nothing else writes to it.
//
// Feed implements go-kit's sd.Instancer. Like go-kit's own instancers it sends the
// current state to a channel as soon as the channel is registered, and every later
// change to all registered channels. Event.Instances holds instance addresses
// (host:port). An Event with a non-nil Err still carries the last good set.
//
// A Feed is safe for concurrent use.
type Feed struct {
	snap atomic.Pointer[Snapshot]

	mu      sync.Mutex // serialises Update and notification; guards the fields below
	subs    map[int]func(Snapshot)
	nextSub int
	chans   map[chan<- sd.Event]struct{}
}

var _ sd.Instancer = (*Feed)(nil)

// NewFeed returns a Feed for service with an empty snapshot.
func NewFeed(service string) *Feed {
	f := &Feed{subs: map[int]func(Snapshot){}, chans: map[chan<- sd.Event]struct{}{}}
	f.snap.Store(&Snapshot{Service: service})
	return f
}

// Service returns the name of the service the feed describes.
func (f *Feed) Service() string { return f.snap.Load().Service }

// Snapshot returns the current state. It is cheap: one atomic load and a copy.
func (f *Feed) Snapshot() Snapshot { return *f.snap.Load() }

// Update publishes s as the current state and notifies subscribers synchronously,
// in the order updates were made. s.Service is set to the feed's service and
// s.Instances is sorted; the feed takes ownership of the slice.
func (f *Feed) Update(s Snapshot) {
	s.Service = f.Service()
	sortInstances(s.Instances)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap.Store(&s)
	for _, id := range sortedKeys(f.subs) {
		f.subs[id](s)
	}
	if len(f.chans) > 0 {
		ev := event(s)
		for ch := range f.chans {
			ch <- ev
		}
	}
}

// Subscribe calls fn with the current snapshot at once and then after every Update,
// until cancel is called. fn runs synchronously inside Update and must not call back
// into the Feed.
func (f *Feed) Subscribe(fn func(Snapshot)) (cancel func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextSub
	f.nextSub++
	f.subs[id] = fn
	fn(*f.snap.Load())
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

// Register implements sd.Instancer: it sends the current state to ch at once, and
// every later change until Deregister.
func (f *Feed) Register(ch chan<- sd.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chans[ch] = struct{}{}
	ch <- event(*f.snap.Load())
}

// Deregister implements sd.Instancer.
func (f *Feed) Deregister(ch chan<- sd.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.chans, ch)
}

// Stop implements sd.Instancer. The feed's resolver owns its lifetime (its Run
// method), so Stop only drops the registered go-kit channels.
func (f *Feed) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.chans)
}

func event(s Snapshot) sd.Event {
	ev := sd.Event{Instances: make([]string, len(s.Instances)), Err: s.Err}
	for i, in := range s.Instances {
		ev.Instances[i] = in.Address
	}
	return ev
}

func sortedKeys(m map[int]func(Snapshot)) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
