package resilience

import (
	"cmp"
	"context"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/transport"
)

// Default values of ShedSettings, used for zero (and negative) fields.
const (
	defaultInitialLimit = 20
	defaultMinLimit     = 20
	defaultMaxLimit     = 200
	defaultTolerance    = 1.5
	defaultSmoothing    = 0.2
	defaultRTTWindow    = 10 * time.Second
	defaultQueueSize    = 4
)

// ShedSettings configures a Shedder. The zero value gives the defaults below
// (docs/resilience.md says where the algorithm and they come from). It is a plain
// value, read once at construction.
type ShedSettings struct {
	// InitialLimit is the concurrency limit at start. Default 20.
	InitialLimit int `env:"SHED_INITIAL_LIMIT"`
	// MinLimit is the lowest the limit may fall. Default 20; lower it for services
	// whose capacity is below 20 concurrent requests.
	MinLimit int `env:"SHED_MIN_LIMIT"`
	// MaxLimit is the highest the limit may grow. Default 200.
	MaxLimit int `env:"SHED_MAX_LIMIT"`
	// Tolerance is how much the latency may exceed the long-term latency before the
	// limit shrinks. Default 1.5.
	Tolerance float64 `env:"SHED_RTT_TOLERANCE"`
	// Smoothing is how fast the limit moves toward its new estimate. Default 0.2.
	Smoothing float64 `env:"SHED_SMOOTHING"`
	// RTTWindow is how long the no-load latency estimate (the minimum latency seen)
	// is kept: it is the minimum over the current and the previous window. Default 10s.
	RTTWindow time.Duration `env:"SHED_RTT_WINDOW"`
	// QueueSize is the headroom added to the limit so that it can grow. Default 4.
	QueueSize int `env:"SHED_QUEUE_SIZE"`
}

func (s ShedSettings) withDefaults() ShedSettings {
	if s.InitialLimit <= 0 {
		s.InitialLimit = defaultInitialLimit
	}
	if s.MinLimit <= 0 {
		s.MinLimit = defaultMinLimit
	}
	if s.MaxLimit <= 0 {
		s.MaxLimit = defaultMaxLimit
	}
	if s.Tolerance <= 0 {
		s.Tolerance = defaultTolerance
	}
	if s.Smoothing <= 0 {
		s.Smoothing = defaultSmoothing
	}
	if s.RTTWindow <= 0 {
		s.RTTWindow = defaultRTTWindow
	}
	if s.QueueSize <= 0 {
		s.QueueSize = defaultQueueSize
	}
	s.MinLimit = min(s.MinLimit, s.MaxLimit)
	s.InitialLimit = max(s.MinLimit, min(s.InitialLimit, s.MaxLimit))
	return s
}

// Validate reports settings that cannot work, naming their environment variables.
func (s ShedSettings) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"SHED_INITIAL_LIMIT", s.InitialLimit}, {"SHED_MIN_LIMIT", s.MinLimit}, {"SHED_MAX_LIMIT", s.MaxLimit}} {
		if f.v < 0 {
			errs = append(errs, config.Invalid(f.name, "must not be negative, got %d", f.v))
		}
	}
	if maxLimit := cmp.Or(max(s.MaxLimit, 0), defaultMaxLimit); s.MinLimit > maxLimit {
		errs = append(errs, config.Invalid("SHED_MIN_LIMIT", "%d must not exceed SHED_MAX_LIMIT (%d)", s.MinLimit, maxLimit))
	}
	if s.Tolerance != 0 && s.Tolerance < 1 {
		errs = append(errs, config.Invalid("SHED_RTT_TOLERANCE", "must be at least 1, got %v", s.Tolerance))
	}
	if s.Smoothing < 0 || s.Smoothing > 1 {
		errs = append(errs, config.Invalid("SHED_SMOOTHING", "must be within (0, 1], got %v", s.Smoothing))
	}
	return errors.Join(errs...)
}

// Criticality orders requests for shedding (transport.HeaderCriticality). It is a
// plain value.
type Criticality uint8

const (
	// Normal requests are admitted up to the limit.
	Normal Criticality = iota
	// Sheddable requests (prefetches, batch work) are shed first: admitted up to 3/4
	// of the limit.
	Sheddable
	// Critical requests (checkout, payment) are shed last: admitted up to 5/4 of the
	// limit, so they still pass when default traffic is being shed.
	Critical
)

// criticalityOf reads transport.HeaderCriticality: "critical", "sheddable", or
// anything else for Normal.
func criticalityOf(h http.Header) Criticality {
	v := h[transport.HeaderCriticality]
	if len(v) == 0 {
		return Normal
	}
	switch v[0] {
	case "critical", "CRITICAL", "Critical":
		return Critical
	case "sheddable", "SHEDDABLE", "Sheddable":
		return Sheddable
	}
	return Normal
}

// ShedderState is a shedder's snapshot for the debug handler. It is a plain value.
type ShedderState struct {
	Name      string  `json:"name"`
	Limit     int64   `json:"limit"`
	InFlight  int64   `json:"in_flight"`
	NoLoadRTT float64 `json:"no_load_rtt_ms"`
	Shed      uint64  `json:"shed"`
}

