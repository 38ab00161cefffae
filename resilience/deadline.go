package resilience

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/internal/route"
	"github.com/gantry-go/gantry/transport"
)

// DeadlineSettings configures the server side of deadlines. The zero value gives the
// defaults below. It is a plain value, read once at construction.
type DeadlineSettings struct {
	// Floor rejects a request at once, with 504 and ErrDeadlineTooShort, when less
	// than this is left of its deadline: the work could not finish, and the caller has
	// already given up or is about to. Default 5ms. Negative disables the check.
	Floor time.Duration `env:"DEADLINE_FLOOR"`
	// Default is the deadline given to requests that arrive without one (no
	// Gantry-Timeout header and no context deadline). Default 0: none, the server's
	// WriteTimeout bounds them.
	Default time.Duration `env:"DEADLINE_DEFAULT"`
	// TransitAllowance is subtracted from a propagated deadline: the Gantry-Timeout
	// header says how much time the caller had left when it sent the request, and the
	// request spent some of it in transit (dialing, queues, the header's rounding up to
	// a millisecond). Without it a callee's deadline ends after its caller's by that
	// transit time. Default 5ms. Negative disables it.
	TransitAllowance time.Duration `env:"DEADLINE_TRANSIT_ALLOWANCE"`
}

// Defaults of DeadlineSettings, for zero fields.
const (
	defaultDeadlineFloor    = 5 * time.Millisecond
	defaultTransitAllowance = 5 * time.Millisecond
)

func (s DeadlineSettings) allowance() time.Duration {
	switch {
	case s.TransitAllowance == 0:
		return defaultTransitAllowance
	case s.TransitAllowance < 0:
		return 0
	}
	return s.TransitAllowance
}

// Validate reports settings that cannot work, naming their environment variables.
func (s DeadlineSettings) Validate() error {
	if s.Default < 0 {
		return config.Invalid("DEADLINE_DEFAULT", "must not be negative, got %v", s.Default)
	}
	return nil
}

func (s DeadlineSettings) floor() time.Duration {
	if s.Floor == 0 {
		return defaultDeadlineFloor
	}
	return s.Floor
}

// Deadline returns server middleware that applies deadlines on the server side:
//
//   - A Gantry-Timeout header (the caller's remaining time, see
//     transport.SetTimeoutHeader) becomes the request context's deadline, minus
//     TransitAllowance, so that the callee never outlives its caller. No context is
//     derived when the inbound context already ends earlier. A malformed header is a
//     400 problem; "0" (no time left) is rejected like a deadline below Floor.
//   - When less than Floor is left, the request is rejected at once with a prebuilt
//     504 problem (ErrDeadlineTooShort) without calling the handler.
//   - Requests without any deadline get Default, if set.
//
// It is safe for concurrent use.
func Deadline(s DeadlineSettings) func(http.Handler) http.Handler {
	p := s.policy()
	tooShort := newReply(ErrDeadlineTooShort)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel, err := p.apply(r.Context(), r.Header[transport.HeaderTimeout])
			switch {
			case err == ErrDeadlineTooShort:
				tooShort.write(w, 0)
				return
			case err != nil:
				transport.WriteError(w, r, err)
				return
			case cancel == nil:
				next.ServeHTTP(w, r)
				return
			}
			defer cancel()
			r2 := r.WithContext(ctx)
			next.ServeHTTP(w, r2)
			route.Keep(r, r2) // so that the telemetry and access log outside see the route
		})
	}
}

// DeadlineEndpoint returns go-kit middleware that applies s as Deadline does, to the
// Gantry-Timeout header of the *http.Request that ContextWithRequest put in the
// context (kithttp.ServerBefore(ContextWithRequest)) and to the context's own
// deadline: a malformed header fails with an error that is transport.ErrBadTimeout
// (errors.Is) and maps to 400; "0", or less than s.Floor left, fails with
// ErrDeadlineTooShort (504); s.Default applies to calls without any deadline. A call
// whose context carries no request is judged by the context's deadline alone. Behind
// Deadline it changes nothing: the header never extends the deadline Deadline set.
func DeadlineEndpoint(s DeadlineSettings) endpoint.Middleware {
	p := s.policy()
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			var header []string
			if r := requestFrom(ctx); r != nil {
				header = r.Header[transport.HeaderTimeout]
			}
			ctx, cancel, err := p.apply(ctx, header)
			if err != nil {
				return nil, err
			}
			if cancel != nil {
				defer cancel()
			}
			return next(ctx, request)
		}
	}
}

