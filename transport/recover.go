package transport

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/gantry-go/gantry/internal/httpx"
)

// ErrPanic is the error a recovered panic is reported as. Its message never reaches
// the response: the caller gets a generic 500 problem.
var ErrPanic = errors.New("transport: handler panicked")

// Recover returns middleware that turns a panic in the handler into a 500
// application/problem+json response (when nothing has been written yet) and logs the
// panic value with its stack to logger. The stack never reaches the response, and the
// server keeps serving. http.ErrAbortHandler is re-panicked, as net/http expects: it is
// how a handler aborts a response on purpose. A nil logger discards the log.
//
// It is safe for concurrent use. Put it outermost in the Chain (below Edge, when the
// server has one).
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pool := &sync.Pool{New: func() any { return new(httpx.Recorder) }}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := pool.Get().(*httpx.Recorder)
			rec.Reset(w)
			defer func() {
				v := recover()
				written := rec.Written()
				rec.Reset(nil)
				pool.Put(rec)
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler { //nolint:errorlint // net/http compares the same way
					panic(v)
				}
				logger.LogAttrs(r.Context(), slog.LevelError, "panic recovered",
					slog.Any("panic", v),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("request_id", requestIDOf(w, r)),
					slog.Bool("response_started", written),
					slog.String("stack", string(debug.Stack())),
				)
				if !written {
					WriteError(w, r, ErrPanic)
				}
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// requestIDOf finds the request id from the context, then the response header, then
// the request header.
func requestIDOf(w http.ResponseWriter, r *http.Request) string {
	if id := RequestIDFrom(r.Context()); id != "" {
		return id
	}
	if id := w.Header().Get(HeaderRequestID); id != "" {
		return id
	}
	return r.Header.Get(HeaderRequestID)
}
