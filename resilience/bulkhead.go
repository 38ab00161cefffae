package resilience

import (
	"context"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/gantry-go/gantry/config"
)

// Default values of BulkheadSettings, used for zero fields (MaxKeys and IdleTimeout
// take defaultMaxKeys and defaultIdleTimeout, shared by every keyed policy).
const (
	defaultMaxConcurrent = 1024
	defaultMaxQueue      = 1024
	defaultQueueTimeout  = 100 * time.Millisecond
)

// BulkheadSettings configures a Bulkhead. The zero value gives the defaults below.
// It is a plain value, read once at construction.
type BulkheadSettings struct {
	// MaxConcurrent is the number of calls that may run at once per key. Default 1024.
	MaxConcurrent int `env:"BULKHEAD_MAX_CONCURRENT"`
	// MaxQueue is the number of calls that may wait for a slot per key. Default 1024.
	// Negative means no queue: reject at once when full.
	MaxQueue int `env:"BULKHEAD_MAX_QUEUE"`
	// QueueTimeout is how long a call waits in the queue before it is rejected (it
	// also stops waiting when its context ends). Default 100ms: a queued call should
	// fail well inside a typical 1-2 s deadline so that the caller can still retry.
	QueueTimeout time.Duration `env:"BULKHEAD_QUEUE_TIMEOUT"`
	// MaxKeys bounds the number of per-key compartments. Default 10000.
	MaxKeys int `env:"BULKHEAD_MAX_KEYS"`
	// IdleTimeout is how long an unused compartment is kept. Default 10m. A
	// compartment is only evicted while idle in the sense of unused; calls holding
	// one of its slots keep their own reference.
	IdleTimeout time.Duration `env:"BULKHEAD_IDLE_TIMEOUT"`
}

// Validate reports settings that cannot work, naming their environment variables.
func (s BulkheadSettings) Validate() error {
	var errs []error
	if s.MaxConcurrent < 0 {
		errs = append(errs, config.Invalid("BULKHEAD_MAX_CONCURRENT", "must not be negative, got %v", s.MaxConcurrent))
	}
	if s.QueueTimeout < 0 {
		errs = append(errs, config.Invalid("BULKHEAD_QUEUE_TIMEOUT", "must not be negative, got %v", s.QueueTimeout))
	}
	if s.MaxKeys < 0 {
		errs = append(errs, config.Invalid("BULKHEAD_MAX_KEYS", "must not be negative, got %v", s.MaxKeys))
	}
	return errors.Join(errs...)
}

func (s BulkheadSettings) withDefaults() BulkheadSettings {
	if s.MaxConcurrent == 0 {
		s.MaxConcurrent = defaultMaxConcurrent
	}
	if s.MaxQueue == 0 {
		s.MaxQueue = defaultMaxQueue
	}
	if s.MaxQueue < 0 {
		s.MaxQueue = 0
	}
	if s.QueueTimeout == 0 {
		s.QueueTimeout = defaultQueueTimeout
	}
	return s
}

// compartment is one key's slots: a semaphore plus a bounded queue.
type compartment struct {
	sem      chan struct{}
	queued   atomic.Int64
	rejected atomic.Uint64
}

func (c *compartment) acquire(ctx context.Context, s *BulkheadSettings) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	default:
	}
	if c.queued.Add(1) > int64(s.MaxQueue) {
		c.queued.Add(-1)
		c.rejected.Add(1)
		return ErrBulkheadFull
	}
	defer c.queued.Add(-1)
	t := time.NewTimer(s.QueueTimeout)
	defer t.Stop()
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-t.C:
		c.rejected.Add(1)
		return ErrBulkheadFull
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *compartment) release() { <-c.sem }

// BulkheadState is a bulkhead compartment's snapshot for the debug handler. It is a
// plain value.
type BulkheadState struct {
	Name     string `json:"name"`
	Key      string `json:"key,omitempty"`
	InFlight int    `json:"in_flight"`
	Queued   int64  `json:"queued"`
	Max      int    `json:"max_concurrent"`
	MaxQueue int    `json:"max_queue"`
	Rejected uint64 `json:"rejected"`
}

