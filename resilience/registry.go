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

// evictSample is how many entries an insertion into a full registry inspects: it
// evicts every idle one among them, else the least recently used of them (the sampled
// LRU that Redis uses), which keeps insertion O(1).
const evictSample = 16

// keyed is a bounded map from key to policy with idle eviction. It is safe for
// concurrent use: lookups take a read lock, insertions a write lock.
type keyed[V any] struct {
	mu      sync.RWMutex
	m       map[string]*slot[V]
	max     int
	idle    int64 // nanoseconds
	newV    func(key string) V
	evicted atomic.Uint64
}

type slot[V any] struct {
	v    V
	last atomic.Int64 // unix nanoseconds of the last use, at 1 ms resolution
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

// get returns the policy for key, creating it when missing. now is unix nanoseconds.
func (k *keyed[V]) get(key string, now int64) V {
	k.mu.RLock()
	s := k.m[key]
	k.mu.RUnlock()
	if s != nil {
		if now-s.last.Load() > int64(time.Millisecond) {
			s.last.Store(now)
		}
		return s.v
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if s = k.m[key]; s == nil {
		if len(k.m) >= k.max {
			k.evictLocked(now)
		}
		s = &slot[V]{v: k.newV(key)}
		k.m[strings.Clone(key)] = s
	}
	s.last.Store(now)
	return s.v
}

func (k *keyed[V]) evictLocked(now int64) {
	var (
		oldestKey string
		oldest    int64 = 1<<63 - 1
		n, freed  int
	)
	for key, s := range k.m { // map iteration starts at a random entry
		last := s.last.Load()
		if now-last > k.idle {
			delete(k.m, key)
			freed++
		} else if last < oldest {
			oldest, oldestKey = last, key
		}
		if n++; n >= evictSample {
			break
		}
	}
	if freed == 0 && n > 0 {
		delete(k.m, oldestKey)
		freed = 1
	}
	k.evicted.Add(uint64(freed))
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
