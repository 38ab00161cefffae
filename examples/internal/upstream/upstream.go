// Package upstream builds the HTTP client that the shop's cart and gateway use to call
// other services, composing the library's client middleware in the one documented
// order (STYLE.md #6):
//
//	trace -> attempt memory -> request timeout -> retry (with budget) ->
//	breaker per upstream -> per-attempt timeout -> deadline and request-id headers ->
//	discovery balancer -> transport
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
	Client     transport.ClientSettings   // HTTP_CLIENT_*
	Resilience resilience.ClientSettings  // RETRY_*, BREAKER_*, CLIENT_ATTEMPT_TIMEOUT, CLIENT_REQUEST_TIMEOUT, ...
	Balancer   discovery.BalancerSettings // BALANCER_*
	// BreakerKey chooses the breaker of a request. Nil means one breaker per upstream
	// (resilience.KeyByHost); the gateway keys by upstream and route, so that one
	// failing route does not cut the others off.
	BreakerKey resilience.KeyFunc `env:"-"`
}

// Validate reports every invalid field, each naming its environment variable.
func (s Settings) Validate() error {
	return errors.Join(s.Client.Validate(), s.Resilience.Validate(), s.Balancer.Validate())
}

// Stack is a built client with handles on its stateful parts, for debug handlers
// and tests. It is safe for concurrent use.
type Stack struct {
	// Client sends requests through the whole chain.
	Client *http.Client
	// Retry is the retry policy and its budget.
	Retry *resilience.Retry
	// Breakers holds the circuit breakers, one per upstream (or per BreakerKey).
	Breakers *resilience.BreakerSet
	// Discovery is the resolving, balancing RoundTripper.
	Discovery *discovery.Router
	base      *http.Transport
}

// New builds the client stack for the service named name, resolving upstreams
// through r. inst carries the tracer and meter providers (zero value: none); logger
// may be nil. It fails when s is invalid.
func New(name string, s Settings, r discovery.Resolver, inst observability.Instrumentation, logger *slog.Logger) (*Stack, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	tel := observability.Instrumentation{Logger: logger, MeterProvider: inst.MeterProvider, TracerProvider: inst.TracerProvider}
	rs, err := resilience.NewClientStack(name+"-upstream", s.Resilience, tel)
	if err != nil {
		return nil, err
	}
	policies := rs.Middleware() // request timeout -> retry (budget) -> breaker per upstream -> attempt timeout
	breakers := rs.Breakers
	if s.BreakerKey != nil {
		// The same order, with breakers keyed by s.BreakerKey.
		breakers = resilience.NewBreakerSet(name+"-upstream", s.Resilience.Breaker, s.BreakerKey, tel)
		attempt, request := s.Resilience.AttemptTimeout, s.Resilience.RequestTimeout
		if attempt == 0 {
			attempt = 500 * time.Millisecond
		}
		if request == 0 {
			request = 2 * time.Second
		}
		policies = transport.ClientChain(resilience.Timeout(request), rs.Retry.Client(), breakers.Client(), resilience.Timeout(attempt))
	}
	base := transport.NewRoundTripper(s.Client)
	dt := discovery.NewRouter(r, base, s.Balancer)
	chain := transport.ClientChain(
		observability.Client(inst),
		discovery.RememberAttempts(),
		policies,
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
	return &Stack{Client: &http.Client{Transport: chain(dt), Timeout: timeout}, Retry: rs.Retry, Breakers: breakers,
		Discovery: dt, base: base}, nil
}

var _ resilience.Inspectable = (*Stack)(nil)

// Inspect adds the retry budget and the breakers to snap, for
// resilience.DebugHandler.
func (s *Stack) Inspect(snap *resilience.Snapshot) {
	s.Retry.Inspect(snap)
	s.Breakers.Inspect(snap)
}

// Close releases the balancers and idle connections.
func (s *Stack) Close() {
	s.Discovery.Close()
	s.base.CloseIdleConnections()
}
