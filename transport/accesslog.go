package transport

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-go/gantry/internal/httpx"
)

// AccessLog returns middleware that writes one log line per request to logger, after
// the response: method, route (the ServeMux pattern, or the path when no pattern
// matched), status, duration, bytes written and request id. 5xx responses are logged
// at Error level, everything else at Info. The message is "http request". A nil
// logger discards the lines.
//
// Place it inside RequestID so the id is known (see Chain). Logging goes through
// slog.Logger.LogAttrs with the request context, so a handler that adds trace ids
// (see the observability package) sees them. It is safe for concurrent use.
func AccessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pool := &sync.Pool{New: func() any { return new(httpx.Recorder) }}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := pool.Get().(*httpx.Recorder)
			rec.Reset(w)
			panicked := true
			defer func() {
				// A panic that left nothing written becomes Recover's 500.
				status, n := rec.StatusOr(http.StatusOK), rec.Bytes
				if panicked && !rec.Written() {
					status = http.StatusInternalServerError
				}
				rec.Reset(nil)
				pool.Put(rec)
				route := r.Pattern
				if route == "" {
					route = r.URL.Path
				}
				level := slog.LevelInfo
				if status >= 500 {
					level = slog.LevelError
				}
				if !logger.Enabled(r.Context(), level) {
					return
				}
				logger.LogAttrs(r.Context(), level, "http request",
					slog.String("method", r.Method),
					slog.String("route", route),
					slog.Int("status", status),
					slog.Duration("duration", time.Since(start)),
					slog.Int64("bytes", n),
					slog.String("request_id", requestIDOf(w, r)),
				)
			}()
			next.ServeHTTP(rec, r)
			panicked = false
		})
	}
}