// Shedder is an adaptive concurrency limit: while the latency of completed requests
// stays within Tolerance of the no-load latency (the minimum seen over RTTWindow), the
// limit grows by QueueSize; when it rises, the limit shrinks in proportion, down to
// MinLimit. Requests above the limit are shed at once with ErrShed (503 + Retry-After
// over HTTP) instead of queueing. Critical requests may exceed the limit by a quarter
// and sheddable ones stop at three quarters, so critical traffic is shed last
// (docs/resilience.md has the algorithm and its history).
//
// Admission is two atomic operations; completion takes a short mutex. A Shedder is
// safe for concurrent use.
type Shedder struct {
	name     string
	s        ShedSettings
	limit    atomic.Int64
	inflight atomic.Int64
	shed     atomic.Uint64
	reply    *reply
	rejects  rejectCounter

	mu        sync.Mutex
	estimated float64
	epoch     time.Time
	curMin    float64 // nanoseconds, minimum latency in the current window
	prevMin   float64 // minimum latency in the previous window
}

// NewShedder returns an adaptive load shedder.
func NewShedder(name string, s ShedSettings, t observability.Instrumentation) *Shedder {
	s = s.withDefaults()
	sh := &Shedder{name: name, s: s, estimated: float64(s.InitialLimit), reply: newReply(ErrShed), rejects: newRejectCounter(t, "shed", name)}
	sh.limit.Store(int64(s.InitialLimit))
	return sh
}

// Limit returns the current concurrency limit.
func (s *Shedder) currentLimit() int { return int(s.limit.Load()) }

// Acquire admits a request of criticality c, or reports false when it must be shed.
// Every admitted request must call Release with its start time.
func (s *Shedder) acquire(c Criticality) bool {
	n := s.inflight.Add(1)
	lim := s.limit.Load()
	switch c {
	case Sheddable:
		lim = max(1, lim*3/4)
	case Critical:
		lim += max(1, lim/4)
	}
	if n > lim {
		s.inflight.Add(-1)
		s.shed.Add(1)
		return false
	}
	return true
}

// Release ends an admitted request that started at start, feeding its latency to
// the limit.
func (s *Shedder) release(start time.Time) {
	now := time.Now()
	rtt := float64(now.Sub(start))
	inflight := s.inflight.Add(-1) + 1
	if rtt <= 0 {
		rtt = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.epoch) > s.s.RTTWindow {
		s.prevMin, s.curMin, s.epoch = s.curMin, 0, now
	}
	if s.curMin == 0 || rtt < s.curMin {
		s.curMin = rtt
	}
	noLoad := s.noLoad()
	// Don't grow the limit while the service is not using it.
	if float64(inflight) < s.estimated/2 {
		return
	}
	gradient := math.Max(0.5, math.Min(1, s.s.Tolerance*noLoad/rtt))
	next := s.estimated*gradient + float64(s.s.QueueSize)
	next = s.estimated*(1-s.s.Smoothing) + next*s.s.Smoothing
	next = math.Max(float64(s.s.MinLimit), math.Min(float64(s.s.MaxLimit), next))
	s.estimated = next
	s.limit.Store(int64(next))
}

func (s *Shedder) noLoad() float64 {
	if s.prevMin > 0 && s.prevMin < s.curMin {
		return s.prevMin
	}
	return s.curMin
}

// Server returns server middleware that sheds requests above the limit with a
// prebuilt 503 problem and Retry-After, reading the criticality from
// transport.HeaderCriticality.
func (s *Shedder) Server() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.acquire(criticalityOf(r.Header)) {
				s.rejects.add(r.Context())
				s.reply.write(w, time.Second)
				return
			}
			start := time.Now()
			defer s.release(start)
			next.ServeHTTP(w, r)
		})
	}
}

// Client returns client middleware that limits outstanding requests to an upstream
// adaptively, returning ErrShed in a *RejectedError
// when the limit is reached.
func (s *Shedder) Client() func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if !s.acquire(criticalityOf(req.Header)) {
				s.rejects.add(req.Context())
				return nil, reject(ErrShed, time.Second)
			}
			start := time.Now()
			defer s.release(start)
			return next.RoundTrip(req)
		})
	}
}

// Endpoint returns go-kit middleware that sheds calls above the limit with ErrShed
// in a *RejectedError, as Server does. The criticality is read from
// transport.HeaderCriticality of the *http.Request that ContextWithRequest put in the
// context (kithttp.ServerBefore(ContextWithRequest)); a call whose context carries no
// request is Normal.
func (s *Shedder) Endpoint() endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			c := Normal
			if r := requestFrom(ctx); r != nil {
				c = criticalityOf(r.Header)
			}
			if !s.acquire(c) {
				s.rejects.add(ctx)
				return nil, reject(ErrShed, time.Second)
			}
			start := time.Now()
			defer s.release(start)
			return next(ctx, request)
		}
	}
}

// snapshot returns the shedder's state.
func (s *Shedder) snapshot() ShedderState {
	s.mu.Lock()
	noLoad := s.noLoad()
	s.mu.Unlock()
	return ShedderState{Name: s.name, Limit: s.limit.Load(), InFlight: s.inflight.Load(),
		NoLoadRTT: noLoad / float64(time.Millisecond), Shed: s.shed.Load()}
}
