package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// discardWriter is a ResponseWriter that allocates nothing, so allocs/op measure the
// middleware alone.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkServerStack measures Gantry's server middleware without tracing (Recover,
// RequestID, BodyLimit, Deadline) around a trivial handler, beside the bare handler.
// The request is fixed: a GET with no body, no inbound X-Request-Id (so an id is
// generated) and no Gantry-Timeout. The "deadline" variant adds a Gantry-Timeout
// header, so Deadline derives a context; "bare+timeout" is its baseline, doing the
// same with context.WithTimeout by hand. Target: gantry at most 2 allocs/op above bare.
func BenchmarkServerStack(b *testing.B) {
	ok := []byte("ok")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(ok) })
	stack := transport.Chain(transport.Recover(nil), transport.RequestID(), transport.BodyLimit(0), resilience.Deadline(resilience.DeadlineSettings{}))(handler)

	plain := httptest.NewRequest("GET", "/items/1", nil)
	withTimeout := httptest.NewRequest("GET", "/items/1", nil)
	withTimeout.Header.Set(transport.HeaderTimeout, "5000")

	run := func(b *testing.B, h http.Handler, r *http.Request) {
		w := &discardWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	}
	// The stdlib floor for a propagated deadline: parse, WithTimeout, WithContext.
	bareTimeout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := transport.ParseTimeout(r.Header.Get(transport.HeaderTimeout)); err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			r = r.WithContext(ctx)
		}
		handler.ServeHTTP(w, r)
	})

	b.Run("impl=bare", func(b *testing.B) { run(b, handler, plain) })
	b.Run("impl=bare+timeout", func(b *testing.B) { run(b, bareTimeout, withTimeout) })
	b.Run("impl=gantry", func(b *testing.B) { run(b, stack, plain) })
	b.Run("impl=gantry+timeout", func(b *testing.B) { run(b, stack, withTimeout) })
}
