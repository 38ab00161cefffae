package transport_test

import (
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

// FuzzEdge: for any decoded path, Edge answers 400 exactly when a segment after a "/"
// is "." or "..", and for any header name a client sends, no Gantry-* header and no
// baggage reaches the handler.
func FuzzEdge(f *testing.F) {
	for _, s := range []struct{ path, header string }{
		{"/api/products", "Gantry-Timeout"},
		{"/api/../admin", "gantry-criticality"},
		{"/api/./x", "Baggage"},
		{"/api/.", "X-Request-Id"},
		{"/api/..", "GANTRY-PRINCIPAL"},
		{"/a/.../b", "Gantry-"},
		{"/a/.b/..c", "Traceparent"},
		{"//..//", "baggage"},
		{"/a/b/", "Gantry-Retry-Exhausted"},
	} {
		f.Add(s.path, s.header)
	}
	h := transport.Edge()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "gantry-") || strings.EqualFold(k, "baggage") {
				w.WriteHeader(http.StatusTeapot)
				return
			}
		}
	}))
	f.Fuzz(func(t *testing.T, path, header string) {
		if !strings.HasPrefix(path, "/") {
			t.Skip() // a server's decoded request path starts with "/"
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = path
		r.Header.Set(header, "x") // canonical, as net/http reads it off the wire
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		dot := false
		for _, seg := range strings.Split(path, "/")[1:] {
			if seg == "." || seg == ".." {
				dot = true
			}
		}
		switch {
		case dot && rec.Code != http.StatusBadRequest:
			t.Fatalf("Edge(path %q) = %d, want 400 (a dot segment)", path, rec.Code)
		case !dot && rec.Code == http.StatusBadRequest:
			t.Fatalf("Edge(path %q) = 400, want it served (no dot segment)", path)
		case rec.Code == http.StatusTeapot:
			t.Fatalf("Edge let header %q (%q) through", header, textproto.CanonicalMIMEHeaderKey(header))
		}
	})
}