// Bulkhead limits the number of concurrent calls per key (or overall, with a nil
// KeyFunc), with a bounded queue and a queue timeout, so that one slow dependency or
// one noisy client cannot take every goroutine and connection. A full bulkhead
// rejects with ErrBulkheadFull: 503 with Retry-After over HTTP.
//
// A Bulkhead is safe for concurrent use.
type Bulkhead struct {
	name    string
	s       BulkheadSettings
	single  *compartment
	keys    *keyed[*compartment]
	key     KeyFunc
	reply   *reply
	rejects rejectCounter
}

// NewBulkhead returns a bulkhead; key nil means one compartment for every call.
func NewBulkhead(name string, s BulkheadSettings, key KeyFunc, t observability.Instrumentation) *Bulkhead {
	s = s.withDefaults()
	b := &Bulkhead{name: name, s: s, key: key, reply: newReply(ErrBulkheadFull), rejects: newRejectCounter(t, "bulkhead", name)}
	newC := func(string) *compartment { return &compartment{sem: make(chan struct{}, s.MaxConcurrent)} }
	if key == nil {
		b.single = newC("")
	} else {
		b.keys = newKeyed(s.MaxKeys, s.IdleTimeout, newC)
	}
	return b
}

// get returns the compartment for key (the only one when the bulkhead has no KeyFunc).
func (b *Bulkhead) get(key string) *compartment {
	if b.single != nil {
		return b.single
	}
	return b.keys.get(key)
}

func (b *Bulkhead) compartmentFor(r *http.Request) *compartment {
	if b.single != nil {
		return b.single
	}
	return b.get(b.key(r))
}

// Do runs fn in the bulkhead's compartment for key. It returns ErrBulkheadFull
// (wrapped in a *RejectedError) when the compartment and its queue are full or the
// queue timeout passed, or ctx's error when ctx ended while queued.
func (b *Bulkhead) Do(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	c := b.get(key)
	if err := c.acquire(ctx, &b.s); err != nil {
		return b.wrap(ctx, err)
	}
	defer c.release()
	return fn(ctx)
}

func (b *Bulkhead) wrap(ctx context.Context, err error) error {
	if err == ErrBulkheadFull {
		b.rejects.add(ctx)
		return reject(ErrBulkheadFull, time.Second)
	}
	return err
}

// Server returns server middleware that answers 503 problem+json with Retry-After
// when the request's compartment is full.
func (b *Bulkhead) Server() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := b.compartmentFor(r)
			if err := c.acquire(r.Context(), &b.s); err != nil {
				b.rejects.add(r.Context())
				b.reply.write(w, time.Second)
				return
			}
			defer c.release()
			next.ServeHTTP(w, r)
		})
	}
}

// Client returns client middleware; a full compartment returns ErrBulkheadFull in a
// *RejectedError. The slot is held until the round trip returns (not until the body
// is read).
func (b *Bulkhead) Client() func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			c := b.compartmentFor(req)
			if err := c.acquire(req.Context(), &b.s); err != nil {
				return nil, b.wrap(req.Context(), err)
			}
			defer c.release()
			return next.RoundTrip(req)
		})
	}
}

// Endpoint returns go-kit middleware that runs each call in its compartment, as
// Server does; a full compartment returns ErrBulkheadFull in a *RejectedError. With
// a KeyFunc, the compartment is that of the key the KeyFunc gives for the
// *http.Request that ContextWithRequest put in the context
// (kithttp.ServerBefore(ContextWithRequest)); calls whose context carries no request
// all share the compartment keyed "".
func (b *Bulkhead) Endpoint() endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			c := b.single
			if c == nil {
				c = b.keys.get(keyOf(ctx, b.key))
			}
			if err := c.acquire(ctx, &b.s); err != nil {
				return nil, b.wrap(ctx, err)
			}
			defer c.release()
			return next(ctx, request)
		}
	}
}

// Len returns the number of compartments held.
func (b *Bulkhead) size() int {
	if b.single != nil {
		return 1
	}
	return b.keys.len()
}

// snapshot returns every compartment's state.
func (b *Bulkhead) snapshot() []BulkheadState {
	st := func(key string, c *compartment) BulkheadState {
		return BulkheadState{Name: b.name, Key: key, InFlight: len(c.sem), Queued: c.queued.Load(),
			Max: b.s.MaxConcurrent, MaxQueue: b.s.MaxQueue, Rejected: c.rejected.Load()}
	}
	if b.single != nil {
		return []BulkheadState{st("", b.single)}
	}
	var out []BulkheadState
	b.keys.each(func(k string, c *compartment) { out = append(out, st(k, c)) })
	return out
}
