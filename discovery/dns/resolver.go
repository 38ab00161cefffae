package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
)

// ErrInvalidTarget is wrapped by ParseTargets's and NewResolver's errors.
var ErrInvalidTarget = errors.New("dns: invalid target")

// Default values of Settings, used for zero fields.
const (
	defaultInterval = 5 * time.Second
	defaultMaxTTL   = 30 * time.Second
	defaultTimeout  = 2 * time.Second
)

// Lookuper is the part of *net.Resolver the Resolver uses; tests and custom
// transports can supply their own.
type Lookuper interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Target is what one service resolves from.
type Target struct {
	// Name is the DNS name to query.
	Name string
	// SRV is true for an SRV lookup; otherwise A/AAAA records are combined with Port.
	SRV bool
	// Port is the port of A/AAAA instances.
	Port int
}

// Settings configures a Resolver. The zero value of each optional field takes the
// default documented on it.
type Settings struct {
	// Targets maps service names to DNS names, separated by ";":
	// "catalog=catalog.default.svc.cluster.local:8081;payment=srv:_http._tcp.payment.default.svc.cluster.local".
	// name=host:port resolves A/AAAA records and uses the port; name=srv:host
	// resolves SRV records.
	Targets string `env:"DISCOVERY_DNS"`
	// Interval is the delay before a name is resolved again when the lookuper does
	// not report TTLs (a *net.Resolver does not), and after a failed lookup with any
	// lookuper. Default 5s.
	Interval time.Duration `env:"DISCOVERY_DNS_INTERVAL"`
	// MaxTTL caps the delay before a name is resolved again when the lookuper
	// reports TTLs (a Client does): the answer's TTL, raised to 1s (a TTL of 0
	// included) and cut to MaxTTL. It has no effect with a *net.Resolver. Default 30s.
	MaxTTL time.Duration `env:"DISCOVERY_DNS_MAX_TTL"`
	// Timeout bounds one resolution of a name, the address lookups of its SRV
	// targets included. Default 2s.
	Timeout time.Duration `env:"DISCOVERY_DNS_TIMEOUT"`
	// Logger receives lookup failures; nil discards them.
	Logger *slog.Logger `env:"-"`
}

// Validate reports a malformed DISCOVERY_DNS and negative durations, each naming its
// variable.
func (s Settings) Validate() error {
	var errs []error
	if _, err := ParseTargets(s.Targets); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		env string
		v   time.Duration
	}{{"DISCOVERY_DNS_INTERVAL", s.Interval}, {"DISCOVERY_DNS_MAX_TTL", s.MaxTTL}, {"DISCOVERY_DNS_TIMEOUT", s.Timeout}} {
		if d.v < 0 {
			errs = append(errs, config.Invalid(d.env, "%v is negative", d.v))
		}
	}
	return errors.Join(errs...)
}

// ParseTargets parses a DISCOVERY_DNS value (see Settings.Targets). Errors are
// *config.FieldErrors naming the variable and the offending entry, and wrap
// ErrInvalidTarget.
func ParseTargets(s string) (map[string]Target, error) {
	out := map[string]Target{}
	for entry := range strings.SplitSeq(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, spec, ok := strings.Cut(entry, "=")
		name, spec = strings.TrimSpace(name), strings.TrimSpace(spec)
		if !ok || name == "" || strings.ContainsAny(name, ".:/ ") {
			return nil, config.Invalid("DISCOVERY_DNS", "%w: entry %q: want name=host:port or name=srv:host", ErrInvalidTarget, entry)
		}
		if _, dup := out[name]; dup {
			return nil, config.Invalid("DISCOVERY_DNS", "%w: service %q listed twice", ErrInvalidTarget, name)
		}
		if host, ok := strings.CutPrefix(spec, "srv:"); ok {
			if host == "" || strings.Contains(host, ":") {
				return nil, config.Invalid("DISCOVERY_DNS", "%w: service %q: srv:%q: want a DNS name without a port", ErrInvalidTarget, name, host)
			}
			out[name] = Target{Name: host, SRV: true}
			continue
		}
		host, port, err := net.SplitHostPort(spec)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			return nil, config.Invalid("DISCOVERY_DNS", "%w: service %q: %q: want host:port with a port in 1-65535, or srv:host", ErrInvalidTarget, name, spec)
		}
		out[name] = Target{Name: host, Port: p}
	}
	return out, nil
}

// Resolver resolves services from DNS and publishes each into a discovery.Feed. It
// implements discovery.Resolver and discovery.Lister; its feeds are go-kit
// sd.Instancers. It is safe for concurrent use; call Run once.
type Resolver struct {
	l       Lookuper
	s       Settings
	targets map[string]Target
	feeds   discovery.Feeds
}

var (
	_ discovery.Resolver = (*Resolver)(nil)
	_ discovery.Lister   = (*Resolver)(nil)
)

// NewResolver returns a Resolver for s.Targets that queries l; nil l means a new
// net.Resolver with the system's configuration. Whether names follow record TTLs
// depends on l: see the package documentation.
func NewResolver(l Lookuper, s Settings) (*Resolver, error) {
	if err := config.Validate(s); err != nil {
		return nil, invalid(err)
	}
	targets, _ := ParseTargets(s.Targets) // Validate parsed it
	return NewResolverTargets(l, targets, s)
}

