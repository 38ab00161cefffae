package resilience

import (
	"context"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	"golang.org/x/time/rate"

	"github.com/gantry-go/gantry/config"
)

// RateLimitSettings configures a RateLimiter: a global token bucket and a per-key
// one, both golang.org/x/time/rate limiters. The zero value limits nothing. It is a
// plain value, read once at construction.
type RateLimitSettings struct {
	// Rate is the global rate in requests per second. Default 0: no global limit.
	Rate float64 `env:"RATELIMIT_RATE"`
	// Burst is the global bucket size. Default 0: max(1, Rate), one second of
	// traffic.
	Burst int `env:"RATELIMIT_BURST"`
	// KeyRate is the rate per key (client IP, header, user) in requests per second.
	// Default 0: no per-key limit.
	KeyRate float64 `env:"RATELIMIT_KEY_RATE"`
	// KeyBurst is the per-key bucket size. Default 0: max(1, KeyRate).
	KeyBurst int `env:"RATELIMIT_KEY_BURST"`
	// MaxKeys bounds the number of per-key limiters held. Default 10000.
	MaxKeys int `env:"RATELIMIT_MAX_KEYS"`
	// IdleTimeout is how long an unused key's limiter is kept. Default 10m; a full
	// bucket after that long, so evicting it changes nothing for rates above 1/600s.
	IdleTimeout time.Duration `env:"RATELIMIT_IDLE_TIMEOUT"`
	// CloseAfter is how many per-key rejections in a row a key may get before each
	// further 429 of Server also carries Connection: close, so a client that keeps
	// pushing past its limit has to dial again (where connection caps such as
	// transport.LimitListener meet it). The count restarts when an allowed call leaves
	// the key's bucket a token (the client slowed to its rate). Rejections by the
	// global bucket never count. Default 0: never close.
	CloseAfter int `env:"RATELIMIT_CLOSE_AFTER"`
}

// Validate reports settings that cannot work, naming their environment variables.
func (s RateLimitSettings) Validate() error {
	var errs []error
	if s.Rate < 0 || math.IsNaN(s.Rate) {
		errs = append(errs, config.Invalid("RATELIMIT_RATE", "must not be negative, got %v", s.Rate))
	}
	if s.KeyRate < 0 || math.IsNaN(s.KeyRate) {
		errs = append(errs, config.Invalid("RATELIMIT_KEY_RATE", "must not be negative, got %v", s.KeyRate))
	}
	if s.Burst < 0 {
		errs = append(errs, config.Invalid("RATELIMIT_BURST", "must not be negative, got %v", s.Burst))
	}
	if s.KeyBurst < 0 {
		errs = append(errs, config.Invalid("RATELIMIT_KEY_BURST", "must not be negative, got %v", s.KeyBurst))
	}
	if s.MaxKeys < 0 {
		errs = append(errs, config.Invalid("RATELIMIT_MAX_KEYS", "must not be negative, got %v", s.MaxKeys))
	}
	if s.CloseAfter < 0 {
		errs = append(errs, config.Invalid("RATELIMIT_CLOSE_AFTER", "must not be negative, got %v", s.CloseAfter))
	}
	return errors.Join(errs...)
}

func burstFor(r float64, b int) int {
	if b > 0 {
		return b
	}
	return max(1, int(math.Ceil(r)))
}

// LimiterState is a rate limiter's snapshot for the debug handler. It is a plain
// value.
type LimiterState struct {
	Name     string  `json:"name"`
	Rate     float64 `json:"rate,omitempty"`
	Burst    int     `json:"burst,omitempty"`
	Tokens   float64 `json:"tokens,omitempty"`
	KeyRate  float64 `json:"key_rate,omitempty"`
	KeyBurst int     `json:"key_burst,omitempty"`
	Keys     int     `json:"keys"`
	Evicted  uint64  `json:"evicted"`
	Rejected uint64  `json:"rejected"`
	// Closed counts the 429s that asked the client to close its connection
	// (RateLimitSettings.CloseAfter).
	Closed uint64 `json:"closed,omitempty"`
}

