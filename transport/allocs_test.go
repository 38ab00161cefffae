package transport_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

// discardWriter is a ResponseWriter that allocates nothing, so that allocation counts
// measure the middleware alone.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// TestServerStackAllocs is the deterministic gate behind BenchmarkServerStack: the
// transport middleware without tracing (recover, request id, body limit) costs at
// most 2 allocations per request above a bare handler.
func TestServerStackAllocs(t *testing.T) {
	ok := []byte("ok")
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(ok) })
	stack := transport.Chain(transport.Recover(nil), transport.RequestID(), transport.BodyLimit(0))(bare)

	tests := []struct {
		name   string
		header http.Header
		max    float64 // allocations above bare
	}{
		{"no inbound headers", nil, 2},
		{"inbound request id", http.Header{transport.HeaderRequestID: {"7d4c1a5e-5a8b-4f7e-9d2c-1b3a4c5d6e7f"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/items/1", nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			w := &discardWriter{h: make(http.Header)}
			base := testing.AllocsPerRun(200, func() { bare.ServeHTTP(w, req) })
			got := testing.AllocsPerRun(200, func() { stack.ServeHTTP(w, req) })
			t.Logf("allocs/op: stack %v, bare %v", got, base)
			if got-base > tt.max {
				t.Errorf("server stack allocs/op = %v (bare %v), want at most %v above bare", got, base, tt.max)
			}
		})
	}
}
