package resilience

import (
	"errors"
	"fmt"
	"github.com/gantry-go/gantry/observability"
	"net/http"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/transport"
)

// Default values of ClientSettings, used for zero fields.
const (
	defaultAttemptTimeout = 500 * time.Millisecond
	defaultRequestTimeout = 2 * time.Second
)

// ClientSettings configures the recommended client stack (see NewClientStack). The
// zero value gives every policy's defaults: 3 attempts with a 10% budget, a breaker
// per upstream host tripping on 5 consecutive failures, a 500ms per-attempt timeout
// and a 2s overall one, no client rate limit and no bulkhead. Nested settings keep
// their own variables (RETRY_*, BREAKER_*); the client's rate limit and bulkhead use
// the CLIENT_ prefix so they don't collide with the server's. It is a plain value,
// read once by NewClientStack.
type ClientSettings struct {
	Retry     RetrySettings
	Breaker   BreakerSettings
	RateLimit RateLimitSettings `envPrefix:"CLIENT_"`
	Bulkhead  BulkheadSettings  `envPrefix:"CLIENT_"`
	// BulkheadEnabled puts a per-host bulkhead below the breaker. Default false.
	BulkheadEnabled bool `env:"CLIENT_BULKHEAD_ENABLED"`
	// AttemptTimeout bounds each attempt, body included. Default 500ms, so that 3
	// attempts and their backoff fit the 2s RequestTimeout. Negative disables it.
	AttemptTimeout time.Duration `env:"CLIENT_ATTEMPT_TIMEOUT"`
	// RequestTimeout bounds a logical request, retries included, unless the caller's
	// context ends earlier. Default 2s. Negative disables it.
	RequestTimeout time.Duration `env:"CLIENT_REQUEST_TIMEOUT"`
	// BreakerKey chooses a request's breaker. Nil means KeyByHost: one breaker per
	// upstream. A gateway keys by upstream and route, so that one failing route does
	// not cut the others off.
	BreakerKey KeyFunc `env:"-"`
}

func (s ClientSettings) timeouts() (attempt, request time.Duration) {
	attempt, request = s.AttemptTimeout, s.RequestTimeout
	if attempt == 0 {
		attempt = defaultAttemptTimeout
	}
	if request == 0 {
		request = defaultRequestTimeout
	}
	return attempt, request
}

// Validate rejects unsafe combinations of the timeouts and the nested policies,
// naming the variables involved relative to ClientSettings (config.Load adds any
// prefix):
//   - attempts x AttemptTimeout + the backoff between them exceeds RequestTimeout (the
//     last attempts could never run to their timeout);
//   - AttemptTimeout exceeds RequestTimeout;
//   - the retry budget is disabled while retries are on (retry storms);
//   - the backoff cap is not shorter than RequestTimeout (retries could never run).
//
// It does not validate the nested settings on their own: config.Load and
// NewClientStack do that (see config.Validate).
func (s ClientSettings) Validate() error {
	var errs []error
	r := s.Retry.withDefaults()
	attempt, request := s.timeouts()
	if attempt > 0 && request > 0 {
		worst := time.Duration(r.MaxAttempts)*attempt + time.Duration(r.MaxAttempts-1)*r.MaxDelay
		if attempt > request {
			errs = append(errs, config.Invalid("CLIENT_ATTEMPT_TIMEOUT", "%v exceeds CLIENT_REQUEST_TIMEOUT (%v)", attempt, request))
		} else if worst > request {
			errs = append(errs, config.Invalid("RETRY_MAX_ATTEMPTS", "%d x CLIENT_ATTEMPT_TIMEOUT (%v) + backoff up to RETRY_MAX_DELAY (%v) = %v exceeds CLIENT_REQUEST_TIMEOUT (%v)",
				r.MaxAttempts, attempt, r.MaxDelay, worst, request))
		}
	}
	if request > 0 && r.MaxAttempts > 1 && r.MaxDelay >= request {
		errs = append(errs, config.Invalid("RETRY_MAX_DELAY", "%v must be shorter than CLIENT_REQUEST_TIMEOUT (%v)", r.MaxDelay, request))
	}
	if r.BudgetDisabled && r.MaxAttempts > 1 {
		errs = append(errs, config.Invalid("RETRY_BUDGET_DISABLED", "set with RETRY_MAX_ATTEMPTS > 1 lets retries multiply an outage's load; keep the budget"))
	}
	return errors.Join(errs...)
}

// ClientStack is the recommended client-side composition, built once and shared by
// every request to one or more upstreams. It is safe for concurrent use.
type ClientStack struct {
	Retry     *Retry
	Limiter   *RateLimiter
	Breakers  *BreakerSet
	Bulkhead  *Bulkhead // nil unless BulkheadEnabled
	attempt   time.Duration
	request   time.Duration
	rateLimit bool
}

// NewClientStack validates s and its nested settings (config.Validate) and builds
// the policies; the error matches config.ErrInvalid and names every bad variable.
// The limiter and bulkhead are keyed by the request's URL host (the logical upstream
// above a balancer), the breakers by s.BreakerKey.
func NewClientStack(name string, s ClientSettings, t observability.Instrumentation) (*ClientStack, error) {
	if err := config.Validate(s); err != nil {
		return nil, fmt.Errorf("resilience: client stack %q: %w", name, err)
	}
	breakerKey := s.BreakerKey
	if breakerKey == nil {
		breakerKey = KeyByHost
	}
	c := &ClientStack{
		Retry:     NewRetry(name, s.Retry, t),
		Limiter:   NewRateLimiter(name, s.RateLimit, KeyByHost, t),
		Breakers:  NewBreakerSet(name, s.Breaker, breakerKey, t),
		rateLimit: s.RateLimit.Rate > 0 || s.RateLimit.KeyRate > 0,
	}
	if s.BulkheadEnabled {
		c.Bulkhead = NewBulkhead(name, s.Bulkhead, KeyByHost, t)
	}
	c.attempt, c.request = s.timeouts()
	return c, nil
}

// Middleware returns the stack as client middleware, from the request timeout down to
// the attempt timeout; its place in a whole client is shown by the gantry package's
// ExampleNewClient (gantry.NewClient builds exactly that).
func (c *ClientStack) Middleware() func(http.RoundTripper) http.RoundTripper {
	mw := []func(http.RoundTripper) http.RoundTripper{Timeout(c.request), c.Retry.Client()}
	if c.rateLimit {
		mw = append(mw, c.Limiter.Client())
	}
	mw = append(mw, c.Breakers.Client())
	if c.Bulkhead != nil {
		mw = append(mw, c.Bulkhead.Client())
	}
	mw = append(mw, Timeout(c.attempt))
	return transport.ClientChain(mw...)
}

// Inspect adds the stack's policies to snap.
func (c *ClientStack) Inspect(snap *Snapshot) {
	c.Retry.Inspect(snap)
	if c.rateLimit {
		c.Limiter.Inspect(snap)
	}
	c.Breakers.Inspect(snap)
	if c.Bulkhead != nil {
		c.Bulkhead.Inspect(snap)
	}
}
