package transport

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// StatusCoder is implemented by errors that know their HTTP status. It has the same
// shape as go-kit's transport/http StatusCoder, so errors written for go-kit map alike.
type StatusCoder interface {
	StatusCode() int
}

// RetryAfterer is implemented by errors that tell the caller when to try again. The
// error encoder turns it into a Retry-After header (whole seconds, at least 1).
type RetryAfterer interface {
	RetryAfter() time.Duration
}

// Problem is an RFC 9457 problem details object. It implements error, so a handler can
// return one and have it written as is. Only a Problem's own fields ever reach a
// response body: other errors with a 5xx status are written with a generic detail, so
// internals (SQL, paths, stack traces) never leak.
//
// A Problem is a plain value; it is safe for concurrent use once built.
type Problem struct {
	// Type is a URI reference that identifies the problem type. Empty means "about:blank".
	Type string `json:"type,omitempty"`
	// Title is a short, human-readable summary. Empty means the status text.
	Title string `json:"title"`
	// Status is the HTTP status code. Zero means 500.
	Status int `json:"status"`
	// Detail explains this occurrence for a human.
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence; Gantry sets it to the request id when empty.
	Instance string `json:"instance,omitempty"`
	// Errors lists field-level problems, for validation failures.
	Errors []FieldError `json:"errors,omitempty"`
	// Retry, when positive, is written as Retry-After.
	Retry time.Duration `json:"-"`
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error returns the title and the detail.
func (p *Problem) Error() string {
	if p.Detail == "" {
		return "transport: " + p.title()
	}
	return "transport: " + p.title() + ": " + p.Detail
}

// StatusCode returns the problem's status, 500 when unset.
func (p *Problem) StatusCode() int {
	if p.Status == 0 {
		return http.StatusInternalServerError
	}
	return p.Status
}

// RetryAfter returns p.Retry.
func (p *Problem) RetryAfter() time.Duration { return p.Retry }

func (p *Problem) title() string {
	if p.Title != "" {
		return p.Title
	}
	return http.StatusText(p.StatusCode())
}

// StatusClientClosedRequest is the de-facto status (nginx's 499) logged when the
// client went away before the response. It is never seen by that client.
const StatusClientClosedRequest = 499

// ProblemFor maps any error to the Problem that describes it to a caller. It is the one
// place where errors become HTTP statuses:
//
//   - a *Problem (anywhere in the chain) is used as is;
//   - an error implementing StatusCoder gets that status; its message is the detail
//     when the status is below 500, and is hidden otherwise;
//   - *http.MaxBytesError is 413;
//   - context.DeadlineExceeded is 504, context.Canceled is 499;
//   - a failure to connect to an upstream (IsConnectionError) is 503 with a
//     Retry-After of 1s and a detail that names no address;
//   - anything else is 500 with a generic detail.
//
// RetryAfterer errors set Problem.Retry.
func ProblemFor(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		cp := *p
		cp.Status = p.StatusCode()
		cp.Title = p.title()
		return &cp
	}
	out := &Problem{Status: http.StatusInternalServerError}
	var sc StatusCoder
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		out.Status = http.StatusRequestEntityTooLarge
		out.Detail = "request body larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes"
	case errors.As(err, &sc):
		out.Status = sc.StatusCode()
		if out.Status < 500 {
			out.Detail = err.Error()
		}
	case errors.Is(err, context.DeadlineExceeded):
		out.Status = http.StatusGatewayTimeout
		out.Detail = "deadline exceeded"
	case errors.Is(err, context.Canceled):
		out.Status = StatusClientClosedRequest
		out.Detail = "request canceled"
	case IsConnectionError(err):
		out.Status = http.StatusServiceUnavailable
		out.Detail = "an upstream service is unavailable"
		out.Retry = time.Second
	}
	if out.Status < 100 || out.Status > 999 {
		out.Status = http.StatusInternalServerError
		out.Detail = ""
	}
	if out.Status >= 500 && out.Detail == "" {
		out.Detail = "the server could not complete the request"
	}
	if out.Status == StatusClientClosedRequest {
		out.Title = "Client Closed Request"
	} else {
		out.Title = http.StatusText(out.Status)
	}
	var ra RetryAfterer
	if errors.As(err, &ra) {
		out.Retry = ra.RetryAfter()
	}
	return out
}
