package resilience

import (
	"context"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/internal/httpx"
	"github.com/gantry-go/gantry/transport"
)

// Default values of BreakerSettings, used for zero fields (MaxKeys and IdleTimeout
// take defaultMaxKeys and defaultIdleTimeout, shared by every keyed policy).
const (
	defaultConsecutiveFailures = 5
	defaultFailureRatio        = 0.5
	defaultMinRequests         = 20
	defaultWindow              = 10 * time.Second
	defaultBucket              = time.Second
	defaultOpenTimeout         = 5 * time.Second
	defaultHalfOpenProbes      = 3
)

// BreakerSettings configures a circuit breaker. The zero value gives the defaults
// below (docs/resilience.md says where they come from). It is a plain value, read
// once at construction.
type BreakerSettings struct {
	// ConsecutiveFailures trips the breaker on exactly this many failures in a row.
	// Default 5.
	ConsecutiveFailures uint32 `env:"BREAKER_CONSECUTIVE_FAILURES"`
	// FailureRatio also trips the breaker when at least this share of the calls in
	// the rolling Window failed, once MinRequests calls were counted. Default 0.5.
	FailureRatio float64 `env:"BREAKER_FAILURE_RATIO"`
	// MinRequests is the number of counted calls in the Window before FailureRatio
	// applies. Default 20.
	MinRequests uint32 `env:"BREAKER_MIN_REQUESTS"`
	// Window is the rolling window of the ratio rule. Default 10s.
	Window time.Duration `env:"BREAKER_WINDOW"`
	// Bucket is the step by which the window rolls (gobreaker's BucketPeriod).
	// Default 1s.
	Bucket time.Duration `env:"BREAKER_BUCKET"`
	// OpenTimeout is how long the breaker stays open before letting probes through.
	// Default 5s.
	OpenTimeout time.Duration `env:"BREAKER_OPEN_TIMEOUT"`
	// HalfOpenProbes is how many calls may pass while half-open; this many successes
	// in a row close the breaker, and any failure reopens it. Default 3.
	HalfOpenProbes uint32 `env:"BREAKER_HALF_OPEN_PROBES"`
	// MaxKeys bounds the number of breakers a BreakerSet holds. Default 10000.
	MaxKeys int `env:"BREAKER_MAX_KEYS"`
	// IdleTimeout is how long an unused breaker of a BreakerSet is kept. Default 10m.
	IdleTimeout time.Duration `env:"BREAKER_IDLE_TIMEOUT"`
}

func (s BreakerSettings) withDefaults() BreakerSettings {
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = defaultConsecutiveFailures
	}
	if s.FailureRatio == 0 {
		s.FailureRatio = defaultFailureRatio
	}
	if s.MinRequests == 0 {
		s.MinRequests = defaultMinRequests
	}
	if s.Window <= 0 {
		s.Window = defaultWindow
	}
	if s.Bucket <= 0 {
		s.Bucket = defaultBucket
	}
	if s.Bucket > s.Window {
		s.Bucket = s.Window
	}
	if s.OpenTimeout <= 0 {
		s.OpenTimeout = defaultOpenTimeout
	}
	if s.HalfOpenProbes == 0 {
		s.HalfOpenProbes = defaultHalfOpenProbes
	}
	if s.MaxKeys <= 0 {
		s.MaxKeys = defaultMaxKeys
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = defaultIdleTimeout
	}
	return s
}

// Validate reports settings that cannot work, naming their environment variables.
func (s BreakerSettings) Validate() error {
	var errs []error
	if s.FailureRatio < 0 || s.FailureRatio > 1 {
		errs = append(errs, config.Invalid("BREAKER_FAILURE_RATIO", "must be within [0, 1], got %v", s.FailureRatio))
	}
	if s.Window < 0 {
		errs = append(errs, config.Invalid("BREAKER_WINDOW", "must not be negative, got %v", s.Window))
	}
	if s.Bucket < 0 {
		errs = append(errs, config.Invalid("BREAKER_BUCKET", "must not be negative, got %v", s.Bucket))
	}
	if s.OpenTimeout < 0 {
		errs = append(errs, config.Invalid("BREAKER_OPEN_TIMEOUT", "must not be negative, got %v", s.OpenTimeout))
	}
	if s.MaxKeys < 0 {
		errs = append(errs, config.Invalid("BREAKER_MAX_KEYS", "must not be negative, got %v", s.MaxKeys))
	}
	return errors.Join(errs...)
}

// outcomeErr carries a non-success outcome into gobreaker, whose IsExcluded and
// IsSuccessful then apply the shared taxonomy. Being a byte-sized value, converting it
// to error does not allocate.
type outcomeErr transport.Outcome

func (o outcomeErr) Error() string { return "resilience: " + transport.Outcome(o).String() }

