package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/config"
)

// Check kinds.
const (
	// CheckTTL makes the Registrar report readiness to Consul itself, from the
	// Readiness it is given.
	CheckTTL = "ttl"
	// CheckHTTP makes Consul poll the service's readiness endpoint.
	CheckHTTP = "http"
)

// ErrInvalidRegistration is wrapped by NewRegistrar's errors.
var ErrInvalidRegistration = errors.New("consul: invalid registration")

// Default values of Registration, used for zero fields.
const (
	defaultCheck = CheckTTL
	// minDeregisterCriticalAfter is Consul's minimum.
	minDeregisterCriticalAfter     = time.Minute
	defaultCheckInterval           = time.Second
	defaultTTL                     = 10 * time.Second
	defaultDeregisterCriticalAfter = minDeregisterCriticalAfter
	defaultResync                  = 5 * time.Second
)

// Readiness is what the Registrar needs from the health registry: its cached
// readiness (false while starting, failing or draining).
type Readiness interface {
	Ready() bool
}

// Registration describes the service instance to register. The zero value of each
// optional field takes the default documented on it.
type Registration struct {
	// Name is the service name. Required.
	Name string `env:"DISCOVERY_SERVICE_NAME"`
	// ID is the instance ID, unique on the agent. Empty means
	// "<name>-<host>-<port>".
	ID string `env:"DISCOVERY_SERVICE_ID"`
	// Address is the address other services use to reach this one. Empty means the
	// agent's address.
	Address string `env:"DISCOVERY_SERVICE_ADDRESS"`
	// Port is the service's port. Required, 1-65535.
	Port int `env:"DISCOVERY_SERVICE_PORT"`
	// Tags are the service's tags.
	Tags []string `env:"DISCOVERY_SERVICE_TAGS" envSeparator:","`
	// Meta is the service's metadata, as key:value pairs in the environment.
	Meta map[string]string `env:"DISCOVERY_SERVICE_META"`
	// Check is CheckTTL ("ttl") or CheckHTTP ("http"). Default ttl.
	Check string `env:"DISCOVERY_CHECK"`
	// CheckURL is the URL Consul polls for CheckHTTP. Empty means
	// http://<address>:<port>/readyz.
	CheckURL string `env:"DISCOVERY_CHECK_URL"`
	// CheckInterval is how often Consul polls CheckURL (CheckHTTP), or how often the
	// Registrar reads readiness and reports a change (CheckTTL). Default 1s.
	CheckInterval time.Duration `env:"DISCOVERY_CHECK_INTERVAL"`
	// TTL is the TTL check's time to live: without a report for this long, Consul
	// marks the instance critical. The Registrar reports at least every TTL/3.
	// Default 10s.
	TTL time.Duration `env:"DISCOVERY_CHECK_TTL"`
	// DeregisterCriticalAfter makes Consul remove the instance once its check has
	// been critical this long, so a crashed instance does not linger. Default 1m,
	// Consul's minimum.
	DeregisterCriticalAfter time.Duration `env:"DISCOVERY_DEREGISTER_CRITICAL_AFTER"`
	// Resync is how often the Registrar checks that the agent still knows the
	// instance and registers it again if not (an agent restarted with empty state).
	// Default 5s.
	Resync time.Duration `env:"DISCOVERY_RESYNC_INTERVAL"`
	// Logger receives registration events; nil discards them. The ACL token is
	// never logged.
	Logger *slog.Logger `env:"-"`
}

// Validate reports settings that cannot work, each problem naming its env variable.
// A missing Name or Port is not reported here, since code usually fills them in after
// loading the environment; NewRegistrar rejects them. NewRegistrar's errors wrap
// these problems in ErrInvalidRegistration.
func (r Registration) Validate() error {
	var errs []error
	if r.Port < 0 || r.Port > 65535 {
		errs = append(errs, config.Invalid("DISCOVERY_SERVICE_PORT", "%d is not within 1-65535", r.Port))
	}
	if r.Check != "" && r.Check != CheckTTL && r.Check != CheckHTTP {
		errs = append(errs, config.Invalid("DISCOVERY_CHECK", "%q is not %q or %q", r.Check, CheckTTL, CheckHTTP))
	}
	for _, d := range []struct {
		env string
		v   time.Duration
	}{{"DISCOVERY_CHECK_INTERVAL", r.CheckInterval}, {"DISCOVERY_CHECK_TTL", r.TTL}, {"DISCOVERY_RESYNC_INTERVAL", r.Resync}} {
		if d.v < 0 {
			errs = append(errs, config.Invalid(d.env, "%v is negative", d.v))
		}
	}
	if r.DeregisterCriticalAfter != 0 && r.DeregisterCriticalAfter < minDeregisterCriticalAfter {
		errs = append(errs, config.Invalid("DISCOVERY_DEREGISTER_CRITICAL_AFTER", "%v is below Consul's minimum of %v", r.DeregisterCriticalAfter, minDeregisterCriticalAfter))
	}
	return errors.Join(errs...)
}

