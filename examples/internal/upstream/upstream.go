// Package upstream builds the HTTP client that the shop's cart and gateway use to call
// other services, composing the library's client middleware in the one documented
// order (STYLE.md #6):
//
//	trace -> attempt memory -> retry (with budget) -> breaker per upstream ->
//	per-attempt timeout -> deadline and request-id headers -> discovery balancer -> transport
//
// URLs name services, not hosts: http://catalog/products is sent to an instance of
// "catalog" picked by discovery's balancer.
package upstream

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// Settings configures the client stack. The zero value works: each part takes its
// package's defaults.
type Settings struct {
	Client   transport.ClientSettings   // HTTP_CLIENT_*
	Retry    resilience.RetrySettings   // RETRY_*
	Breaker  resilience.BreakerSettings // BREAKER_*
	Balancer discovery.BalancerSettings // BALANCER_*
	// AttemptTimeout bounds one attempt (the whole call is bounded by the caller's
	// deadline and Client.Timeout). Default 2s.
	AttemptTimeout time.Duration `env:"UPSTREAM_ATTEMPT_TIMEOUT" envDefault:"2s"`
}

// Validate reports every invalid field, each naming its environment variable.
func (s Settings) Validate() error {
	var errs []error
	errs = append(errs, s.Client.Validate(), s.Retry.Validate(), s.Breaker.Validate(), s.Balancer.Validate())
	if s.AttemptTimeout < 0 {
		errs = append(errs, errors.New("UPSTREAM_ATTEMPT_TIMEOUT: must not be negative"))
	}
	return errors.Join(errs...)
}

// Stack is a built client with handles on its stateful parts, for debug handlers
// and tests. It is safe for concurrent use.
type Stack struct {
	// Client sends requests through the whole chain.
	Client *http.Client
	// Breakers holds one circuit breaker per upstream service name.
	Breakers *resilience.BreakerSet
	// Retry is the retry policy and its budget.
	Retry *resilience.Retry
	// Discovery is the resolving, balancing RoundTripper.
	Discovery *discovery.Transport
	base      *http.Transport
}

// New builds the client stack for the service named name, resolving upstreams
// through r. inst carries the tracer and meter providers (zero value: none); logger
// may be nil.
func New(name string, s Settings, r discovery.Resolver, inst observability.Instrumentation, logger *slog.Logger) *Stack {
	if s.AttemptTimeout == 0 {
		s.AttemptTimeout = 2 * time.Second
	}
	tel := resilience.Telemetry{Logger: logger, MeterProvider: inst.MeterProvider}
	base := transport.NewTransport(s.Client)
	dt := discovery.NewTransport(r, base, s.Balancer)
	breakers := resilience.NewBreakerSet(name+"-upstream", s.Breaker, resilience.KeyByHost, tel)
	retry := resilience.NewRetry(name+"-upstream", s.Retry, tel)
	chain := transport.ClientChain(
		observability.Transport(inst),
		discovery.RememberAttempts,
		retry.Client(),
		breakers.Client(),
		resilience.Timeout(s.AttemptTimeout),
		transport.PropagateDeadline(),
		transport.PropagateRequestID(),
	)
	timeout := s.Client.Timeout
	if timeout == 0 {
		timeout = transport.DefaultClientTimeout
	}
	if timeout < 0 {
		timeout = 0
	}
	return &Stack{
		Client:    &http.Client{Transport: chain(dt), Timeout: timeout},
		Breakers:  breakers,
		Retry:     retry,
		Discovery: dt,
		base:      base,
	}
}

// Close releases the balancers and idle connections.
func (s *Stack) Close() {
	s.Discovery.Close()
	s.base.CloseIdleConnections()
}

// DebugHandler serves the stack's resilience state as JSON: every breaker's state
// and counts, and the retry budget. Mount it at /debug/resilience. It is safe for
// concurrent use.
func DebugHandler(s *Stack) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state := struct {
			Breakers []resilience.BreakerState `json:"breakers"`
			Budget   any                       `json:"retry_budget,omitempty"`
		}{Breakers: s.Breakers.Snapshot()}
		if b := s.Retry.Budget(); b != nil {
			state.Budget = b.Snapshot()
		}
		_ = transport.WriteJSON(w, http.StatusOK, state)
	})
}
