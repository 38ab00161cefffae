package resilience

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/gantry-go/gantry/internal/route"
	"github.com/gantry-go/gantry/transport"
)

type exhaustedKey struct{}

// exhaustedFlag is set by a Retry that gave up on a retryable failure while serving
// the request that carries it.
type exhaustedFlag struct{ set atomic.Bool }

// markExhausted records on ctx's flag (if any) that retries were exhausted.
func markExhausted(ctx context.Context) {
	if f, ok := ctx.Value(exhaustedKey{}).(*exhaustedFlag); ok {
		f.set.Store(true)
	}
}

// retriesExhausted reports whether a Retry working for ctx's request (under
// MarkRetryExhausted) gave up on a retryable failure.
func retriesExhausted(ctx context.Context) bool {
	f, ok := ctx.Value(exhaustedKey{}).(*exhaustedFlag)
	return ok && f.set.Load()
}

// MarkRetryExhausted is server middleware for the edge of a service: when a Retry
// working for the request gave up on a retryable upstream failure and the handler then
// answers 5xx, the response gets transport.HeaderRetryExhausted, so the caller one hop
// up does not retry it again (retries happen at one layer, not at every layer).
//
// It costs a context value and a ResponseWriter wrapper per request; the wrapper keeps
// http.ResponseController working through Unwrap.
func MarkRetryExhausted() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f := new(exhaustedFlag)
			ew := &exhaustedWriter{ResponseWriter: w, f: f}
			r2 := r.WithContext(context.WithValue(r.Context(), exhaustedKey{}, f))
			next.ServeHTTP(ew, r2)
			route.Keep(r, r2) // so that the telemetry and access log outside see the route
		})
	}
}

type requestKey struct{}

// ContextWithRequest returns a copy of ctx carrying r, the HTTP request being served,
// so that the go-kit Endpoint forms of the policies decide as their Server forms
// would for r: RateLimiter, Bulkhead and BreakerSet apply their KeyFunc to r, the
// Shedder reads r's criticality header and DeadlineEndpoint its Gantry-Timeout header.
// Its signature is go-kit's kithttp.RequestFunc, so a go-kit HTTP server passes it on
// with
//
//	kithttp.NewServer(ep, dec, enc, kithttp.ServerBefore(resilience.ContextWithRequest))
//
// In a call whose context carries no request (another transport, a direct call), the
// keyed policies use the key "" for every call, so their per-key limits still apply,
// shared by all such calls; the Shedder treats the call as Normal, and
// DeadlineEndpoint sees only the context's own deadline. The policies read r only
// during the call.
func ContextWithRequest(ctx context.Context, r *http.Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// requestFrom returns the request ContextWithRequest stored in ctx, or nil.
func requestFrom(ctx context.Context) *http.Request {
	r, _ := ctx.Value(requestKey{}).(*http.Request)
	return r
}

// keyOf is the key a keyed policy's Endpoint form uses: key applied to the request
// in ctx (see ContextWithRequest), or "" when there is none.
func keyOf(ctx context.Context, key KeyFunc) string {
	if r := requestFrom(ctx); r != nil {
		return key(r)
	}
	return ""
}

type exhaustedWriter struct {
	http.ResponseWriter
	f       *exhaustedFlag
	written bool
}

func (w *exhaustedWriter) WriteHeader(code int) {
	if !w.written && code >= 500 && w.f.set.Load() {
		w.Header().Set(transport.HeaderRetryExhausted, "1")
	}
	if code >= 200 {
		w.written = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *exhaustedWriter) Write(b []byte) (int, error) {
	w.written = true
	return w.ResponseWriter.Write(b)
}

func (w *exhaustedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *exhaustedWriter) Flush() {
	w.written = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