// BreakerState is a breaker's snapshot for the debug handler. It is a plain value.
type BreakerState struct {
	Name                 string `json:"name"`
	State                string `json:"state"`
	Requests             uint32 `json:"requests"`
	Successes            uint32 `json:"successes"`
	Failures             uint32 `json:"failures"`
	Exclusions           uint32 `json:"exclusions"`
	ConsecutiveSuccesses uint32 `json:"consecutive_successes"`
	ConsecutiveFailures  uint32 `json:"consecutive_failures"`
	Opens                uint64 `json:"opens"`
	Rejected             uint64 `json:"rejected"`
	// HalfOpenInMs is, while the breaker is open, how long until it lets probes
	// through (BREAKER_OPEN_TIMEOUT after it opened); 0 otherwise.
	HalfOpenInMs float64 `json:"half_open_in_ms,omitempty"`
}

// breakerShared is what the breakers of one BreakerSet share.
type breakerShared struct {
	settings BreakerSettings
	meter    metric.Meter // nil without a MeterProvider
	reply    *reply
	recs     sync.Pool
	events   handoff
	log      *slog.Logger
	changes  metric.Int64Counter
	rejects  rejectCounter
}

func newBreakerShared(name string, s BreakerSettings, t observability.Instrumentation) *breakerShared {
	sh := &breakerShared{settings: s.withDefaults(), reply: newReply(ErrOpen), log: t.Logger}
	sh.recs.New = func() any { return new(httpx.Recorder) }
	if t.MeterProvider != nil {
		sh.meter = meterOf(t)
		sh.changes, _ = sh.meter.Int64Counter("resilience.breaker.transitions",
			metric.WithDescription("Circuit breaker state changes."), metric.WithUnit("{transition}"))
	}
	sh.rejects = newRejectCounter(t, "breaker", name)
	return sh
}

// Breaker is one circuit breaker over sony/gobreaker v2: it trips on
// ConsecutiveFailures failures in a row or on FailureRatio over a rolling Window, then
// rejects at once with ErrOpen until OpenTimeout passes, then lets HalfOpenProbes
// probes through. Outcomes come from transport.Classify: 4xx answers and
// cancellations are neutral (gobreaker's IsExcluded), 429, 503, other 5xx and transport
// errors are failures. Local rejections by other policies are neutral too.
//
// State changes are logged and counted (resilience.breaker.transitions) from a
// separate goroutine, never under gobreaker's lock.
//
// A Breaker is safe for concurrent use.
type Breaker struct {
	name     string
	cb       *gobreaker.CircuitBreaker[struct{}]
	sh       *breakerShared
	openedAt atomic.Int64 // unix nanoseconds of the last transition to open
	state    atomic.Int32 // the last state gobreaker reported, for the state gauge
	opens    atomic.Uint64
	rejected atomic.Uint64
}

// NewBreaker returns a breaker named name (used in logs, metrics and the debug
// handler).
func NewBreaker(name string, s BreakerSettings, t observability.Instrumentation) *Breaker {
	b := newBreaker(name, newBreakerShared(name, s, t))
	b.sh.observeStates(func(f func(*Breaker)) { f(b) })
	return b
}

// observeStates registers the resilience.breaker.state gauge (0 closed, 1 half-open,
// 2 open, as gobreaker numbers them) over the breakers that each enumerates. The
// callback reads atomics only, never a breaker's lock.
func (sh *breakerShared) observeStates(each func(func(*Breaker))) {
	if sh.meter == nil {
		return
	}
	g, err := sh.meter.Int64ObservableGauge("resilience.breaker.state",
		metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open."))
	if err != nil {
		return
	}
	_, _ = sh.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		each(func(b *Breaker) {
			o.ObserveInt64(g, int64(b.state.Load()), metric.WithAttributes(attribute.String("resilience.name", b.name)))
		})
		return nil
	}, g)
}

func newBreaker(name string, sh *breakerShared) *Breaker {
	s := sh.settings
	b := &Breaker{name: name, sh: sh}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         name,
		MaxRequests:  s.HalfOpenProbes,
		Interval:     s.Window,
		BucketPeriod: s.Bucket,
		Timeout:      s.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if c.ConsecutiveFailures >= s.ConsecutiveFailures {
				return true
			}
			total := c.TotalSuccesses + c.TotalFailures
			return total >= s.MinRequests && float64(c.TotalFailures) >= s.FailureRatio*float64(total)
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded: func(err error) bool {
			o, ok := err.(outcomeErr)
			return ok && transport.Outcome(o).BreakerNeutral()
		},
		OnStateChange: b.onStateChange,
	})
	return b
}

