package transport

import (
	"context"
	"math/rand/v2"
	"net/http"
	"unsafe"

	"github.com/gantry-go/gantry/internal/route"
)

// maxRequestIDLen is the longest inbound X-Request-Id that RequestID accepts.
const maxRequestIDLen = 128

// RequestID returns middleware that gives every request an id. A valid inbound
// X-Request-Id (see validRequestID) is kept; otherwise a random 128-bit id (32 hex
// digits) is generated, so a caller cannot inject newlines or huge values into logs.
// The id is set on the response header and in the request context, where
// RequestIDFrom finds it and PropagateRequestID sends it on. It is safe for
// concurrent use.
func RequestID() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := &requestIDCtx{Context: r.Context()}
			if v := r.Header[HeaderRequestID]; len(v) > 0 && validRequestID(v[0]) {
				c.id[0] = v[0]
			} else {
				c.id[0] = c.generate()
			}
			w.Header()[HeaderRequestID] = c.id[:]
			r2 := r.WithContext(c)
			next.ServeHTTP(w, r2)
			route.Keep(r, r2) // so that AccessLog and metrics outside see the route
		})
	}
}

// RequestIDFrom returns the request id that RequestID or ContextWithRequestID stored
// in ctx, or "" when there is none.
func RequestIDFrom(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey{}).(*requestIDCtx); ok {
		return c.id[0]
	}
	return ""
}

// ContextWithRequestID returns a copy of ctx carrying id, for work that starts outside
// an HTTP request (a consumer, a scheduled job) but calls other services.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	c := &requestIDCtx{Context: ctx}
	c.id[0] = id
	return c
}

// validRequestID reports whether id is acceptable as an inbound request id: 1 to
// maxRequestIDLen characters from A-Z a-z 0-9 and - _ . : + = / @.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '+', c == '=', c == '/', c == '@':
		default:
			return false
		}
	}
	return true
}

type requestIDKey struct{}

// requestIDCtx is a context carrying a request id. It exists, instead of
// context.WithValue, to keep the request id middleware at two allocations: the id's
// bytes, the one-element header slice and the context live in one allocation.
type requestIDCtx struct {
	context.Context
	id  [1]string
	buf [32]byte
}

func (c *requestIDCtx) Value(key any) any {
	if key == (requestIDKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// generate fills c.buf with 32 random hex digits and returns them as a string that
// shares c.buf. The buffer is never written again, so the string stays immutable.
func (c *requestIDCtx) generate() string {
	const hex = "0123456789abcdef"
	a, b := rand.Uint64(), rand.Uint64()
	for i := 0; i < 16; i++ {
		c.buf[i] = hex[a>>(60-4*i)&0xf]
		c.buf[16+i] = hex[b>>(60-4*i)&0xf]
	}
	return unsafe.String(&c.buf[0], len(c.buf))
}