func (r Registration) withDefaults() Registration {
	if r.Check == "" {
		r.Check = defaultCheck
	}
	if r.ID == "" {
		host := r.Address
		if host == "" {
			host, _ = os.Hostname()
		}
		r.ID = r.Name + "-" + host + "-" + strconv.Itoa(r.Port)
	}
	if r.CheckURL == "" {
		host := r.Address
		if host == "" {
			host = "127.0.0.1"
		}
		r.CheckURL = "http://" + net.JoinHostPort(host, strconv.Itoa(r.Port)) + "/readyz"
	}
	if r.CheckInterval == 0 {
		r.CheckInterval = defaultCheckInterval
	}
	if r.TTL == 0 {
		r.TTL = defaultTTL
	}
	if r.DeregisterCriticalAfter == 0 {
		r.DeregisterCriticalAfter = defaultDeregisterCriticalAfter
	}
	if r.Resync == 0 {
		r.Resync = defaultResync
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// Registrar keeps one service instance registered with the local Consul agent. Run
// registers it and keeps its check and registration current until its context ends,
// then deregisters it; Drain takes it out of passing-only queries and DNS while it
// keeps serving. gantry.Run calls Drain, waits its drain delay, then cancels Run.
//
// A Registrar is safe for concurrent use; call Run once.
type Registrar struct {
	c     *api.Client
	ready Readiness
	r     Registration

	mu       sync.Mutex
	draining bool
	lastTTL  string
}

// NewRegistrar returns a Registrar for r over c. ready feeds the TTL check; nil
// means always ready. It fails with an error wrapping ErrInvalidRegistration (and,
// when Validate finds problems, a *config.Error naming each bad variable).
func NewRegistrar(c *api.Client, ready Readiness, r Registration) (*Registrar, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil *api.Client", ErrInvalidRegistration)
	}
	if err := config.Validate(r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRegistration, err)
	}
	if r.Name == "" || r.Port == 0 {
		return nil, fmt.Errorf("%w: a service name and port are required (DISCOVERY_SERVICE_NAME, DISCOVERY_SERVICE_PORT), got %q and %d",
			ErrInvalidRegistration, r.Name, r.Port)
	}
	return &Registrar{c: c, ready: ready, r: r.withDefaults()}, nil
}

// ID returns the instance ID the Registrar registers.
func (g *Registrar) ID() string { return g.r.ID }

// CheckID returns the ID of the instance's health check.
func (g *Registrar) CheckID() string { return "service:" + g.r.ID }

func (g *Registrar) isReady() bool { return g.ready == nil || g.ready.Ready() }

func (g *Registrar) registration() *api.AgentServiceRegistration {
	check := &api.AgentServiceCheck{
		CheckID:                        g.CheckID(),
		Name:                           g.r.Name + " readiness",
		DeregisterCriticalServiceAfter: g.r.DeregisterCriticalAfter.String(),
	}
	if g.r.Check == CheckHTTP {
		check.HTTP = g.r.CheckURL
		check.Method = http.MethodGet
		check.Interval = g.r.CheckInterval.String()
		check.Timeout = min(g.r.CheckInterval, 5*time.Second).String()
	} else {
		check.TTL = g.r.TTL.String()
		check.Status = api.HealthCritical
		if g.isReady() {
			check.Status = api.HealthPassing
		}
	}
	return &api.AgentServiceRegistration{
		ID:      g.r.ID,
		Name:    g.r.Name,
		Address: g.r.Address,
		Port:    g.r.Port,
		Tags:    g.r.Tags,
		Meta:    g.r.Meta,
		Check:   check,
	}
}

func (g *Registrar) register(ctx context.Context) error {
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := g.c.Agent().ServiceRegisterOpts(g.registration(), opts); err != nil {
		return fmt.Errorf("consul: registering %s: %w", g.r.ID, err)
	}
	g.mu.Lock()
	g.lastTTL = ""
	g.mu.Unlock()
	g.r.Logger.LogAttrs(ctx, slog.LevelInfo, "consul: registered", slog.String("service", g.r.Name), slog.String("id", g.r.ID),
		slog.String("address", g.r.Address), slog.Int("port", g.r.Port), slog.String("check", g.r.Check))
	return nil
}

