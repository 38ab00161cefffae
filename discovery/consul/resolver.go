package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"go.opentelemetry.io/otel/metric"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
)

// Empty-answer policies.
const (
	// EmptyKeep keeps the last non-empty set when Consul answers with no passing
	// instance, and marks the snapshot with ErrEmpty (stale). An agent that
	// restarted with empty state, or a moment when every instance is
	// re-registering, then costs no failed requests.
	EmptyKeep = "keep"
	// EmptyAccept publishes the empty set, so callers fail fast with
	// discovery.ErrNoInstances.
	EmptyAccept = "accept"
)

// ErrEmpty marks a snapshot that kept the last set because Consul answered with no
// passing instance (EmptyKeep).
var ErrEmpty = errors.New("consul: no passing instances; keeping the last set")

// ErrInvalidWatch is wrapped by NewResolver's errors.
var ErrInvalidWatch = errors.New("consul: invalid watch settings")

// Default values of WatchSettings, used for zero fields.
const (
	defaultWait        = 5 * time.Minute
	maxWait            = 10 * time.Minute // Consul's cap
	defaultRetryMin    = 500 * time.Millisecond
	defaultRetryMax    = 2 * time.Second
	defaultMinInterval = 50 * time.Millisecond
	defaultEmpty       = EmptyKeep
)

// WatchSettings configures a Resolver. The zero value works: every zero field takes
// the default documented on it.
type WatchSettings struct {
	// Services are the service names to watch.
	Services []string `env:"DISCOVERY_CONSUL_SERVICES" envSeparator:","`
	// Tags filter instances: only instances with all of them are used.
	Tags []string `env:"DISCOVERY_CONSUL_TAGS" envSeparator:","`
	// Wait is the blocking query's wait time: an idle watch makes one request per
	// Wait per service. Consul adds up to Wait/16 of jitter and caps it at 10m.
	// Default 5m.
	Wait time.Duration `env:"DISCOVERY_CONSUL_WAIT"`
	// RetryMin and RetryMax bound the backoff while the agent is unreachable: the
	// n-th consecutive failure waits a random time in [d/2, d) with
	// d = min(RetryMin × 2^(n-1), RetryMax). Default 500ms.
	RetryMin time.Duration `env:"DISCOVERY_CONSUL_RETRY_MIN"`
	// RetryMax caps the backoff (see RetryMin). Default 2s, so a long outage costs
	// about one attempt every 1.5s per service.
	RetryMax time.Duration `env:"DISCOVERY_CONSUL_RETRY_MAX"`
	// MinInterval is the least time between two queries of one service even when
	// the index keeps changing, a guard against tight loops. Default 50ms.
	MinInterval time.Duration `env:"DISCOVERY_CONSUL_MIN_INTERVAL"`
	// Empty is the policy for an answer with no passing instance: EmptyKeep ("keep")
	// or EmptyAccept ("accept"). Default keep.
	Empty string `env:"DISCOVERY_CONSUL_EMPTY"`
	// Datacenter is the datacenter to query; empty means the agent's.
	Datacenter string `env:"DISCOVERY_CONSUL_DATACENTER"`
	// MeterProvider receives discovery.consul.* metrics; nil means none.
	MeterProvider metric.MeterProvider `env:"-"`
	// Logger receives watch errors and recoveries; nil discards them.
	Logger *slog.Logger `env:"-"`
}

// Validate reports settings out of range, each naming its env variable.
// NewResolver's errors wrap these problems in ErrInvalidWatch.
func (s WatchSettings) Validate() error {
	var errs []error
	if slices.Contains(s.Services, "") {
		errs = append(errs, config.Invalid("DISCOVERY_CONSUL_SERVICES", "empty service name"))
	}
	if s.Empty != "" && s.Empty != EmptyKeep && s.Empty != EmptyAccept {
		errs = append(errs, config.Invalid("DISCOVERY_CONSUL_EMPTY", "%q is not %q or %q", s.Empty, EmptyKeep, EmptyAccept))
	}
	if s.Wait < 0 || s.Wait > maxWait {
		errs = append(errs, config.Invalid("DISCOVERY_CONSUL_WAIT", "%v is not within 0-%v", s.Wait, maxWait))
	}
	for _, d := range []struct {
		env string
		v   time.Duration
	}{{"DISCOVERY_CONSUL_RETRY_MIN", s.RetryMin}, {"DISCOVERY_CONSUL_RETRY_MAX", s.RetryMax}, {"DISCOVERY_CONSUL_MIN_INTERVAL", s.MinInterval}} {
		if d.v < 0 {
			errs = append(errs, config.Invalid(d.env, "%v is negative", d.v))
		}
	}
	if d := s.withDefaults(); d.RetryMax < d.RetryMin {
		errs = append(errs, config.Invalid("DISCOVERY_CONSUL_RETRY_MAX", "%v is below DISCOVERY_CONSUL_RETRY_MIN %v", d.RetryMax, d.RetryMin))
	}
	return errors.Join(errs...)
}

