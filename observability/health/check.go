package health

import (
	"context"
	"errors"
	"time"

	"github.com/gantry-go/gantry/config"
)

// Role says which probes a check feeds. Roles combine with |. It is a plain value.
type Role uint8

const (
	// Liveness checks feed /livez. They must not call downstream services.
	Liveness Role = 1 << iota
	// Readiness checks feed /readyz and [Registry.Ready].
	Readiness
	// Startup checks feed /startupz (and gate readiness) until they have all passed
	// once.
	Startup
)

// String returns the role names joined by "|".
func (r Role) String() string {
	s := ""
	for _, x := range []struct {
		r Role
		n string
	}{{Liveness, "liveness"}, {Readiness, "readiness"}, {Startup, "startup"}} {
		if r&x.r != 0 {
			if s != "" {
				s += "|"
			}
			s += x.n
		}
	}
	return s
}

// Check is one named health check. It is a plain value; its Func is called from
// one goroutine at a time (the check's own loop in [Registry.Run]).
type Check struct {
	// Name identifies the check in responses; it must be unique in a registry.
	Name string
	// Roles says which probes the check feeds. Zero means Readiness.
	Roles Role
	// NonCritical checks are reported but never fail a probe. By default (false) a
	// check is critical.
	NonCritical bool
	// Timeout bounds one run of Func; zero means Settings.Timeout. A run that takes
	// longer is recorded as failed when the timeout expires.
	Timeout time.Duration
	// Interval is the time between the end of one run and the start of the next;
	// zero means Settings.Interval.
	Interval time.Duration
	// Func runs the check. It returns nil when healthy and must honour ctx, whose
	// deadline is Timeout. A panic is recovered and recorded as a failure.
	Func func(ctx context.Context) error
}

// Default values of Settings, used for zero (and negative) fields.
const (
	defaultInterval = 10 * time.Second
	defaultTimeout  = 2 * time.Second
)

// Settings tune a [Registry]. The zero value works: checks run every 10s with a 2s
// timeout. It is a plain value.
type Settings struct {
	// Interval is the default time between runs of a check. Default 10s.
	Interval time.Duration `env:"HEALTH_CHECK_INTERVAL" desc:"Default time between two runs of a health check."`
	// Timeout is the default bound on one run of a check. Default 2s.
	Timeout time.Duration `env:"HEALTH_CHECK_TIMEOUT" desc:"Default timeout of one run of a health check."`
}

// Validate reports negative durations.
func (s Settings) Validate() error {
	var errs []error
	if s.Interval < 0 {
		errs = append(errs, config.Invalid("HEALTH_CHECK_INTERVAL", "must not be negative, got %v", s.Interval))
	}
	if s.Timeout < 0 {
		errs = append(errs, config.Invalid("HEALTH_CHECK_TIMEOUT", "must not be negative, got %v", s.Timeout))
	}
	return errors.Join(errs...)
}

// Errors recorded for checks that could not run.
var (
	// ErrInvalidCheck is recorded as the result of a check with no name, a nil Func
	// or a duplicate name; such a check always fails.
	ErrInvalidCheck = errors.New("health: invalid check")
	// ErrTimeout is recorded when a check does not return within its timeout.
	ErrTimeout = errors.New("health: check timed out")
	// ErrPanic is recorded when a check panics.
	ErrPanic = errors.New("health: check panicked")
	// ErrRunning is returned by Run when the registry is already running.
	ErrRunning = errors.New("health: registry already running")
)
