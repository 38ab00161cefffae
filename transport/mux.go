package transport

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// ErrRootTaken is returned by HandleUnmatched when the mux already has a pattern that
// matches the root path "/" for some method, such as "/" or "GET /".
var ErrRootTaken = errors.New("transport: the mux already handles \"/\"")

// unmatchedMethods returns the methods HandleUnmatched probes to build a 405's Allow
// header (an array value: nothing shared to mutate).
func unmatchedMethods() [7]string {
	return [...]string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
	}
}

// HandleUnmatched registers a catch-all "/" pattern on mux that answers the requests no
// other pattern matches with problem+json instead of the mux's plain text: 405, with an
// Allow header, when the path exists for other methods, and 404 otherwise. Matched
// requests are untouched (no wrapper, no extra cost); the methods are probed only on
// the unmatched path. Call it after registering the service's own patterns. It returns
// ErrRootTaken when mux already handles "/".
//
// The handler it registers is safe for concurrent use, as mux is.
func HandleUnmatched(mux *http.ServeMux) error {
	root := &http.Request{URL: &url.URL{Path: "/"}, Header: http.Header{}}
	for _, m := range unmatchedMethods() {
		root.Method = m
		if _, p := mux.Handler(root); p != "" {
			return ErrRootTaken
		}
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allow := allowedMethods(mux, r)
		if allow == "" {
			WriteProblem(w, r, &Problem{Status: http.StatusNotFound, Detail: "no resource at " + r.URL.Path})
			return
		}
		w.Header().Set("Allow", allow)
		WriteProblem(w, r, &Problem{Status: http.StatusMethodNotAllowed,
			Detail: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + allow})
	}))
	return nil
}

// allowedMethods lists the methods for which some pattern other than the catch-all
// matches r's path.
func allowedMethods(mux *http.ServeMux, r *http.Request) string {
	var b strings.Builder
	probe := &http.Request{URL: r.URL, Host: r.Host, Header: http.Header{}}
	for _, m := range unmatchedMethods() {
		probe.Method = m
		if _, p := mux.Handler(probe); p != "" && p != "/" {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(m)
		}
	}
	return b.String()
}
