package resilience

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// KeyFunc picks the key a per-key policy uses for a request: a client IP, an upstream
// host, a route, a user id. It must not retain r and must be safe for concurrent use.
type KeyFunc func(r *http.Request) string

// KeyByHost keys by the request's URL host (client side: one breaker per upstream
// host or instance).
func KeyByHost(r *http.Request) string {
	if r.URL != nil && r.URL.Host != "" {
		return r.URL.Host
	}
	return r.Host
}

// KeyByPattern keys by the ServeMux pattern that matched the request (one policy per
// route). It is empty outside a ServeMux.
func KeyByPattern(r *http.Request) string { return r.Pattern }

// KeyByHeader keys by the value of header name (for example an API key header).
func KeyByHeader(name string) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) string {
		if v := r.Header[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// Defaults of the per-key registries.
const (
	// defaultMaxKeys bounds every per-key registry. 10,000 keys of a rate limiter take
	// about 1.5 MB.
	defaultMaxKeys = 10000
	// defaultIdleTimeout is how long an unused key stays before it may be evicted.
	defaultIdleTimeout = 10 * time.Minute
)

// evictProbes bounds how many entries one eviction inspects.
const evictProbes = 16

// keyed is a bounded map from key to policy with idle eviction. Lookups never read
// the clock: they set a "used" bit. Two mechanisms bound it:
//
//   - Idle eviction: an insertion at least IdleTimeout/2 after the previous sweep
//     sweeps the whole map (amortised O(1) per insertion), deleting entries found
//     unused for longer than IdleTimeout and clearing the bits of the others. An
//     entry is thus evicted between IdleTimeout and twice that after its last use,
//     provided new keys keep arriving (without them the map does not grow).
//   - Capacity: an insertion into a full map evicts one entry by the CLOCK algorithm
//     (second chance): it probes from a random entry, clearing used bits, and evicts
//     the first entry not used since its bit was last cleared (or the last probed one
//     after evictProbes). The map never exceeds max entries.
//
// A one-entry cache of the last hit makes the common single-key case (one upstream
// per client) skip the map. keyed is safe for concurrent use.
type keyed[V any] struct {
	mu        sync.RWMutex
	m         map[string]*slot[V]
	max       int
	idle      int64 // nanoseconds
	lastSweep int64 // unix nanoseconds, under mu
	newV      func(key string) V
	evicted   atomic.Uint64
	last      atomic.Pointer[slot[V]]
}

type slot[V any] struct {
	key  string
	v    V
	used atomic.Bool
	seen int64 // unix nanoseconds when the entry was last found used; under mu
}

func newKeyed[V any](maxKeys int, idle time.Duration, newV func(string) V) *keyed[V] {
	if maxKeys <= 0 {
		maxKeys = defaultMaxKeys
	}
	if idle <= 0 {
		idle = defaultIdleTimeout
	}
	return &keyed[V]{m: make(map[string]*slot[V]), max: maxKeys, idle: int64(idle), newV: newV,
		lastSweep: time.Now().UnixNano()}
}

func (s *slot[V]) touch() {
	if !s.used.Load() {
		s.used.Store(true)
	}
}

// get returns the policy for key, creating it when missing.
func (k *keyed[V]) get(key string) V {
	if s := k.last.Load(); s != nil && s.key == key {
		s.touch()
		return s.v
	}
	k.mu.RLock()
	s := k.m[key]
	k.mu.RUnlock()
	if s == nil {
		s = k.insert(key)
	}
	s.touch()
	k.last.Store(s)
	return s.v
}

func (k *keyed[V]) insert(key string) *slot[V] {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s := k.m[key]; s != nil {
		return s
	}
	now := time.Now().UnixNano()
	if now-k.lastSweep > k.idle/2 {
		k.sweepLocked(now)
	}
	if len(k.m) >= k.max {
		k.evictLocked()
	}
	s := &slot[V]{key: strings.Clone(key), v: k.newV(key), seen: now}
	k.m[s.key] = s
	return s
}

// sweepLocked deletes the entries unused for longer than the idle timeout.
func (k *keyed[V]) sweepLocked(now int64) {
	k.lastSweep = now
	var freed uint64
	for key, s := range k.m {
		switch {
		case s.used.Load():
			s.used.Store(false)
			s.seen = now
		case now-s.seen > k.idle:
			delete(k.m, key)
			freed++
		}
	}
	if freed > 0 {
		k.last.Store(nil)
		k.evicted.Add(freed)
	}
}

// evictLocked evicts one entry (CLOCK, from a random start).
func (k *keyed[V]) evictLocked() {
	var victim *slot[V]
	n := 0
	for _, s := range k.m { // map iteration starts at a random entry
		victim = s
		if !s.used.Load() {
			break
		}
		s.used.Store(false)
		if n++; n >= evictProbes {
			break
		}
	}
	if victim == nil {
		return
	}
	delete(k.m, victim.key)
	// A concurrent get may still cache the evicted slot for a moment; it is then
	// served outside the map until another key is used, which bounds memory by one.
	k.last.Store(nil)
	k.evicted.Add(1)
}

// len returns the number of keys held.
func (k *keyed[V]) len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.m)
}

// each calls f for every entry, under the read lock; f must not call back into k.
func (k *keyed[V]) each(f func(key string, v V)) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for key, s := range k.m {
		f(key, s.v)
	}
}
