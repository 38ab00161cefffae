package resilience

import (
	"context"
	"errors"
	"fmt"
	"github.com/gantry-go/gantry/observability"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/transport"
)

// Default values of RetrySettings, used for zero fields.
const (
	defaultMaxAttempts        = 3
	defaultBaseDelay          = 25 * time.Millisecond
	defaultMaxDelay           = 250 * time.Millisecond
	defaultMaxRetryAfter      = time.Second
	defaultMinAttemptTime     = 10 * time.Millisecond
	defaultBudgetRatio        = 0.1
	defaultBudgetMinPerSecond = 3
	defaultBudgetMaxBanked    = 10
)

// RetrySettings configures a Retry. The zero value gives the defaults below
// (docs/resilience.md says where they come from). It is a plain value, read once at
// construction.
type RetrySettings struct {
	// MaxAttempts is the number of attempts per request, the first included. Default
	// 3. 1 disables retries.
	MaxAttempts int `env:"RETRY_MAX_ATTEMPTS"`
	// BaseDelay is the backoff base: retry n waits a random time in
	// [0, BaseDelay*(2^n-1)) (full jitter). Default 25ms.
	BaseDelay time.Duration `env:"RETRY_BASE_DELAY"`
	// MaxDelay caps the backoff. Default 250ms.
	MaxDelay time.Duration `env:"RETRY_MAX_DELAY"`
	// MaxRetryAfter is the longest Retry-After a retry waits for when the request has
	// no deadline; with a deadline, the deadline decides. Longer waits return the
	// response instead. Default 1s.
	MaxRetryAfter time.Duration `env:"RETRY_MAX_RETRY_AFTER"`
	// MinAttemptTime is the least deadline an attempt needs: a retry never starts
	// when less than this is left after its backoff. Default 10ms.
	MinAttemptTime time.Duration `env:"RETRY_MIN_ATTEMPT_TIME"`
	// BudgetRatio is the share of requests that may be retried. Default 0.1.
	BudgetRatio float64 `env:"RETRY_BUDGET_RATIO"`
	// BudgetMinPerSecond is the floor of retries per second allowed whatever the
	// ratio, so that a client with little traffic can still retry. Default 3.
	BudgetMinPerSecond float64 `env:"RETRY_BUDGET_MIN_PER_SECOND"`
	// BudgetMaxBanked caps the retry credit saved during calm periods. Default 10.
	BudgetMaxBanked int `env:"RETRY_BUDGET_MAX_BANKED"`
	// BudgetDisabled turns the budget off: only MaxAttempts limits retries. Use it in
	// tests, never in production, where it lets retries triple an outage's load.
	// Default false.
	BudgetDisabled bool `env:"RETRY_BUDGET_DISABLED"`
}

func (s RetrySettings) withDefaults() RetrySettings {
	if s.MaxAttempts == 0 {
		s.MaxAttempts = defaultMaxAttempts
	}
	if s.BaseDelay == 0 {
		s.BaseDelay = defaultBaseDelay
	}
	if s.MaxDelay == 0 {
		s.MaxDelay = defaultMaxDelay
	}
	if s.MaxRetryAfter == 0 {
		s.MaxRetryAfter = defaultMaxRetryAfter
	}
	if s.MinAttemptTime == 0 {
		s.MinAttemptTime = defaultMinAttemptTime
	}
	if s.BudgetRatio == 0 {
		s.BudgetRatio = defaultBudgetRatio
	}
	if s.BudgetMinPerSecond == 0 {
		s.BudgetMinPerSecond = defaultBudgetMinPerSecond
	}
	if s.BudgetMaxBanked == 0 {
		s.BudgetMaxBanked = defaultBudgetMaxBanked
	}
	return s
}