// deadlinePolicy is DeadlineSettings with the defaults applied, shared by Deadline
// and DeadlineEndpoint.
type deadlinePolicy struct {
	floor, allowance, def time.Duration
}

func (s DeadlineSettings) policy() deadlinePolicy {
	return deadlinePolicy{floor: s.floor(), allowance: s.allowance(), def: s.Default}
}

// apply derives the context of a call that arrived with ctx and the Gantry-Timeout
// header values header (nil when absent). It returns the context to serve the call
// with and the function that releases it, nil when ctx is kept as is; or the error to
// reject the call with: badTimeout{} for a malformed header, ErrDeadlineTooShort for
// "0" or less than the floor left.
func (p deadlinePolicy) apply(ctx context.Context, header []string) (context.Context, context.CancelFunc, error) {
	now := time.Now()
	cur, has := ctx.Deadline()
	var cancel context.CancelFunc
	if len(header) > 0 {
		d, err := transport.ParseTimeout(header[0])
		if err != nil {
			return ctx, nil, badTimeout{}
		}
		if d <= 0 {
			return ctx, nil, ErrDeadlineTooShort
		}
		if dl := now.Add(d - p.allowance); !has || dl.Before(cur) {
			cur, has = dl, true
			ctx, cancel = context.WithDeadline(ctx, dl)
		}
	}
	switch {
	case has && p.floor > 0 && cur.Sub(now) < p.floor:
		if cancel != nil {
			cancel()
		}
		return ctx, nil, ErrDeadlineTooShort
	case !has && p.def > 0:
		ctx, cancel = context.WithTimeout(ctx, p.def)
	}
	return ctx, cancel, nil
}

// badTimeout is the error of a malformed Gantry-Timeout header: a 400 whose detail
// says what the header must be. It is transport.ErrBadTimeout for errors.Is.
type badTimeout struct{}

const badTimeoutDetail = transport.HeaderTimeout + " must be 1 to 9 digits of milliseconds"

func (badTimeout) Error() string   { return badTimeoutDetail }
func (badTimeout) StatusCode() int { return http.StatusBadRequest }
func (badTimeout) Unwrap() error   { return transport.ErrBadTimeout }

// Timeout returns client middleware that bounds each round trip, body included, to d:
// put it below the retry policy for a per-attempt timeout, or above it for an overall
// deadline. When the request's context already ends at or before now+d, no context is
// derived and the request passes unchanged. The derived context is released when the
// response body is closed or read to the end. A non-positive d returns next unchanged.
// Pair it with transport.PropagateDeadline (below it) so the next hop learns the
// deadline.
func Timeout(d time.Duration) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		if d <= 0 {
			return next
		}
		return &timeoutRT{next: next, d: d}
	}
}

type timeoutRT struct {
	next http.RoundTripper
	d    time.Duration
}

func (t *timeoutRT) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	dl := time.Now().Add(t.d)
	if cur, ok := ctx.Deadline(); ok && !cur.After(dl) {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithDeadline(ctx, dl)
	// One allocation holds the request copy and the body wrapper; the copy made by
	// WithContext stays on the stack.
	a := new(timedAttempt)
	a.req = *req.WithContext(ctx)
	resp, err := t.next.RoundTrip(&a.req)
	if err != nil || resp == nil || resp.Body == nil || resp.Body == http.NoBody {
		cancel()
		return resp, err
	}
	a.body = cancelBody{ReadCloser: resp.Body, cancel: cancel}
	resp.Body = &a.body
	return resp, nil
}

// TimeoutEndpoint returns go-kit middleware bounding each call to d, unless the
// context already ends earlier.
func TimeoutEndpoint(d time.Duration) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		if d <= 0 {
			return next
		}
		return func(ctx context.Context, request any) (any, error) {
			if cur, ok := ctx.Deadline(); ok && time.Until(cur) <= d {
				return next(ctx, request)
			}
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, request)
		}
	}
}

// timedAttempt is the per-attempt state of Timeout.
type timedAttempt struct {
	req  http.Request
	body cancelBody
}

// cancelBody releases an attempt's context once its body is done.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.cancel()
	}
	return n, err
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
