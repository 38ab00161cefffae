package discovery

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gantry-go/gantry/transport"
)

// Balancer spreads calls to one service over the instances its Feed publishes. Pick
// takes no lock, does not allocate and does no I/O. Ejection deadlines and slow-start
// ramps are evaluated when outcomes are reported (End), so a Balancer runs no goroutine.
//
// Outcomes follow transport.Outcome: Success and Rejected reset an endpoint's count
// of consecutive failures; Failure and Overloaded raise it and count as at least
// FailurePenalty of latency; Canceled is neutral. After EjectAfter consecutive
// failures the endpoint is ejected (see BalancerSettings).
//
// A Balancer is safe for concurrent use. Close it to stop following the feed.
type Balancer struct {
	s      BalancerSettings
	p2c    bool
	snap   atomic.Pointer[pickSet]
	rr     atomic.Uint64
	cancel func()

	lastFailed atomic.Pointer[Endpoint]

	service    string
	ejectCount metric.Int64Counter // nil without a MeterProvider

	mu     sync.Mutex
	byKey  map[string]*Endpoint
	order  []*Endpoint // byKey's values in feed order
	primed bool        // the first snapshot has been applied
	feed   Snapshot
}

// pickSet is what Pick reads: the usable endpoints and when to re-evaluate them.
type pickSet struct {
	eps       []*Endpoint
	ramping   bool  // some endpoint has weight < 1
	plainRR   bool  // round robin over 2+ endpoints, none ramping: Pick's fast path
	refreshAt int64 // unix ns at which End must rebuild; math.MaxInt64 = never
}

// NewBalancer returns a Balancer that follows f. Settings are used as given; call
// s.Validate first to reject bad configuration (out-of-range values are clamped).
func NewBalancer(f *Feed, s BalancerSettings) *Balancer {
	s = s.withDefaults()
	b := &Balancer{s: s, p2c: s.Policy != PolicyRoundRobin, byKey: map[string]*Endpoint{}, service: f.Service()}
	if s.MeterProvider != nil {
		// An instrument error leaves the counter nil: ejection works without metrics.
		b.ejectCount, _ = s.MeterProvider.Meter("github.com/gantry-go/gantry/discovery").Int64Counter("discovery.balancer.ejections",
			metric.WithUnit("{ejection}"), metric.WithDescription("Endpoints ejected by outlier detection."))
	}
	b.snap.Store(&pickSet{refreshAt: math.MaxInt64})
	b.cancel = f.Subscribe(b.apply)
	return b
}

// Close stops following the feed. Picks keep using the last snapshot.
func (b *Balancer) Close() { b.cancel() }

// Pick returns an endpoint for the next call, or ErrNoInstances.
func (b *Balancer) Pick() (*Endpoint, error) {
	ps := b.snap.Load()
	if ps.plainRR {
		return ps.eps[b.rr.Add(1)%uint64(len(ps.eps))], nil
	}
	return b.pick(ps)
}

func (b *Balancer) pick(ps *pickSet) (*Endpoint, error) {
	n := uint64(len(ps.eps))
	switch n {
	case 0:
		return nil, ErrNoInstances
	case 1:
		return ps.eps[0], nil
	}
	if !b.p2c {
		i := b.rr.Add(1)
		e := ps.eps[i%n]
		if ps.ramping {
			if w := e.w(); w < 1 && rand.Float64() >= w {
				e = ps.eps[(i+1)%n]
			}
		}
		return e, nil
	}
	r := rand.Uint64()
	i := (r & math.MaxUint32) * n >> 32
	j := (r >> 32) * (n - 1) >> 32
	if j >= i {
		j++
	}
	e, other := ps.eps[i], ps.eps[j]
	if other.score() < e.score() {
		e, other = other, e
	}
	if ps.ramping {
		if w := e.w(); w < 1 && rand.Float64() >= w {
			e = other
		}
	}
	return e, nil
}

// PickExcept is Pick, avoiding endpoints for which skip reports true when another
// endpoint is usable. Retries use it to go to a different instance.
func (b *Balancer) PickExcept(skip func(*Endpoint) bool) (*Endpoint, error) {
	e, err := b.Pick()
	if err != nil || !skip(e) {
		return e, err
	}
	ps := b.snap.Load()
	n := len(ps.eps)
	start := rand.IntN(n)
	for k := range n {
		if c := ps.eps[(start+k)%n]; !skip(c) {
			return c, nil
		}
	}
	return e, nil
}

// latencySample: one call in this many per endpoint has its latency measured, as
// reading the clock can cost more than the rest of a balanced call (docs/discovery.md,
// Balancing). Failures are always recorded.
const latencySample = 4

// Begin records the start of a call to e. It returns the start time when this call's
// latency is sampled, else the zero time; pass it to End either way.
func (b *Balancer) Begin(e *Endpoint) time.Time {
	e.inflight.Add(1)
	if e.calls.Add(1)%latencySample == 1 {
		return time.Now()
	}
	return time.Time{}
}

// End records the outcome of a call to e that Begin returned start for.
func (b *Balancer) End(e *Endpoint, start time.Time, o transport.Outcome) {
	e.inflight.Add(-1)
	var now time.Time
	switch o {
	case transport.Canceled:
	case transport.Success, transport.Rejected:
		if e.failures.Load() != 0 {
			e.failures.Store(0)
		}
		if !start.IsZero() {
			now = time.Now()
			e.observe(now, now.Sub(start), b.s.Decay)
		}
	default: // Failure, Overloaded
		now = time.Now()
		lat := b.s.FailurePenalty
		if !start.IsZero() {
			lat = max(now.Sub(start), lat)
		}
		e.observe(now, lat, b.s.Decay)
		b.lastFailed.Store(e)
		if f := e.failures.Add(1); b.s.EjectAfter > 0 && int(f) >= b.s.EjectAfter {
			b.eject(e, now)
		}
	}
	if at := b.snap.Load().refreshAt; at != math.MaxInt64 {
		if now.IsZero() {
			now = time.Now()
		}
		if now.UnixNano() >= at {
			b.mu.Lock()
			b.rebuild(now)
			b.mu.Unlock()
		}
	}
}

