package transport

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// MaxTimeoutMillis is the largest value the Gantry-Timeout header may carry: nine
// digits of milliseconds, about 11.5 days. SetTimeoutHeader caps at it.
const MaxTimeoutMillis = 999_999_999

// ErrBadTimeout is returned by ParseTimeout for a Gantry-Timeout value that is not 1
// to 9 decimal digits.
var ErrBadTimeout = errors.New("transport: malformed " + HeaderTimeout + " header")

// SetTimeoutHeader writes d as the Gantry-Timeout header: whole milliseconds, rounded
// up so that a positive remainder never reads as 0, capped at MaxTimeoutMillis. A
// non-positive d is written as "0" (no time left).
func SetTimeoutHeader(h http.Header, d time.Duration) {
	var ms int64
	if d > 0 {
		ms = int64((d + time.Millisecond - 1) / time.Millisecond)
		if ms > MaxTimeoutMillis {
			ms = MaxTimeoutMillis
		}
	}
	h.Set(HeaderTimeout, strconv.FormatInt(ms, 10))
}

// TimeoutFromHeader returns the remaining deadline carried by h's Gantry-Timeout
// header. ok is false when the header is absent or malformed (see ParseTimeout to
// tell the two apart).
func TimeoutFromHeader(h http.Header) (d time.Duration, ok bool) {
	v := h.Get(HeaderTimeout)
	if v == "" {
		return 0, false
	}
	d, err := ParseTimeout(v)
	return d, err == nil
}

// ParseTimeout parses a Gantry-Timeout value: 1 to 9 ASCII digits, in milliseconds.
// Signs, spaces, units and fractions are rejected with ErrBadTimeout.
func ParseTimeout(v string) (time.Duration, error) {
	if len(v) == 0 || len(v) > 9 {
		return 0, ErrBadTimeout
	}
	var ms int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, ErrBadTimeout
		}
		ms = ms*10 + int64(c-'0')
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Deadline returns middleware that turns the caller's propagated deadline (the
// Gantry-Timeout header, see SetTimeoutHeader) into the request context's deadline.
//
//   - No header: the request passes unchanged, at no cost.
//   - A malformed header: 400 problem+json, the handler is not called.
//   - "0": the caller has no time left; 504 problem+json, the handler is not called.
//   - Otherwise the deadline is now plus the value, unless the context already has an
//     earlier (or equal) deadline; then no context is derived and the request passes
//     unchanged. A propagated deadline never extends an existing one.
//
// It is safe for concurrent use.
func Deadline() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v := r.Header[HeaderTimeout]
			if len(v) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			d, err := ParseTimeout(v[0])
			if err != nil {
				WriteProblem(w, r, &Problem{Status: http.StatusBadRequest,
					Detail: HeaderTimeout + " must be 1 to 9 digits of milliseconds"})
				return
			}
			if d <= 0 {
				WriteProblem(w, r, &Problem{Status: http.StatusGatewayTimeout,
					Detail: "the caller's deadline has already passed"})
				return
			}
			ctx := r.Context()
			dl := time.Now().Add(d)
			if cur, ok := ctx.Deadline(); ok && !cur.After(dl) {
				next.ServeHTTP(w, r)
				return
			}
			ctx, cancel := context.WithDeadline(ctx, dl)
			defer cancel()
			r2 := r.WithContext(ctx)
			next.ServeHTTP(w, r2)
			keepPattern(r, r2)
		})
	}
}