func (s WatchSettings) withDefaults() WatchSettings {
	if s.Wait == 0 {
		s.Wait = defaultWait
	}
	if s.RetryMin == 0 {
		s.RetryMin = defaultRetryMin
	}
	if s.RetryMax == 0 {
		s.RetryMax = defaultRetryMax
	}
	if s.MinInterval == 0 {
		s.MinInterval = defaultMinInterval
	}
	if s.Empty == "" {
		s.Empty = defaultEmpty
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// Resolver watches a fixed list of services in Consul and publishes each into a
// discovery.Feed. It implements discovery.Resolver and discovery.Lister; its feeds
// are go-kit sd.Instancers.
//
// Run watches each service with blocking queries for its passing instances that have
// all of the configured tags, by NextIndex's rules; an answer with an unchanged index
// publishes nothing. While the agent is unreachable Run backs off with jitter and the
// feed keeps its last good set, with Snapshot.Err set (stale-if-error).
//
// A Resolver is safe for concurrent use; call Run once.
type Resolver struct {
	c     *api.Client
	s     WatchSettings
	feeds discovery.Feeds

	mu          sync.Mutex
	lastSuccess map[string]time.Time
	errors      map[string]int64
}

var (
	_ discovery.Resolver = (*Resolver)(nil)
	_ discovery.Lister   = (*Resolver)(nil)
)

// NewResolver returns a Resolver for s.Services over c. It fails with an error
// wrapping ErrInvalidWatch (and, for a bad s, a *config.Error naming each bad
// variable).
func NewResolver(c *api.Client, s WatchSettings) (*Resolver, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil *api.Client", ErrInvalidWatch)
	}
	if err := config.Validate(s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidWatch, err)
	}
	r := &Resolver{c: c, s: s.withDefaults(), feeds: discovery.Feeds{},
		lastSuccess: map[string]time.Time{}, errors: map[string]int64{}}
	for _, n := range s.Services {
		r.feeds[n] = discovery.NewFeed(n)
	}
	return r, nil
}

// Lookup returns the feed of service, or an error wrapping
// discovery.ErrUnknownService if it is not watched.
func (r *Resolver) Lookup(service string) (*discovery.Feed, error) { return r.feeds.Lookup(service) }

// Services returns the watched service names, sorted.
func (r *Resolver) Services() []string { return r.feeds.Services() }

// Run watches every service until ctx ends, then returns nil after its goroutines
// have exited.
func (r *Resolver) Run(ctx context.Context) error {
	unregister, err := r.registerMetrics()
	if err != nil {
		return err
	}
	defer unregister()
	var wg sync.WaitGroup
	for _, f := range r.feeds {
		wg.Go(func() { r.watch(ctx, f) })
	}
	<-ctx.Done() // block like every Runner, even with no services
	wg.Wait()
	return nil
}

// Staleness returns how long ago service was last refreshed successfully, and
// false if it never was.
func (r *Resolver) Staleness(service string, now time.Time) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.lastSuccess[service]
	if !ok {
		return 0, false
	}
	return now.Sub(t), true
}

