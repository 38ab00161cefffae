package resilience

import (
	"errors"
	"net/http"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// rejection is the type of every policy's sentinel error. It carries the HTTP status
// the rejection maps to and a default Retry-After.
type rejection struct {
	msg    string
	status int
	retry  time.Duration
}

func (e *rejection) Error() string             { return e.msg }
func (e *rejection) StatusCode() int           { return e.status }
func (e *rejection) RetryAfter() time.Duration { return e.retry }

// Sentinel errors, one per policy. Each implements transport.StatusCoder and
// transport.RetryAfterer (a default of one second), so transport.WriteError maps it to
// the status named below with a Retry-After header. Callers test them with errors.Is;
// a policy that knows a better wait returns them wrapped in a *RejectedError.
var (
	// ErrOpen is returned when a circuit breaker is open, or half-open with all its
	// probes in flight. HTTP: 503 + Retry-After (time left until half-open).
	ErrOpen error = &rejection{"resilience: circuit open", http.StatusServiceUnavailable, time.Second}
	// ErrRateLimited is returned when a rate limiter has no token for the call (server
	// side), or when waiting for one would pass the request's deadline (client side).
	// HTTP: 429 + Retry-After (time until the next token).
	ErrRateLimited error = &rejection{"resilience: rate limited", http.StatusTooManyRequests, time.Second}
	// ErrBulkheadFull is returned when a bulkhead's slots and queue are full, or the
	// queue timeout passed. HTTP: 503 + Retry-After.
	ErrBulkheadFull error = &rejection{"resilience: bulkhead full", http.StatusServiceUnavailable, time.Second}
	// ErrShed is returned when the adaptive concurrency limit sheds a request.
	// HTTP: 503 + Retry-After.
	ErrShed error = &rejection{"resilience: load shed", http.StatusServiceUnavailable, time.Second}
	// ErrBudgetExhausted is joined to the last error when the retry budget denied a
	// retry. HTTP: 503 + Retry-After, unless the last error carries its own status.
	ErrBudgetExhausted error = &rejection{"resilience: retry budget exhausted", http.StatusServiceUnavailable, time.Second}
	// ErrDeadlineTooShort is returned when the remaining deadline is below the
	// configured floor, so the work could not finish in time. HTTP: 504.
	ErrDeadlineTooShort error = &rejection{"resilience: remaining deadline too short", http.StatusGatewayTimeout, 0}
)

// RejectedError is a policy's rejection with the wait the policy computed. It
// unwraps to the policy's sentinel, so errors.Is(err, ErrOpen) works, and it reports
// that sentinel's status. It is immutable once built.
type RejectedError struct {
	// Err is the policy's sentinel (ErrOpen, ErrRateLimited, ...).
	Err error
	// Wait is how long the caller should wait before trying again.
	Wait time.Duration
}

// Error returns the sentinel's message.
func (e *RejectedError) Error() string { return e.Err.Error() }

// Unwrap returns the sentinel.
func (e *RejectedError) Unwrap() error { return e.Err }

// StatusCode returns the sentinel's status (503 or 429 mostly).
func (e *RejectedError) StatusCode() int {
	var sc transport.StatusCoder
	if errors.As(e.Err, &sc) {
		return sc.StatusCode()
	}
	return http.StatusServiceUnavailable
}

// RetryAfter returns Wait, at least one second.
func (e *RejectedError) RetryAfter() time.Duration {
	if e.Wait < time.Second {
		return time.Second
	}
	return e.Wait
}

// isRejection reports whether err is a local rejection by one of this package's
// policies (as opposed to an upstream's answer). Breakers treat local rejections as
// neutral and retries never retry them: the upstream was not asked.
func isRejection(err error) bool {
	var r *rejection
	return errors.As(err, &r)
}

func reject(sentinel error, wait time.Duration) error {
	return &RejectedError{Err: sentinel, Wait: wait}
}
