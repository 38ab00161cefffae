package transport

import (
	"net/http"
	"strings"
)

// internalPrefix starts every header Gantry services use among themselves
// (HeaderTimeout, HeaderAttempt, HeaderRetryExhausted, HeaderCriticality).
const internalPrefix = "Gantry-"

// Edge returns middleware for a server that faces untrusted clients. Before anything
// else reads the request it removes every Gantry-* header (a public client chooses
// neither its deadline budget nor its criticality) and baggage (which would flow into
// every service's telemetry), and it answers 400 problem+json to a path with a "." or
// ".." segment, encoded (%2e%2e) or not, which routers behind it might resolve
// differently. It also removes Gantry-* headers from the response, so internal
// signals such as HeaderRetryExhausted never leave the service. Put it outermost,
// before Recover. It is safe for concurrent use.
func Edge() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k := range r.Header {
				// Any case: net/http canonicalizes only names that are valid tokens.
				if isInternal(k) || strings.EqualFold(k, "Baggage") {
					delete(r.Header, k)
				}
			}
			if hasDotSegment(r.URL.Path) {
				WriteProblem(w, r, &Problem{Status: http.StatusBadRequest, Detail: "the path must not contain . or .. segments"})
				return
			}
			next.ServeHTTP(&edgeWriter{ResponseWriter: w}, r)
		})
	}
}

// isInternal reports whether the header name k starts with internalPrefix, in any case.
func isInternal(k string) bool {
	return len(k) >= len(internalPrefix) && strings.EqualFold(k[:len(internalPrefix)], internalPrefix)
}

// hasDotSegment reports whether the decoded path has a "." or ".." segment.
func hasDotSegment(p string) bool {
	for {
		i := strings.Index(p, "/.")
		if i < 0 {
			return false
		}
		rest := p[i+2:]
		if rest == "" || rest[0] == '/' || rest == "." || strings.HasPrefix(rest, "./") {
			return true
		}
		p = rest
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
		if isInternal(k) {
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
