package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
)

// Outcome is the one classification of a call's result that the breaker, the retry
// policy, the balancer and the metrics all share (docs/architecture.md, "One error
// taxonomy").
//
//	outcome       breaker  retry                             balancer
//	Success       success  stop                              success
//	Rejected      neutral  stop                              success
//	Canceled      neutral  stop                              neutral
//	Overloaded    failure  after Retry-After, within budget  penalise
//	Failure       failure  if idempotent, within budget      failure
//
// A response marked with HeaderRetryExhausted is classified as usual but is never
// retried (see Retryable).
type Outcome uint8

const (
	// Success is a 1xx, 2xx or 3xx response.
	Success Outcome = iota
	// Rejected is a 4xx response other than 408 and 429: the caller's fault, or a
	// business answer such as 404 or 409. The upstream is healthy.
	Rejected
	// Canceled is a call the caller itself canceled (context.Canceled).
	Canceled
	// Overloaded is a 429 or 503 response: the upstream is alive but asks for less load.
	Overloaded
	// Failure is any other 5xx, a 408, a connection refused or reset, a timeout or any
	// other transport error.
	Failure
)

// String returns the outcome's lowercase name, used as a metric attribute value.
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Rejected:
		return "rejected"
	case Canceled:
		return "canceled"
	case Overloaded:
		return "overloaded"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// BreakerFailure reports whether the outcome counts as a failure for a circuit
// breaker. Rejected and Canceled are neutral: they neither trip nor heal a breaker.
func (o Outcome) BreakerFailure() bool { return o == Overloaded || o == Failure }

// BreakerNeutral reports whether the outcome must not change a breaker's counts.
func (o Outcome) BreakerNeutral() bool { return o == Rejected || o == Canceled }

// Retryable reports whether a request with this outcome may be tried again, given
// that the request itself is safe to repeat (see Idempotent).
func (o Outcome) Retryable() bool { return o == Overloaded || o == Failure }

// ClassifyStatus classifies an HTTP status code.
func ClassifyStatus(code int) Outcome {
	switch {
	case code < 400:
		return Success
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		return Overloaded
	case code == http.StatusRequestTimeout:
		return Failure
	case code < 500:
		return Rejected
	default:
		return Failure
	}
}

// ClassifyError classifies an error returned by a RoundTripper, a go-kit endpoint or
// any other call. nil is Success. An error that carries a status (see StatusCoder) is
// classified by that status. context.Canceled is Canceled; everything else, including
// context.DeadlineExceeded and network errors, is Failure.
func ClassifyError(err error) Outcome {
	if err == nil {
		return Success
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	var sc StatusCoder
	if errors.As(err, &sc) {
		return ClassifyStatus(sc.StatusCode())
	}
	return Failure
}

// Classify classifies the result of an HTTP round trip: the error if there is one,
// otherwise the response's status.
func Classify(resp *http.Response, err error) Outcome {
	if err != nil {
		return ClassifyError(err)
	}
	if resp == nil {
		return Failure
	}
	return ClassifyStatus(resp.StatusCode)
}

// RetryExhausted reports whether resp carries HeaderRetryExhausted, meaning the
// upstream already retried to exhaustion and this hop must not retry again.
func RetryExhausted(resp *http.Response) bool {
	return resp != nil && resp.Header.Get(HeaderRetryExhausted) != ""
}

// Idempotent reports whether r is safe to send more than once: its method is
// idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) or it carries an
// Idempotency-Key header.
func Idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete, "":
		return true
	}
	return r.Header.Get(HeaderIdempotencyKey) != ""
}

// IsConnectionError reports whether err means the request never reached the upstream
// application: the connection was refused, or the dial failed. Such requests are safe
// to send to another instance even when they are not idempotent.
func IsConnectionError(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return false
}