// onStateChange runs under gobreaker's mutex: it only stores atomics and hands the
// logging and metrics off. It never calls the breaker.
func (b *Breaker) onStateChange(name string, from, to gobreaker.State) {
	b.state.Store(int32(to))
	if to == gobreaker.StateOpen {
		b.openedAt.Store(time.Now().UnixNano())
		b.opens.Add(1)
	}
	sh := b.sh
	if sh.log == nil && sh.changes == nil {
		return
	}
	sh.events.push(func() {
		if sh.log != nil {
			sh.log.LogAttrs(context.Background(), slog.LevelWarn, "circuit breaker state changed",
				slog.String("breaker", name), slog.String("from", from.String()), slog.String("to", to.String()))
		}
		if sh.changes != nil {
			sh.changes.Add(context.Background(), 1, metric.WithAttributes(
				attribute.String("resilience.name", name),
				attribute.String("resilience.breaker.from", from.String()),
				attribute.String("resilience.breaker.to", to.String())))
		}
	})
}

// Name returns the breaker's name.

// State returns "closed", "open" or "half-open".
func (b *Breaker) State() string { return b.cb.State().String() }

// run executes fn through the breaker and reports whether it was allowed to run.
func (b *Breaker) run(fn func() transport.Outcome) bool {
	_, err := b.cb.Execute(func() (struct{}, error) {
		if o := fn(); o != transport.Success {
			return struct{}{}, outcomeErr(o)
		}
		return struct{}{}, nil
	})
	if err == gobreaker.ErrOpenState || err == gobreaker.ErrTooManyRequests {
		b.rejected.Add(1)
		return false
	}
	return true
}

// retryAfter is the time left until the breaker lets probes through, at least 1s.
func (b *Breaker) retryAfter() time.Duration {
	d := b.sh.settings.OpenTimeout - time.Duration(time.Now().UnixNano()-b.openedAt.Load())
	if d < time.Second {
		d = time.Second
	}
	return d
}

// Do runs fn through the breaker. It returns a *RejectedError wrapping ErrOpen without
// calling fn when the breaker is open, and fn's error otherwise. fn's error is
// classified with transport.ClassifyError.
func (b *Breaker) Do(fn func() error) error {
	var err error
	if !b.run(func() transport.Outcome { err = fn(); return classifyErr(err) }) {
		b.sh.rejects.add(context.Background())
		return reject(ErrOpen, b.retryAfter())
	}
	return err
}

// snapshot returns the breaker's state and counts.
func (b *Breaker) snapshot() BreakerState {
	state := b.cb.State()
	c := b.cb.Counts()
	st := BreakerState{
		Name: b.name, State: state.String(), Requests: c.Requests,
		Successes: c.TotalSuccesses, Failures: c.TotalFailures, Exclusions: c.TotalExclusions,
		ConsecutiveSuccesses: c.ConsecutiveSuccesses, ConsecutiveFailures: c.ConsecutiveFailures,
		Opens: b.opens.Load(), Rejected: b.rejected.Load(),
	}
	if state == gobreaker.StateOpen {
		left := b.sh.settings.OpenTimeout - time.Duration(time.Now().UnixNano()-b.openedAt.Load())
		st.HalfOpenInMs = float64(max(left, 0)) / float64(time.Millisecond)
	}
	return st
}

// classifyErr is transport.ClassifyError, except that a local rejection by another
// policy is neutral: the upstream was never asked.
func classifyErr(err error) transport.Outcome {
	if err == nil {
		return transport.Success
	}
	if isRejection(err) {
		return transport.Rejected
	}
	return transport.ClassifyError(err)
}

// BreakerSet keeps one Breaker per key (upstream host, instance, route or any
// KeyFunc), created on first use and evicted after IdleTimeout without use or, when
// MaxKeys is reached, by sampled least-recently-used eviction. Memory therefore stays
// bounded however many keys appear. Evicting a breaker forgets its state.
//
// A BreakerSet is safe for concurrent use.
type BreakerSet struct {
	name string
	key  KeyFunc
	sh   *breakerShared
	reg  *keyed[*Breaker]
}

// NewBreakerSet returns a set of breakers keyed by key; nil key means KeyByHost. The
// breakers are named name + "/" + key.
func NewBreakerSet(name string, s BreakerSettings, key KeyFunc, t observability.Instrumentation) *BreakerSet {
	if key == nil {
		key = KeyByHost
	}
	sh := newBreakerShared(name, s, t)
	set := &BreakerSet{name: name, key: key, sh: sh}
	set.reg = newKeyed(sh.settings.MaxKeys, sh.settings.IdleTimeout, func(k string) *Breaker {
		return newBreaker(name+"/"+k, sh)
	})
	sh.observeStates(func(f func(*Breaker)) { set.reg.each(func(_ string, b *Breaker) { f(b) }) })
	return set
}

// Get returns the breaker for key, creating it if needed.
func (s *BreakerSet) Get(key string) *Breaker { return s.reg.get(key) }

// Len returns the number of breakers held.
func (s *BreakerSet) size() int { return s.reg.len() }

// snapshot returns every breaker's state.
func (s *BreakerSet) snapshot() []BreakerState {
	var out []BreakerState
	s.reg.each(func(_ string, b *Breaker) { out = append(out, b.snapshot()) })
	return out
}
