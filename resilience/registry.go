package resilience

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// KeyFunc picks the key a per-key policy uses for a request: a client IP, an upstream
// host, a route, a user id. It must not retain r.
type KeyFunc func(r *http.Request) string

// KeyByHost keys by the request's URL host (client side: one breaker per upstream
// host or instance).
func KeyByHost(r *http.Request) string {
	if r.URL != nil && r.URL.Host != "" {
		return r.URL.Host
	}
	return r.Host
}

// KeyByClientIP keys by the host part of the request's RemoteAddr (server side). It
// does not trust forwarding headers; put a proxy-aware KeyFunc in front when needed.
func KeyByClientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
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
	// DefaultMaxKeys bounds every per-key registry. 10,000 keys of a rate limiter take
	// about 1.5 MB.
	DefaultMaxKeys = 10000
	// DefaultIdleTimeout is how long an unused key stays before it may be evicted.
	DefaultIdleTimeout = 10 * time.Minute
)

// evictSample is how many entries an insertion into a full registry inspects.
const evictSample = 16

// keyed is a bounded map from key to policy with idle eviction. Lookups never read
// the clock: they set a "used" bit (the CLOCK approximation of LRU). Insertions into
// a full map sample evictSample entries: an entry used since it was last seen gets a
// fresh timestamp and its bit cleared (a second chance); an entry unused for longer
// than the idle timeout is evicted; when none is, the least recently seen one of the
// sample is. Insertion is therefore O(1) and the map never exceeds max entries.
//
// A one-entry cache of the last hit makes the common single-key case (one upstream
// per client) skip the map. keyed is safe for concurrent use.
type keyed[V any] struct {
	mu      sync.RWMutex
	m       map[string]*slot[V]
	max     int
	idle    int64 // nanoseconds
	newV    func(key string) V
	evicted atomic.Uint64
	last    atomic.Pointer[slot[V]]
}

type slot[V any] struct {
	key  string
	v    V
	used atomic.Bool
	seen atomic.Int64 // unix nanoseconds when the entry was last found used, or created
}

func newKeyed[V any](maxKeys int, idle time.Duration, newV func(string) V) *keyed[V] {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &keyed[V]{m: make(map[string]*slot[V]), max: maxKeys, idle: int64(idle), newV: newV}
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
	if len(k.m) >= k.max {
		k.evictLocked(now)
	}
	s := &slot[V]{key: strings.Clone(key), v: k.newV(key)}
	s.seen.Store(now)
	k.m[s.key] = s
	return s
}

func (k *keyed[V]) evictLocked(now int64) {
	var (
		victim *slot[V]
		n      int
		freed  uint64
	)
	for key, s := range k.m { // map iteration starts at a random entry
		switch {
		case s.used.Load():
			s.used.Store(false)
			s.seen.Store(now)
		case now-s.seen.Load() > k.idle:
			delete(k.m, key)
			freed++
		case victim == nil || s.seen.Load() < victim.seen.Load():
			victim = s
		}
		if n++; n >= evictSample {
			break
		}
	}
	if freed == 0 {
		if victim == nil { // every sampled entry was in use: evict any of them
			for key := range k.m {
				victim = k.m[key]
				break
			}
		}
		delete(k.m, victim.key)
		freed = 1
	}
	k.last.Store(nil)
	k.evicted.Add(freed)
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