// RateLimiter limits calls with a global token bucket and one bucket per key, over
// golang.org/x/time/rate. Server and endpoint adapters reject at once with 429 and a
// Retry-After computed from the limiter; the client adapter waits for a token within
// the request's deadline and fails fast with ErrRateLimited when the wait would pass
// it. Per-key limiters are evicted after IdleTimeout or, beyond MaxKeys, by sampled LRU,
// so memory stays bounded. With CloseAfter set, Server asks a key that keeps pushing
// past its limit to close its connection.
//
// A RateLimiter is safe for concurrent use.
type RateLimiter struct {
	name     string
	s        RateLimitSettings
	global   *rate.Limiter
	rate     float64 // s.Rate, read without the limiter's lock (limits never change)
	keyRate  float64
	keys     *keyed[*keyBucket]
	key      KeyFunc
	reply    *reply
	rejects  rejectCounter
	rejected atomic.Uint64
	closeAt  int64 // s.CloseAfter; 0 never closes
	closes   rejectCounter
	closed   atomic.Uint64
}

// keyBucket is one key's limiter and its count of rejections in a row.
type keyBucket struct {
	lim     *rate.Limiter
	strikes atomic.Int64
}

// limiter returns b's limiter, nil for a nil b.
func (b *keyBucket) limiter() *rate.Limiter {
	if b == nil {
		return nil
	}
	return b.lim
}

// NewRateLimiter returns a limiter. key picks the per-key bucket; nil means
// KeyByClientIP. It is only used when s.KeyRate > 0.
func NewRateLimiter(name string, s RateLimitSettings, key KeyFunc, t observability.Instrumentation) *RateLimiter {
	l := &RateLimiter{name: name, s: s, key: key, reply: newReply(ErrRateLimited), rejects: newRejectCounter(t, "ratelimit", name),
		closeAt: int64(s.CloseAfter), closes: newCloseCounter(t, name)}
	if l.key == nil {
		l.key = KeyByClientIP
	}
	l.rate, l.keyRate = s.Rate, s.KeyRate
	if s.Rate > 0 {
		l.global = rate.NewLimiter(rate.Limit(s.Rate), burstFor(s.Rate, s.Burst))
	}
	if s.KeyRate > 0 {
		lim, b := rate.Limit(s.KeyRate), burstFor(s.KeyRate, s.KeyBurst)
		l.keys = newKeyed(s.MaxKeys, s.IdleTimeout, func(string) *keyBucket { return &keyBucket{lim: rate.NewLimiter(lim, b)} })
	}
	return l
}

// limiterFor returns the per-key bucket of r, or nil.
func (l *RateLimiter) limiterFor(r *http.Request, now time.Time) *keyBucket {
	if l.keys == nil {
		return nil
	}
	if r == nil {
		return l.keys.get("") // Allow(nil): the one bucket of calls without a request
	}
	return l.keys.get(l.key(r))
}

// wait is the time until lim, whose rate is r, has a token again, computed from the
// limiter. For rates of at least one per second it is at most one second, which is
// also the smallest Retry-After, so no second look at the limiter (and its lock) is
// needed.
func wait(lim *rate.Limiter, r float64, now time.Time) time.Duration {
	if r >= 1 {
		return time.Second
	}
	need := 1 - lim.TokensAt(now)
	if need <= 0 || r <= 0 {
		return time.Second
	}
	return time.Duration(need / r * float64(time.Second))
}

// allow takes a token from r's key bucket and from the global bucket. It returns 0
// when allowed, else the wait before a token is available and whether the client
// should close its connection (CloseAfter).
func (l *RateLimiter) allow(r *http.Request) (time.Duration, bool, bool) {
	now := time.Now()
	return l.take(l.limiterFor(r, now), now)
}

// take takes a token from b, the call's key bucket (nil without a per-key limit),
// and from the global bucket. It returns 0 when allowed, else the wait before a token
// is available and whether the key has been rejected more than CloseAfter times in a
// row.
func (l *RateLimiter) take(b *keyBucket, now time.Time) (time.Duration, bool, bool) {
	if b != nil {
		if !b.lim.AllowN(now, 1) {
			n := b.strikes.Add(1)
			return wait(b.lim, l.keyRate, now), false, l.closeAt > 0 && n > l.closeAt
		}
		// Only a key that was rejected pays for the second look at its limiter.
		if b.strikes.Load() != 0 && b.lim.TokensAt(now) >= 1 {
			b.strikes.Store(0)
		}
	}
	if l.global != nil && !l.global.AllowN(now, 1) {
		return wait(l.global, l.rate, now), false, false
	}
	return 0, true, false
}

