package resilience

import (
	"context"
	"net/http"
	"sync/atomic"

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

// RetriesExhausted reports whether a Retry working for ctx's request (under
// MarkRetryExhausted) gave up on a retryable failure.
func RetriesExhausted(ctx context.Context) bool {
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
			next.ServeHTTP(ew, r.WithContext(context.WithValue(r.Context(), exhaustedKey{}, f)))
		})
	}
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