// Validate reports settings that cannot work, naming their environment variables.
func (s RetrySettings) Validate() error {
	var errs []error
	if s.MaxAttempts < 0 {
		errs = append(errs, config.Invalid("RETRY_MAX_ATTEMPTS", "must not be negative, got %d", s.MaxAttempts))
	}
	if s.MaxAttempts > 10 {
		errs = append(errs, config.Invalid("RETRY_MAX_ATTEMPTS", "must be at most 10 (retry storms), got %d", s.MaxAttempts))
	}
	if s.BaseDelay < 0 {
		errs = append(errs, config.Invalid("RETRY_BASE_DELAY", "must not be negative, got %v", s.BaseDelay))
	}
	if s.MaxDelay < 0 {
		errs = append(errs, config.Invalid("RETRY_MAX_DELAY", "must not be negative, got %v", s.MaxDelay))
	}
	if d := s.withDefaults(); d.BaseDelay > 0 && d.MaxDelay > 0 && d.MaxDelay < d.BaseDelay {
		if s.MaxDelay == 0 {
			errs = append(errs, config.Invalid("RETRY_BASE_DELAY", "%v must not exceed RETRY_MAX_DELAY (%v, the default)", d.BaseDelay, d.MaxDelay))
		} else {
			errs = append(errs, config.Invalid("RETRY_MAX_DELAY", "%v must not be below RETRY_BASE_DELAY (%v)", d.MaxDelay, d.BaseDelay))
		}
	}
	if s.BudgetRatio < 0 || s.BudgetRatio > 1 {
		errs = append(errs, config.Invalid("RETRY_BUDGET_RATIO", "must be within [0, 1], got %v", s.BudgetRatio))
	}
	if s.BudgetMinPerSecond < 0 {
		errs = append(errs, config.Invalid("RETRY_BUDGET_MIN_PER_SECOND", "must not be negative, got %v", s.BudgetMinPerSecond))
	}
	if s.BudgetMaxBanked < 0 {
		errs = append(errs, config.Invalid("RETRY_BUDGET_MAX_BANKED", "must not be negative, got %v", s.BudgetMaxBanked))
	}
	return errors.Join(errs...)
}

// Retry retries failed calls that are safe to repeat, with exponential backoff and
// full jitter, within the call's deadline and a retry retryBudget. Only outcomes that
// transport.Outcome.Retryable allows are retried (429, 503, other 5xx, 408, transport
// errors and timeouts); local rejections by other policies (an open breaker) and
// responses marked transport.HeaderRetryExhausted are not. A 429 or 503 with
// Retry-After waits at least that long, if the deadline allows.
//
// Over HTTP, a request is retried only when transport.Idempotent says so (idempotent
// method or Idempotency-Key), or when it never reached the upstream
// (transport.IsConnectionError: the dial failed), and only when its body can be
// replayed (no body, or GetBody set).
// Each retry carries transport.HeaderAttempt, and when the Retry gives up on a
// retryable failure, the response gets transport.HeaderRetryExhausted and the serving
// request (under MarkRetryExhausted) is flagged.
//
// With a MeterProvider, each retry the budget refuses adds 1 to resilience.rejections
// (resilience.policy "retry").
//
// A Retry is safe for concurrent use.
type Retry struct {
	name    string
	s       RetrySettings
	budget  *retryBudget
	rejects rejectCounter // retries the budget refused
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	// attemptHeader[n] is the prebuilt value of HeaderAttempt for retry n.
	attemptHeader [][]string
}

// NewRetry returns a retry policy with its own budget.
func NewRetry(name string, s RetrySettings, t observability.Instrumentation) *Retry {
	s = s.withDefaults()
	r := &Retry{name: name, s: s}
	if !s.BudgetDisabled {
		r.budget = newBudget(name, s.BudgetRatio, s.BudgetMinPerSecond, s.BudgetMaxBanked)
		r.rejects = newRejectCounter(t, "retry", name)
	}
	if t.TracerProvider != nil {
		r.tracer = t.TracerProvider.Tracer(instrumentationName)
		r.prop = t.Propagator
	}
	r.attemptHeader = make([][]string, max(s.MaxAttempts, 1))
	for i := range r.attemptHeader {
		r.attemptHeader[i] = []string{strconv.Itoa(i)}
	}
	return r
}

// retryBudget returns the retry budget, nil when disabled.

// backoff returns the full-jitter delay before retry n (n >= 1).
func (r *Retry) backoff(n int) time.Duration {
	ceil := r.s.MaxDelay
	if n < 30 {
		if d := r.s.BaseDelay * time.Duration(1<<n-1); d > 0 && d < ceil {
			ceil = d
		}
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil)))
}

// verdict says whether a retry may happen and, if not, why.
type verdict uint8

const (
	retryOK verdict = iota
	retryNoAttemptsLeft
	retryNoTime
	retryNoBudget
)

// plan returns the delay before retry n (n >= 1), or why it must not happen.
// retryAfter is the upstream's Retry-After (0 if none).
func (r *Retry) plan(ctx context.Context, n int, retryAfter time.Duration) (time.Duration, verdict) {
	if n >= r.s.MaxAttempts {
		return 0, retryNoAttemptsLeft
	}
	delay := r.backoff(n)
	if retryAfter > delay {
		delay = retryAfter
	}
	if dl, ok := ctx.Deadline(); ok {
		if time.Until(dl) < delay+r.s.MinAttemptTime {
			return 0, retryNoTime
		}
	} else if retryAfter > r.s.MaxRetryAfter {
		return 0, retryNoTime
	}
	if r.budget != nil && !r.budget.tryRetry() {
		r.rejects.add(ctx)
		return 0, retryNoBudget
	}
	return delay, retryOK
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// Client returns client middleware that retries round trips.
func (r *Retry) Client() func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) { return r.roundTrip(next, req) })
	}
}