// Allow reports whether a call for r may proceed now, consuming a token. r is only
// used for its key; a nil r takes from the per-key bucket of the key "", as Endpoint
// does without a request.
func (l *RateLimiter) Allow(r *http.Request) bool {
	_, ok, _ := l.allow(r)
	if !ok {
		l.rejected.Add(1)
	}
	return ok
}

// Server returns server middleware that answers 429 problem+json with Retry-After
// when the request's key or the global bucket is empty. Past CloseAfter rejections of
// a key in a row, the 429 also carries Connection: close, and net/http closes the
// connection after it (counted as resilience.ratelimit.closes). Rejections use a
// prebuilt body and allocate nothing.
func (l *RateLimiter) Server() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d, ok, closeConn := l.allow(r); !ok {
				l.rejected.Add(1)
				l.rejects.add(r.Context())
				if closeConn {
					w.Header()["Connection"] = l.reply.close
					l.closed.Add(1)
					l.closes.add(r.Context())
				}
				l.reply.write(w, d)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// waitToken blocks until lim (rate r) has a token, within ctx's deadline.
func (l *RateLimiter) waitToken(ctx context.Context, lim *rate.Limiter, r float64, now time.Time) error {
	if lim == nil || lim.AllowN(now, 1) {
		return nil
	}
	if err := lim.Wait(ctx); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		l.rejected.Add(1)
		l.rejects.add(ctx)
		return reject(ErrRateLimited, wait(lim, r, time.Now()))
	}
	return nil
}

// Client returns client middleware that waits for a token (per key, by default the
// URL host, then global) as long as the request's context deadline allows. When the
// wait would pass the deadline it returns a *RejectedError wrapping ErrRateLimited at
// once, without waiting; when the context ends first it returns the context's error.
func (l *RateLimiter) Client() func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			now := time.Now()
			ctx := req.Context()
			if err := l.waitToken(ctx, l.limiterFor(req, now).limiter(), l.keyRate, now); err != nil {
				return nil, err
			}
			if err := l.waitToken(ctx, l.global, l.rate, now); err != nil {
				return nil, err
			}
			return next.RoundTrip(req)
		})
	}
}

// Endpoint returns go-kit middleware that rejects at once with ErrRateLimited
// (wrapped in a *RejectedError with the wait) when the call's key bucket or the
// global bucket is empty, as Server does (and like go-kit's
// ratelimit.NewErroringLimiter for the global one). The call's key is the limiter's
// KeyFunc applied to the *http.Request that ContextWithRequest put in the context
// (kithttp.ServerBefore(ContextWithRequest)); calls whose context carries no request
// all share the key "", so the per-key limit still applies to them.
func (l *RateLimiter) Endpoint() endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			var b *keyBucket
			if l.keys != nil {
				b = l.keys.get(keyOf(ctx, l.key))
			}
			if d, ok, _ := l.take(b, time.Now()); !ok {
				l.rejected.Add(1)
				l.rejects.add(ctx)
				return nil, reject(ErrRateLimited, d)
			}
			return next(ctx, request)
		}
	}
}

// Len returns the number of per-key limiters held.
func (l *RateLimiter) size() int {
	if l.keys == nil {
		return 0
	}
	return l.keys.len()
}

// snapshot returns the limiter's configuration and counters.
func (l *RateLimiter) snapshot() LimiterState {
	st := LimiterState{Name: l.name, Rejected: l.rejected.Load(), Closed: l.closed.Load()}
	if l.global != nil {
		st.Rate, st.Burst, st.Tokens = float64(l.global.Limit()), l.global.Burst(), l.global.Tokens()
	}
	if l.keys != nil {
		st.KeyRate, st.KeyBurst = l.s.KeyRate, burstFor(l.s.KeyRate, l.s.KeyBurst)
		st.Keys, st.Evicted = l.keys.len(), l.keys.evicted.Load()
	}
	return st
}
