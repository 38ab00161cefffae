package transport

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// maxTimeoutMillis is the largest value the Gantry-Timeout header may carry: nine
// digits of milliseconds, about 11.5 days. SetTimeoutHeader caps at it.
const maxTimeoutMillis = 999_999_999

// ErrBadTimeout is returned by ParseTimeout for a Gantry-Timeout value that is not 1
// to 9 decimal digits.
var ErrBadTimeout = errors.New("transport: malformed " + HeaderTimeout + " header")

// SetTimeoutHeader writes d as the Gantry-Timeout header: whole milliseconds, rounded
// up so that a positive remainder never reads as 0, capped at maxTimeoutMillis. A
// non-positive d is written as "0" (no time left).
func SetTimeoutHeader(h http.Header, d time.Duration) {
	var ms int64
	if d > 0 {
		ms = int64((d + time.Millisecond - 1) / time.Millisecond)
		if ms > maxTimeoutMillis {
			ms = maxTimeoutMillis
		}
	}
	h.Set(HeaderTimeout, strconv.FormatInt(ms, 10))
}

// timeoutFromHeader returns the remaining deadline carried by h's Gantry-Timeout
// header. ok is false when the header is absent or malformed (see ParseTimeout to
// tell the two apart).
func timeoutFromHeader(h http.Header) (d time.Duration, ok bool) {
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
