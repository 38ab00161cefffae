package transport

import (
	"net/http"
	"strings"
)

// internalPrefix starts every header Gantry services use among themselves
// (HeaderTimeout, HeaderAttempt, HeaderRetryExhausted, HeaderCriticality).
const internalPrefix = "Gantry-"

// Edge returns middleware for a server that faces untrusted clients. It removes every
// Gantry-* header from the request before anything else reads it, so a public client
// chooses neither its deadline budget nor its criticality, and from the response, so
// internal signals such as HeaderRetryExhausted never leave the service. Put it
// outermost, before Recover. A request without such headers is passed on as it is.
// It is safe for concurrent use.
func Edge() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k := range r.Header {
				if strings.HasPrefix(k, internalPrefix) {
					delete(r.Header, k)
				}
			}
			next.ServeHTTP(&edgeWriter{ResponseWriter: w}, r)
		})
	}
}

// edgeWriter drops internal headers from the response when it is committed.
type edgeWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *edgeWriter) strip() {
	if w.wrote {
		return
	}
	w.wrote = true
	h := w.ResponseWriter.Header()
	for k := range h {
		if strings.HasPrefix(k, internalPrefix) {
			delete(h, k)
		}
	}
}

func (w *edgeWriter) WriteHeader(code int) {
	if code >= 200 {
		w.strip()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *edgeWriter) Write(b []byte) (int, error) {
	w.strip()
	return w.ResponseWriter.Write(b)
}

// Flush commits the headers, stripped, and flushes when the writer can.
func (w *edgeWriter) Flush() {
	w.strip()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *edgeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