// Run registers the instance, keeps it registered until ctx ends, then deregisters
// it (with its own 5s budget) and returns. With CheckTTL it reports the Readiness
// within CheckInterval of a change and at least every TTL/3; every Resync it
// registers the instance again if the agent lost it (restarted with empty state).
// It returns an error only if the final deregistration fails; failures while
// running are logged and retried.
func (g *Registrar) Run(ctx context.Context) error {
	registered := g.register(ctx) == nil
	attempt := 0
	tick := min(g.r.CheckInterval, g.r.TTL/3)
	if g.r.Check == CheckHTTP {
		tick = g.r.Resync
	}
	timer := time.NewTimer(tick)
	defer timer.Stop()
	lastResync, lastReport := time.Now(), time.Time{}
	for {
		if !registered {
			// Back off with jitter while the agent is unreachable: 0.5-1s, then up to 2-4s.
			attempt++
			d := min(time.Duration(1<<min(attempt-1, 2))*time.Second, 4*time.Second)
			timer.Reset(d/2 + rand.N(d/2))
		}
		select {
		case <-ctx.Done():
			return g.deregister(context.WithoutCancel(ctx))
		case <-timer.C:
		}
		if g.isDraining() {
			timer.Reset(tick)
			continue
		}
		if !registered {
			if registered = g.register(ctx) == nil; registered {
				attempt = 0
				lastResync = time.Now()
				timer.Reset(tick)
			} else {
				g.r.Logger.LogAttrs(ctx, slog.LevelWarn, "consul: registration failed, retrying", slog.String("id", g.r.ID), slog.Int("attempt", attempt))
			}
			continue
		}
		timer.Reset(tick)
		if g.r.Check == CheckTTL {
			sent, err := g.reportTTL(ctx, time.Since(lastReport) >= g.r.TTL/3)
			if err != nil {
				registered = g.resync(ctx)
				lastResync = time.Now()
				continue
			}
			if sent {
				// Only a report that reached the agent resets the TTL: counting skipped
				// ones would never force a refresh and let the check expire.
				lastReport = time.Now()
			}
		}
		if time.Since(lastResync) >= g.r.Resync {
			registered = g.resync(ctx)
			lastResync = time.Now()
		}
	}
}

// reportTTL sends the readiness to the TTL check if it changed or force is set, and
// reports whether it sent it.
func (g *Registrar) reportTTL(ctx context.Context, force bool) (bool, error) {
	status, output := api.HealthPassing, "ready"
	if !g.isReady() {
		status, output = api.HealthCritical, "not ready"
	}
	g.mu.Lock()
	same := status == g.lastTTL
	g.mu.Unlock()
	if same && !force {
		return false, nil
	}
	if err := g.c.Agent().UpdateTTLOpts(g.CheckID(), output, status, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return false, err
	}
	g.mu.Lock()
	g.lastTTL = status
	g.mu.Unlock()
	return true, nil
}

// resync registers the instance again if the agent does not know it, and reports
// whether it is registered.
func (g *Registrar) resync(ctx context.Context) bool {
	_, _, err := g.c.Agent().Service(g.r.ID, (&api.QueryOptions{}).WithContext(ctx))
	if err == nil {
		return true
	}
	var se api.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		g.r.Logger.LogAttrs(ctx, slog.LevelWarn, "consul: agent lost the registration, registering again", slog.String("id", g.r.ID))
		return g.register(ctx) == nil
	}
	return false
}

func (g *Registrar) isDraining() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.draining
}

// Drain takes the instance out of passing-only results while it keeps serving: it
// enables Consul maintenance mode for it and, with CheckTTL, marks its check
// critical. From then on Run no longer reports readiness or re-registers.
func (g *Registrar) Drain(ctx context.Context) error {
	g.mu.Lock()
	g.draining = true
	g.mu.Unlock()
	q := (&api.QueryOptions{}).WithContext(ctx)
	err := g.c.Agent().EnableServiceMaintenanceOpts(g.r.ID, "draining: shutting down", q)
	if g.r.Check == CheckTTL {
		err = errors.Join(err, g.c.Agent().UpdateTTLOpts(g.CheckID(), "draining", api.HealthCritical, q))
	}
	if err != nil {
		return fmt.Errorf("consul: draining %s: %w", g.r.ID, err)
	}
	g.r.Logger.LogAttrs(ctx, slog.LevelInfo, "consul: draining, instance in maintenance", slog.String("id", g.r.ID))
	return nil
}

func (g *Registrar) deregister(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := g.c.Agent().ServiceDeregisterOpts(g.r.ID, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("consul: deregistering %s: %w", g.r.ID, err)
	}
	g.r.Logger.LogAttrs(ctx, slog.LevelInfo, "consul: deregistered", slog.String("id", g.r.ID))
	return nil
}