// eject takes e out of the pick set unless that would exceed MaxEjectedPercent.
func (b *Balancer) eject(e *Endpoint, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.ejected || b.byKey[e.inst.key()] != e {
		return
	}
	total, ejected := len(b.order), 0
	for _, x := range b.order {
		if x.ejected {
			ejected++
		}
	}
	allowed := total * b.s.MaxEjectedPercent / 100
	if allowed == 0 && total > 1 {
		allowed = 1
	}
	if ejected >= allowed || ejected+1 >= total {
		return // the failure count stays high; the next failure tries again
	}
	if !e.lastRecovered.IsZero() && now.Sub(e.lastRecovered) >= b.s.EjectMax {
		e.ejections = 0
	}
	e.ejections++
	d := min(time.Duration(e.ejections)*b.s.EjectBase, b.s.EjectMax)
	e.ejected, e.ejectedUntil = true, now.Add(d)
	e.failures.Store(0)
	b.rebuild(now)
	b.countEjections(e, 1)
}

// countEjections adds n to e's discovery.balancer.ejections, if metrics are on.
func (b *Balancer) countEjections(e *Endpoint, n int64) {
	if b.ejectCount != nil {
		b.ejectCount.Add(context.Background(), n, metric.WithAttributes(
			attribute.String("service", b.service), attribute.String("instance", e.inst.key())))
	}
}

// apply follows a feed update. Endpoints that stay keep their statistics.
func (b *Balancer) apply(s Snapshot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.feed = s
	next := make(map[string]*Endpoint, len(s.Instances))
	order := make([]*Endpoint, 0, len(s.Instances))
	for _, in := range s.Instances {
		k := in.key()
		if _, dup := next[k]; dup {
			continue
		}
		e, ok := b.byKey[k]
		if !ok || !SameInstances([]Instance{e.inst}, []Instance{in}) {
			e = newEndpoint(in)
			// A newcomer starts at the pool's mean latency, not at zero, so that P2C
			// does not take it for the cheapest endpoint before it has served anything.
			if m := meanCost(b.order); m > 0 {
				e.cost.Store(math.Float64bits(m))
				e.stamp.Store(now.UnixNano())
			}
			if b.primed && b.s.SlowStart > 0 {
				e.rampStart = now
			}
			// Its ejection counter starts at 0, so that Prometheus's increase() sees
			// the first ejection: a series born at 1 shows none.
			b.countEjections(e, 0)
		}
		next[k] = e
		order = append(order, e)
	}
	b.byKey, b.order = next, order
	if len(s.Instances) > 0 {
		b.primed = true
	}
	b.rebuild(now)
}

func meanCost(eps []*Endpoint) float64 {
	if len(eps) == 0 {
		return 0
	}
	sum := 0.0
	for _, e := range eps {
		sum += math.Float64frombits(e.cost.Load())
	}
	return sum / float64(len(eps))
}

// rebuild recomputes the pick set at now. b.mu must be held.
func (b *Balancer) rebuild(now time.Time) {
	eps := make([]*Endpoint, 0, len(b.order))
	refresh := int64(math.MaxInt64)
	ramping := false
	for _, e := range b.order {
		if e.ejected {
			if now.Before(e.ejectedUntil) {
				refresh = min(refresh, e.ejectedUntil.UnixNano())
				continue
			}
			e.ejected = false
			e.failures.Store(0)
			e.lastRecovered = now
			if b.s.SlowStart > 0 {
				e.rampStart = now
			}
		}
		w := 1.0
		if !e.rampStart.IsZero() {
			if el := now.Sub(e.rampStart); el < b.s.SlowStart {
				w = max(minWeight, float64(el)/float64(b.s.SlowStart))
				ramping = true
				refresh = min(refresh, now.Add(b.s.SlowStart/20).UnixNano())
			} else {
				e.rampStart = time.Time{}
			}
		}
		e.weight.Store(math.Float64bits(w))
		eps = append(eps, e)
	}
	b.snap.Store(&pickSet{eps: eps, ramping: ramping, refreshAt: refresh, plainRR: !b.p2c && !ramping && len(eps) > 1})
}

// EndpointState is one endpoint's state, as the debug handler shows it.
type EndpointState struct {
	Instance
	Ejected             bool      `json:"ejected"`
	EjectedUntil        time.Time `json:"ejected_until,omitzero"`
	Ejections           int       `json:"ejections"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	InFlight            int64     `json:"in_flight"`
	LatencyEWMAms       float64   `json:"latency_ewma_ms"`
	Weight              float64   `json:"weight"`
}

// Endpoints returns the state of every endpoint the feed lists, ejected or not.
func (b *Balancer) Endpoints() []EndpointState {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]EndpointState, 0, len(b.order))
	for _, e := range b.order {
		var until time.Time
		if e.ejected {
			until = e.ejectedUntil
		}
		out = append(out, EndpointState{
			Instance:            e.inst,
			Ejected:             e.ejected,
			EjectedUntil:        until,
			Ejections:           e.ejections,
			ConsecutiveFailures: int(e.failures.Load()),
			InFlight:            e.inflight.Load(),
			LatencyEWMAms:       math.Float64frombits(e.cost.Load()) / 1e6,
			Weight:              e.w(),
		})
	}
	return out
}
