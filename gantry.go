package gantry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"time"

	"github.com/gantry-go/gantry/config"
)

// Runner is a background component: Run blocks until ctx is cancelled, cleans up, and
// returns after its goroutines have exited. A nil or context.Canceled error after
// cancellation is a clean stop.
type Runner interface {
	Run(ctx context.Context) error
}

// Drainer is told at the very start of shutdown that the process is going away: a
// health registry makes /readyz answer 503, a service registrar marks the instance
// critical or in maintenance. Drain must return quickly.
type Drainer interface {
	Drain(ctx context.Context) error
}

// Shutdowner flushes and closes something at the end of shutdown, typically the
// telemetry providers.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// RunnerFunc adapts a function to Runner. The func adapters are as safe for
// concurrent use as their functions are.
type RunnerFunc func(ctx context.Context) error

// Run calls f(ctx).
func (f RunnerFunc) Run(ctx context.Context) error { return f(ctx) }

// DrainerFunc adapts a function to Drainer.
type DrainerFunc func(ctx context.Context) error

// Drain calls f(ctx).
func (f DrainerFunc) Drain(ctx context.Context) error { return f(ctx) }

// ShutdownerFunc adapts a function to Shutdowner.
type ShutdownerFunc func(ctx context.Context) error

// Shutdown calls f(ctx).
func (f ShutdownerFunc) Shutdown(ctx context.Context) error { return f(ctx) }

// Server is an HTTP server for Run to serve and shut down. Hand each *http.Server to
// one Run only: Run changes its BaseContext and keep-alive setting, and an
// http.Server cannot be reused after Shutdown.
type Server struct {
	// Server is required. Run sets its BaseContext (wrapping any the caller set) so
	// that shutdown can cancel the contexts of requests still running.
	Server *http.Server
	// Listener is the listener to serve on; nil means listen on TCP at Server.Addr
	// (":http" when empty). Run owns it: it is closed when Run returns, even when Run
	// fails before serving.
	Listener net.Listener
}

// Default values of Settings, used for zero fields.
const (
	defaultDrainDelay = 3 * time.Second
	defaultTimeout    = 20 * time.Second
)

// Settings tunes the shutdown sequence. The zero value is valid: zero fields take the
// defaults in their comments. It is a plain value, safe to share. Keep Timeout below
// the orchestrator's grace period (Kubernetes terminationGracePeriodSeconds, default
// 30s; compose stop_grace_period, default 10s, so raise it) so the process exits
// before it is killed.
type Settings struct {
	// DrainDelay is how long Run waits after draining before it deregisters and stops
	// accepting connections, so that load balancers and discovery watchers notice the
	// failing readiness first. Negative means no wait. Default 3s.
	DrainDelay time.Duration `env:"SHUTDOWN_DRAIN_DELAY"`
	// Timeout is the whole grace budget, from the signal to the end of the background
	// stop; telemetry flushing then gets what remains, at least one second. Default 20s.
	Timeout time.Duration `env:"SHUTDOWN_TIMEOUT"`
}

// Validate reports every invalid field at once, each naming its environment variable.
func (s Settings) Validate() error {
	var errs []error
	if s.Timeout < 0 {
		errs = append(errs, config.Invalid("SHUTDOWN_TIMEOUT", "%v is negative", s.Timeout))
	}
	if d, t := s.drainDelay(), s.timeout(); s.Timeout >= 0 && d >= t {
		errs = append(errs, config.Invalid("SHUTDOWN_DRAIN_DELAY", "%v leaves nothing of SHUTDOWN_TIMEOUT %v for the shutdown itself", d, t))
	}
	return errors.Join(errs...)
}

func (s Settings) drainDelay() time.Duration {
	switch {
	case s.DrainDelay == 0:
		return defaultDrainDelay
	case s.DrainDelay < 0:
		return 0
	}
	return s.DrainDelay
}

func (s Settings) timeout() time.Duration {
	if s.Timeout == 0 {
		return defaultTimeout
	}
	return s.Timeout
}

// Options is what Run starts and stops. Every field is optional; Run with no servers
// and no components just waits for a signal or ctx. Run reads Options once and does
// not keep it after it returns; the components in it must be safe to call from Run's
// goroutines (each Runner runs in its own goroutine).
type Options struct {
	// Logger receives one line per shutdown phase. Nil discards.
	Logger *slog.Logger
	// Servers are served until shutdown: typically the API server of NewServer and
	// the admin server of NewAdmin.
	Servers []Server
	// Registrars run until phase 3 of shutdown; cancelling them deregisters. A
	// registrar that is also a Drainer is drained in phase 1. Nil entries, typed nil
	// pointers included, are skipped.
	Registrars []Runner
	// Components are named once each, whatever they do: Run drains every Drainer in
	// phase 1, runs every Runner until the HTTP servers have shut down (so in-flight
	// requests can still use them), and shuts every Shutdowner down last (so telemetry
	// records the whole shutdown). A health registry, both a Drainer and a Runner, is
	// listed once. Nil entries, typed nil pointers included, are skipped; an entry that
	// is none of the three is an error.
	Components []any
	// Settings tunes the drain delay and the grace budget.
	Settings Settings
	// Signals, when set, is where Run reads shutdown signals from instead of
	// subscribing to SIGINT and SIGTERM itself. Tests use it to avoid signalling the
	// test process.
	Signals <-chan os.Signal
}

// Errors returned by Run.
var (
	// ErrSecondSignal: a second signal arrived during shutdown, so Run stopped waiting
	// and closed everything at once.
	ErrSecondSignal = errors.New("gantry: second signal, shutdown abandoned")
	// ErrGraceExceeded: some component had not stopped when the grace budget ran out.
	ErrGraceExceeded = errors.New("gantry: shutdown grace budget exceeded")
	// ErrInvalidOptions: Options has a nil server or a component Run cannot use.
	ErrInvalidOptions = errors.New("gantry: invalid options")
)

// parts are the components of Options sorted by what Run does with them.
type parts struct {
	drainers    []Drainer
	registrars  []Runner
	background  []Runner
	shutdowners []Shutdowner
}

// sort validates o and sorts its components, skipping nil ones.
func (o *Options) sort() (parts, error) {
	var (
		p    parts
		errs []error
	)
	if err := o.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	for i, s := range o.Servers {
		if s.Server == nil {
			errs = append(errs, fmt.Errorf("%w: Servers[%d].Server is nil", ErrInvalidOptions, i))
		}
	}
	for _, r := range o.Registrars {
		if isNil(r) {
			continue
		}
		p.registrars = append(p.registrars, r)
		if d, ok := r.(Drainer); ok {
			p.drainers = append(p.drainers, d)
		}
	}
	for i, c := range o.Components {
		if isNil(c) {
			continue
		}
		d, isDrainer := c.(Drainer)
		r, isRunner := c.(Runner)
		s, isShutdowner := c.(Shutdowner)
		if !isDrainer && !isRunner && !isShutdowner {
			errs = append(errs, fmt.Errorf("%w: Components[%d] (%T) is neither a Drainer, a Runner nor a Shutdowner", ErrInvalidOptions, i, c))
			continue
		}
		if isDrainer {
			p.drainers = append(p.drainers, d)
		}
		if isRunner {
			p.background = append(p.background, r)
		}
		if isShutdowner {
			p.shutdowners = append(p.shutdowners, s)
		}
	}
	return p, errors.Join(errs...)
}

// isNil reports whether x is nil or a nil pointer, map, func, slice or channel in
// an interface, as an unset optional component is.
func isNil(x any) bool {
	if x == nil {
		return true
	}
	switch v := reflect.ValueOf(x); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Slice, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}