// NewResolverTargets is NewResolver with already parsed targets; s.Targets is
// ignored.
func NewResolverTargets(l Lookuper, targets map[string]Target, s Settings) (*Resolver, error) {
	s.Targets = ""
	if err := config.Validate(s); err != nil {
		return nil, invalid(err)
	}
	if l == nil {
		l = &net.Resolver{}
	}
	if s.Interval == 0 {
		s.Interval = defaultInterval
	}
	if s.Timeout == 0 {
		s.Timeout = defaultTimeout
	}
	if s.MaxTTL == 0 {
		s.MaxTTL = defaultMaxTTL
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{l: l, s: s, targets: map[string]Target{}, feeds: discovery.Feeds{}}
	for name, t := range targets {
		r.targets[name] = t
		r.feeds[name] = discovery.NewFeed(name)
	}
	return r, nil
}

// invalid returns the *config.Error of Validate, wrapped in ErrInvalidTarget unless
// a bad DISCOVERY_DNS already wraps it.
func invalid(err error) error {
	if errors.Is(err, ErrInvalidTarget) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalidTarget, err)
}

// Lookup returns the feed of service, or an error wrapping
// discovery.ErrUnknownService.
func (r *Resolver) Lookup(service string) (*discovery.Feed, error) { return r.feeds.Lookup(service) }

// Services returns the configured service names, sorted.
func (r *Resolver) Services() []string { return r.feeds.Services() }

// Run resolves every service at once and then, until ctx ends, again after each
// lookup: when the answer expires if the lookuper is a TTLResolver (its TTL clamped
// to [1s, MaxTTL]), else Interval later; after a failed lookup, Interval later. It
// returns nil after its goroutines have exited.
func (r *Resolver) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for name, f := range r.feeds {
		t := r.targets[name]
		wg.Go(func() {
			timer := time.NewTimer(0)
			defer timer.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
				ttl, hasTTL, _ := r.refresh(ctx, f, t)
				timer.Reset(r.next(ttl, hasTTL))
			}
		})
	}
	<-ctx.Done() // block like every Runner, even with no services
	wg.Wait()
	return nil
}

// next is the delay before the next resolution, given the answer's TTL if the
// lookuper reported one.
func (r *Resolver) next(ttl time.Duration, hasTTL bool) time.Duration {
	if !hasTTL {
		return r.s.Interval
	}
	return min(max(ttl, time.Second), r.s.MaxTTL)
}

// Refresh resolves service once, now, and publishes the result into its feed if it
// changed. On a lookup error the feed keeps its instances and carries the error,
// which Refresh also returns. Run calls it whenever a name is due.
func (r *Resolver) Refresh(ctx context.Context, service string) error {
	f, err := r.Lookup(service)
	if err != nil {
		return err
	}
	_, _, err = r.refresh(ctx, f, r.targets[service])
	return err
}

// refresh resolves t into f. It returns the answer's TTL and whether the lookuper
// reported one (a TTLResolver that answered).
func (r *Resolver) refresh(ctx context.Context, f *discovery.Feed, t Target) (ttl time.Duration, hasTTL bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.s.Timeout)
	defer cancel()
	var ins []discovery.Instance
	if tr, ok := r.l.(TTLResolver); ok {
		ins, ttl, err = tr.ResolveTTL(ctx, t)
		hasTTL = true
	} else {
		ins, err = r.resolve(ctx, t)
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		return 0, false, ctx.Err()
	}
	prev := f.Snapshot()
	now := time.Now()
	if err != nil {
		r.s.Logger.LogAttrs(ctx, slog.LevelWarn, "dns: lookup failed; serving the last good set",
			slog.String("service", f.Service()), slog.String("name", t.Name), slog.String("error", err.Error()))
		err = fmt.Errorf("dns: resolving %s: %w", t.Name, err)
		f.Update(discovery.Snapshot{Instances: prev.Instances, Err: err, Updated: prev.Updated})
		return 0, false, err
	}
	slices.SortFunc(ins, func(a, b discovery.Instance) int { return strings.Compare(a.ID, b.ID) })
	if prev.Err == nil && !prev.Updated.IsZero() && discovery.SameInstances(prev.Instances, ins) {
		return ttl, hasTTL, nil
	}
	f.Update(discovery.Snapshot{Instances: ins, Updated: now})
	return ttl, hasTTL, nil
}

func (r *Resolver) resolve(ctx context.Context, t Target) ([]discovery.Instance, error) {
	if !t.SRV {
		return r.hosts(ctx, t.Name, t.Port)
	}
	_, srvs, err := r.l.LookupSRV(ctx, "", "", t.Name)
	if err != nil {
		return nil, err
	}
	var out []discovery.Instance
	for _, s := range srvs {
		ins, err := r.hosts(ctx, s.Target, int(s.Port))
		if err != nil {
			return nil, err
		}
		out = append(out, ins...)
	}
	return dedupe(out), nil
}

func (r *Resolver) hosts(ctx context.Context, host string, port int) ([]discovery.Instance, error) {
	if ip := net.ParseIP(strings.TrimSuffix(host, ".")); ip != nil {
		return []discovery.Instance{instance(ip, port)}, nil
	}
	addrs, err := r.l.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]discovery.Instance, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, instance(a.IP, port))
	}
	return dedupe(out), nil
}

func instance(ip net.IP, port int) discovery.Instance {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
	return discovery.Instance{ID: addr, Address: addr}
}

func dedupe(in []discovery.Instance) []discovery.Instance {
	slices.SortFunc(in, func(a, b discovery.Instance) int { return strings.Compare(a.ID, b.ID) })
	return slices.CompactFunc(in, func(a, b discovery.Instance) bool { return a.ID == b.ID })
}
