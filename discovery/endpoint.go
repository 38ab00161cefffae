package discovery

import (
	"math"
	"sync/atomic"
	"time"
)

// minWeight is the share a slow-starting endpoint gets at first.
const minWeight = 0.1

// Endpoint is one instance as a Balancer sees it: the instance and its live
// statistics. Picks return *Endpoint; the caller reports the call's outcome to the
// Balancer with Begin and End. Its methods are safe for concurrent use.
type Endpoint struct {
	inst Instance

	inflight atomic.Int64
	calls    atomic.Uint32 // for latency sampling
	cost     atomic.Uint64 // float64 bits: peak-EWMA latency in ns
	stamp    atomic.Int64  // unix ns of the last observation
	failures atomic.Int32  // consecutive failures
	weight   atomic.Uint64 // float64 bits: slow-start share, 1 = full

	// Guarded by the Balancer's mu.
	ejected       bool
	ejectedUntil  time.Time
	ejections     int
	lastRecovered time.Time
	rampStart     time.Time
}

func newEndpoint(in Instance) *Endpoint {
	e := &Endpoint{inst: in}
	e.weight.Store(math.Float64bits(1))
	return e
}

// Instance returns the endpoint's instance.
func (e *Endpoint) Instance() Instance { return e.inst }

// Address returns the instance's host:port.
func (e *Endpoint) Address() string { return e.inst.Address }

func (e *Endpoint) w() float64 { return math.Float64frombits(e.weight.Load()) }

// score is the P2C cost before slow-start weighting: lower is better.
func (e *Endpoint) score() float64 {
	c := math.Float64frombits(e.cost.Load()) + 1
	return c * float64(e.inflight.Load()+1)
}

// observe folds one latency into the peak-EWMA: a slower sample is taken at once, a
// faster one decays in with time constant tau. Concurrent observers may lose one
// sample to each other; the estimate stays within the samples' range.
func (e *Endpoint) observe(now time.Time, lat time.Duration, tau time.Duration) {
	ns := now.UnixNano()
	prev := e.stamp.Swap(ns)
	old := math.Float64frombits(e.cost.Load())
	x := float64(lat)
	if prev == 0 || x > old {
		e.cost.Store(math.Float64bits(x))
		return
	}
	td := float64(max(ns-prev, 0))
	w := math.Exp(-td / float64(tau))
	e.cost.Store(math.Float64bits(old*w + x*(1-w)))
}