func (r *Retry) roundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	if r.budget != nil {
		r.budget.onRequest()
	}
	if r.s.MaxAttempts <= 1 || !replayable(req) {
		return r.attempt(next, req, 0)
	}
	safe := transport.Idempotent(req)
	resp, err := r.attempt(next, req, 0)
	ctx := req.Context()
	for n := 1; ; n++ {
		if err != nil && isRejection(err) {
			return resp, err
		}
		// A request that is not safe to repeat is only sent again when it never
		// reached the upstream (the dial failed).
		if !safe && (err == nil || !transport.IsConnectionError(err)) {
			return resp, err
		}
		if !transport.Classify(resp, err).Retryable() || transport.RetryExhausted(resp) {
			return resp, err
		}
		var retryAfter time.Duration
		if resp != nil {
			retryAfter, _ = transport.ParseRetryAfter(resp.Header.Get(transport.HeaderRetryAfter), time.Now())
		}
		delay, v := r.plan(ctx, n, retryAfter)
		if v != retryOK {
			if v == retryNoBudget && err != nil {
				err = fmt.Errorf("%w (%w)", err, ErrBudgetExhausted) // as Do does
			}
			return exhausted(ctx, resp), err
		}
		if serr := sleep(ctx, delay); serr != nil {
			return resp, err // the caller gave up; hand back what we have
		}
		nreq := req.Clone(ctx)
		if req.GetBody != nil {
			body, berr := req.GetBody()
			if berr != nil {
				return exhausted(ctx, resp), err
			}
			nreq.Body = body
		}
		nreq.Header[transport.HeaderAttempt] = r.attemptHeader[n]
		discard(resp)
		resp, err = r.attempt(next, nreq, n)
	}
}

// exhausted marks resp and the serving request as retried to exhaustion.
func exhausted(ctx context.Context, resp *http.Response) *http.Response {
	markExhausted(ctx)
	if resp != nil {
		if resp.Header == nil {
			resp.Header = make(http.Header)
		}
		resp.Header.Set(transport.HeaderRetryExhausted, "1")
	}
	return resp
}

// discard drains a little of resp's body, so the connection can be reused, and
// closes it.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
}

// attempt runs one attempt, in its own client span when tracing is on.
func (r *Retry) attempt(next http.RoundTripper, req *http.Request, n int) (*http.Response, error) {
	if r.tracer == nil {
		return next.RoundTrip(req)
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", req.URL.Hostname()),
		attribute.String("url.full", req.URL.Redacted()),
	}
	if n > 0 {
		attrs = append(attrs, attribute.Int("http.request.resend_count", n))
	}
	ctx, span := r.tracer.Start(req.Context(), req.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	if r.prop != nil {
		req = req.Clone(ctx)
		r.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	} else {
		req = req.WithContext(ctx)
	}
	resp, err := next.RoundTrip(req)
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, "round trip failed")
	default:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 500 {
			span.SetStatus(codes.Error, "")
		}
	}
	return resp, err
}

// Do calls fn until it succeeds, fails with an outcome that is not retryable, or the
// attempts, the deadline or the budget run out. fn must be safe to repeat. When the
// budget denied a retry, the last error is joined with ErrBudgetExhausted.
func (r *Retry) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	if r.budget != nil {
		r.budget.onRequest()
	}
	err := fn(ctx)
	for n := 1; err != nil; n++ {
		if isRejection(err) || !classifyErr(err).Retryable() {
			return err
		}
		var retryAfter time.Duration
		var ra transport.RetryAfterer
		if errors.As(err, &ra) {
			retryAfter = ra.RetryAfter()
		}
		delay, v := r.plan(ctx, n, retryAfter)
		if v != retryOK {
			markExhausted(ctx)
			if v == retryNoBudget {
				return fmt.Errorf("%w (%w)", err, ErrBudgetExhausted)
			}
			return err
		}
		if serr := sleep(ctx, delay); serr != nil {
			return err
		}
		err = fn(ctx)
	}
	return nil
}

// Endpoint returns go-kit middleware that retries the endpoint through Do. safe says
// whether a request may be sent again; nil means every request is safe, so use nil
// only for idempotent endpoints.
func (r *Retry) Endpoint(safe func(request any) bool) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			if safe != nil && !safe(request) {
				if r.budget != nil {
					r.budget.onRequest()
				}
				return next(ctx, request)
			}
			var resp any
			err := r.Do(ctx, func(ctx context.Context) error {
				var err error
				resp, err = next(ctx, request)
				return err
			})
			return resp, err
		}
	}
}
