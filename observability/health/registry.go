package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Status is the state of one check or of a probe. It is a plain value.
type Status string

// Statuses.
const (
	// StatusPass: the last run succeeded.
	StatusPass Status = "pass"
	// StatusFail: the last run failed, timed out or panicked.
	StatusFail Status = "fail"
	// StatusPending: the check has not completed a run yet.
	StatusPending Status = "pending"
)

// Result is the cached outcome of the last run of a check. Results returns copies,
// so a Result is safe to keep and read.
type Result struct {
	Name     string
	Roles    Role
	Critical bool
	Status   Status
	// Err is the error of the last run, nil when it passed.
	Err error
	// Duration is how long the last run took.
	Duration time.Duration
	// LastChecked is when the last run ended; zero while pending.
	LastChecked time.Time
}

// Registry runs health checks in the background and serves their cached results.
// Create it with [NewRegistry]; the set of checks is fixed at construction. All
// methods are safe for concurrent use.
type Registry struct {
	settings Settings
	entries  []entry
	ctype    []string
	cacheCtl []string

	running  atomic.Bool
	draining atomic.Bool
	snap     atomic.Pointer[snapshot]

	mu      sync.Mutex
	results []Result // guarded by mu
	started bool     // guarded by mu; latched once every startup check passed
}

type entry struct {
	check    Check
	invalid  error
	timeout  time.Duration
	interval time.Duration
}

// NewRegistry returns a registry of the given checks. A check with an empty name, a
// nil Func or a name already used is not run: it is reported as failed with
// [ErrInvalidCheck], so the mistake shows in /readyz instead of being ignored.
// Checks start pending; call [Registry.Run] to run them.
func NewRegistry(s Settings, checks ...Check) *Registry {
	if s.Interval <= 0 {
		s.Interval = defaultInterval
	}
	if s.Timeout <= 0 {
		s.Timeout = defaultTimeout
	}
	r := &Registry{settings: s, ctype: []string{"application/json"}, cacheCtl: []string{"no-store"}}
	seen := map[string]bool{}
	for _, c := range checks {
		e := entry{check: c, timeout: c.Timeout, interval: c.Interval}
		if e.check.Roles == 0 {
			e.check.Roles = Readiness
		}
		if e.timeout <= 0 {
			e.timeout = s.Timeout
		}
		if e.interval <= 0 {
			e.interval = s.Interval
		}
		switch {
		case c.Name == "":
			e.invalid = fmt.Errorf("%w: empty name", ErrInvalidCheck)
		case seen[c.Name]:
			e.invalid = fmt.Errorf("%w: duplicate name %q", ErrInvalidCheck, c.Name)
		case c.Func == nil:
			e.invalid = fmt.Errorf("%w: nil Func", ErrInvalidCheck)
		}
		seen[c.Name] = true
		r.entries = append(r.entries, e)
		res := Result{Name: c.Name, Roles: e.check.Roles, Critical: !c.NonCritical, Status: StatusPending}
		if e.invalid != nil {
			res.Status, res.Err = StatusFail, e.invalid
		}
		r.results = append(r.results, res)
	}
	r.mu.Lock()
	r.publishLocked()
	r.mu.Unlock()
	return r
}

// Ready reports the cached readiness: every startup check has passed once, every
// critical readiness check passed its last run, and Drain has not been called. It
// never runs a check.
func (r *Registry) Ready() bool { return r.snap.Load().ready }

// Live reports the cached liveness: no critical liveness check failed its last run.
func (r *Registry) Live() bool { return r.snap.Load().live }

// Started reports whether every startup check has passed at least once.
func (r *Registry) Started() bool { return r.snap.Load().started }

// Results returns a copy of the cached results, in the order the checks were given.
func (r *Registry) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.results...)
}

// Drain makes the registry not ready at once and for good: /readyz answers 503 and
// Ready returns false from now on. It is called at the very start of shutdown
// (gantry.Drainer), so that load balancers stop sending traffic while in-flight
// requests finish. It never fails.
func (r *Registry) Drain(ctx context.Context) error {
	if r.draining.CompareAndSwap(false, true) {
		r.mu.Lock()
		r.publishLocked()
		r.mu.Unlock()
	}
	return nil
}

// Run runs every check at once and then every Interval, each in its own goroutine,
// until ctx is cancelled; it returns nil after all of them have exited. A check that
// ignores its context delays that return until it does come back. Run returns
// [ErrRunning] if the registry is already running.
func (r *Registry) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)
	var wg sync.WaitGroup
	for i := range r.entries {
		if r.entries[i].invalid != nil {
			continue
		}
		wg.Go(func() { r.loop(ctx, i) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

func (r *Registry) loop(ctx context.Context, i int) {
	e := &r.entries[i]
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.runOnce(ctx, e, i)
		t.Reset(e.interval)
	}
}

func (r *Registry) runOnce(ctx context.Context, e *entry, i int) {
	cctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- call(cctx, e.check.Func) }()
	var err error
	select {
	case err = <-done:
	case <-cctx.Done():
		if ctx.Err() != nil { // shutting down: nothing to record
			<-done
			return
		}
		err = fmt.Errorf("%w after %v", ErrTimeout, e.timeout)
		r.record(i, err, time.Since(start))
		<-done // a check that ignores ctx keeps this goroutine until it returns
		return
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil && cctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w after %v: %w", ErrTimeout, e.timeout, err)
	}
	r.record(i, err, time.Since(start))
}

func call(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return f(ctx)
}

func (r *Registry) record(i int, err error, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &r.results[i]
	res.Err, res.Duration, res.LastChecked = err, d, time.Now()
	res.Status = StatusPass
	if err != nil {
		res.Status = StatusFail
	}
	r.publishLocked()
}

// snapshot is the immutable state the handlers serve.
type snapshot struct {
	live, ready, started bool
	body                 [3][]byte // liveness, readiness, startup
}

func (r *Registry) publishLocked() {
	live, ready, started := true, true, r.started
	if !started {
		started = true
		for _, res := range r.results {
			if res.Roles&Startup != 0 && res.Critical && res.Status != StatusPass {
				started = false
			}
		}
		r.started = started
	}
	for _, res := range r.results {
		if res.Roles&Liveness != 0 && res.Critical && res.Status == StatusFail {
			live = false
		}
		if res.Roles&Readiness != 0 && res.Critical && res.Status != StatusPass {
			ready = false
		}
	}
	draining := r.draining.Load()
	ready = ready && started && !draining
	s := &snapshot{live: live, ready: ready, started: started}
	s.body[0] = r.encodeLocked(Liveness, live, false, true)
	s.body[1] = r.encodeLocked(Readiness, ready, draining, started)
	s.body[2] = r.encodeLocked(Startup, started, false, true)
	r.snap.Store(s)
}