func (r *Resolver) watch(ctx context.Context, f *discovery.Feed) {
	name := f.Service()
	var index uint64
	failures := 0
	var lastQuery time.Time
	for ctx.Err() == nil {
		if gap := time.Since(lastQuery); gap < r.s.MinInterval {
			if !sleep(ctx, r.s.MinInterval-gap) {
				return
			}
		}
		lastQuery = time.Now()
		q := &api.QueryOptions{WaitIndex: index, WaitTime: r.s.Wait, Datacenter: r.s.Datacenter}
		entries, meta, err := r.c.Health().ServiceMultipleTags(name, r.s.Tags, true, q.WithContext(ctx))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			r.fail(ctx, f, err, failures)
			if !sleep(ctx, backoff(failures, r.s.RetryMin, r.s.RetryMax)) {
				return
			}
			continue
		}
		if failures > 0 {
			r.s.Logger.LogAttrs(ctx, slog.LevelInfo, "consul: watch recovered", slog.String("service", name), slog.Int("failed_attempts", failures))
		}
		failures = 0
		r.mu.Lock()
		r.lastSuccess[name] = time.Now()
		r.mu.Unlock()

		next := NextIndex(index, meta.LastIndex)
		prev := f.Snapshot()
		if next == index && prev.Err == nil && !prev.Updated.IsZero() {
			continue // the wait timed out with no change
		}
		index = next
		r.publish(f, prev, entries, index)
	}
}

// NextIndex applies Consul's blocking-query index rules: it returns the index to
// wait on next, given the one just waited on (prev) and the X-Consul-Index of the
// answer (got). An index that went backwards resets to 0 (a restarted or changed
// server), so the next query returns at once with the current state; an answer of
// 0 is treated as 1 so the next query still blocks.
func NextIndex(prev, got uint64) uint64 {
	switch {
	case got == 0:
		return 1
	case got < prev:
		return 0
	default:
		return got
	}
}

func (r *Resolver) publish(f *discovery.Feed, prev discovery.Snapshot, entries []*api.ServiceEntry, index uint64) {
	ins := make([]discovery.Instance, 0, len(entries))
	for _, e := range entries {
		if e.Service == nil {
			continue
		}
		addr := e.Service.Address
		if addr == "" && e.Node != nil {
			addr = e.Node.Address
		}
		ins = append(ins, discovery.Instance{
			ID:      e.Service.ID,
			Address: net.JoinHostPort(addr, strconv.Itoa(e.Service.Port)),
			Tags:    slices.Clone(e.Service.Tags),
			Meta:    e.Service.Meta,
		})
	}
	now := time.Now()
	if len(ins) == 0 && r.s.Empty == EmptyKeep && len(prev.Instances) > 0 {
		if !errors.Is(prev.Err, ErrEmpty) || prev.Index != index {
			f.Update(discovery.Snapshot{Instances: prev.Instances, Err: ErrEmpty, Index: index, Updated: now})
		}
		return
	}
	if prev.Err == nil && prev.Index == index && discovery.SameInstances(prev.Instances, sorted(ins)) && !prev.Updated.IsZero() {
		return
	}
	f.Update(discovery.Snapshot{Instances: ins, Index: index, Updated: now})
}

func sorted(in []discovery.Instance) []discovery.Instance {
	slices.SortFunc(in, func(a, b discovery.Instance) int {
		if a.ID != b.ID {
			if a.ID < b.ID {
				return -1
			}
			return 1
		}
		if a.Address < b.Address {
			return -1
		}
		if a.Address > b.Address {
			return 1
		}
		return 0
	})
	return in
}

// fail records a failed query: the feed keeps its instances and carries the error.
func (r *Resolver) fail(ctx context.Context, f *discovery.Feed, err error, failures int) {
	name := f.Service()
	r.mu.Lock()
	r.errors[name]++
	r.mu.Unlock()
	prev := f.Snapshot()
	if prev.Err == nil || failures == 1 {
		f.Update(discovery.Snapshot{Instances: prev.Instances, Err: fmt.Errorf("consul: watching %s: %w", name, err), Index: prev.Index, Updated: prev.Updated})
	}
	level := slog.LevelDebug
	if failures == 1 {
		level = slog.LevelWarn
	}
	r.s.Logger.LogAttrs(ctx, level, "consul: watch failed; serving the last good set", slog.String("service", name),
		slog.Int("attempt", failures), slog.Int("instances", len(prev.Instances)), slog.String("error", err.Error()))
}

// backoff returns a random delay in [d/2, d) with d = min(lo × 2^(n-1), hi).
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n < 32 {
		d = min(lo<<(n-1), hi)
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// sleep waits d or until ctx ends, and reports whether it waited the full d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
