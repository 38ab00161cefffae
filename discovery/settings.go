package discovery

import (
	"errors"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/gantry-go/gantry/config"
)

// Balancing policies.
const (
	// PolicyP2C picks the cheaper of two random endpoints, by peak-EWMA latency
	// times in-flight requests ("power of two choices").
	PolicyP2C = "p2c"
	// PolicyRoundRobin cycles through the endpoints.
	PolicyRoundRobin = "round_robin"
)

// Default values of BalancerSettings, used for zero fields.
const (
	defaultPolicy            = PolicyP2C
	defaultEjectAfter        = 5
	defaultEjectBase         = 30 * time.Second
	defaultEjectMax          = 5 * time.Minute
	defaultMaxEjectedPercent = 50
	defaultSlowStart         = 10 * time.Second
	defaultFailurePenalty    = time.Second
	defaultDecay             = 10 * time.Second
)

// BalancerSettings configures a Balancer. The zero value works: every zero field
// takes the default documented on it.
type BalancerSettings struct {
	// Policy is PolicyP2C ("p2c") or PolicyRoundRobin ("round_robin"). Default p2c.
	Policy string `env:"BALANCER_POLICY"`
	// EjectAfter is the number of consecutive failures (transport.Failure or
	// transport.Overloaded) after which an endpoint is ejected. Default 5; negative
	// disables outlier ejection.
	EjectAfter int `env:"BALANCER_EJECT_AFTER"`
	// EjectBase is the first ejection's length. The n-th ejection in a row lasts
	// n × EjectBase, capped at EjectMax. An endpoint that stayed healthy for EjectMax
	// after its last ejection starts again at EjectBase. Default 30s.
	EjectBase time.Duration `env:"BALANCER_EJECT_BASE"`
	// EjectMax caps one ejection's length. Default 5m.
	EjectMax time.Duration `env:"BALANCER_EJECT_MAX"`
	// MaxEjectedPercent caps the share of a service's endpoints that may be ejected
	// at once, so that a bad signal cannot empty the pool. At least one endpoint may
	// be ejected when there are two or more, and the last one never is. Default 50.
	MaxEjectedPercent int `env:"BALANCER_MAX_EJECTED_PERCENT"`
	// SlowStart is how long an endpoint that appears after the first snapshot (or
	// returns from ejection) takes to ramp from 10% to a full share of traffic.
	// Default 10s; negative disables slow start.
	SlowStart time.Duration `env:"BALANCER_SLOW_START"`
	// FailurePenalty is the latency a failed or overloaded (429/503) response counts
	// as in the EWMA when it came back faster, so that an instance failing fast does
	// not draw more traffic. Default 1s.
	FailurePenalty time.Duration `env:"BALANCER_FAILURE_PENALTY"`
	// Decay is the time constant of the latency EWMA. Default 10s.
	Decay time.Duration `env:"BALANCER_EWMA_DECAY"`
	// MeterProvider receives the discovery.balancer.ejections counter (attributes
	// service and instance; 0 from the instance's first appearance); nil means no
	// metrics.
	MeterProvider metric.MeterProvider `env:"-"`
}

// Validate reports settings that are out of range, each naming its env variable.
func (s BalancerSettings) Validate() error {
	var errs []error
	if s.Policy != "" && s.Policy != PolicyP2C && s.Policy != PolicyRoundRobin {
		errs = append(errs, config.Invalid("BALANCER_POLICY", "%q is not %q or %q", s.Policy, PolicyP2C, PolicyRoundRobin))
	}
	if s.EjectBase < 0 {
		errs = append(errs, config.Invalid("BALANCER_EJECT_BASE", "%v is negative", s.EjectBase))
	}
	if s.EjectMax < 0 {
		errs = append(errs, config.Invalid("BALANCER_EJECT_MAX", "%v is negative", s.EjectMax))
	}
	if d := s.withDefaults(); d.EjectMax < d.EjectBase {
		errs = append(errs, config.Invalid("BALANCER_EJECT_MAX", "%v is below BALANCER_EJECT_BASE %v", d.EjectMax, d.EjectBase))
	}
	if s.MaxEjectedPercent < 0 || s.MaxEjectedPercent > 100 {
		errs = append(errs, config.Invalid("BALANCER_MAX_EJECTED_PERCENT", "%d is not within 0-100", s.MaxEjectedPercent))
	}
	if s.FailurePenalty < 0 {
		errs = append(errs, config.Invalid("BALANCER_FAILURE_PENALTY", "%v is negative", s.FailurePenalty))
	}
	if s.Decay < 0 {
		errs = append(errs, config.Invalid("BALANCER_EWMA_DECAY", "%v is negative", s.Decay))
	}
	return errors.Join(errs...)
}

func (s BalancerSettings) withDefaults() BalancerSettings {
	if s.Policy == "" {
		s.Policy = defaultPolicy
	}
	if s.EjectAfter == 0 {
		s.EjectAfter = defaultEjectAfter
	}
	if s.EjectBase == 0 {
		s.EjectBase = defaultEjectBase
	}
	if s.EjectMax == 0 {
		s.EjectMax = defaultEjectMax
	}
	if s.MaxEjectedPercent == 0 {
		s.MaxEjectedPercent = defaultMaxEjectedPercent
	}
	if s.SlowStart == 0 {
		s.SlowStart = defaultSlowStart
	}
	if s.FailurePenalty == 0 {
		s.FailurePenalty = defaultFailurePenalty
	}
	if s.Decay == 0 {
		s.Decay = defaultDecay
	}
	return s
}
