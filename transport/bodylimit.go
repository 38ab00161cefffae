package transport

import (
	"net/http"

	"github.com/gantry-go/gantry/internal/route"
)

// BodyLimit returns middleware that limits request bodies to limit bytes (zero or
// negative means defaultMaxBodyBytes, 1 MiB). A request whose Content-Length already
// exceeds the limit is answered 413 with a problem+json body without calling the
// handler. Any other body, chunked ones included, is wrapped in http.MaxBytesReader:
// reading past the limit fails with *http.MaxBytesError, which DecodeJSON and
// WriteError turn into 413, and net/http closes the connection after the response.
// Requests without a body pass through unchanged. It is safe for concurrent use.
func BodyLimit(limit int64) func(http.Handler) http.Handler {
	if limit <= 0 {
		limit = defaultMaxBodyBytes
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			if r.ContentLength > limit {
				WriteError(w, r, &http.MaxBytesError{Limit: limit})
				return
			}
			r2 := new(http.Request)
			*r2 = *r
			r2.Body = http.MaxBytesReader(w, r.Body, limit)
			next.ServeHTTP(w, r2)
			route.Keep(r, r2)
		})
	}
}
