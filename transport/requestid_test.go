package transport_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	tests := []struct {
		name    string
		inbound []string // nil = no header
		keep    bool
	}{
		{"none", nil, false},
		{"valid uuid", []string{"7d4c1a5e-5a8b-4f7e-9d2c-1b3a4c5d6e7f"}, true},
		{"valid with safe punctuation", []string{"gw:1.2_3+4=5/6@x"}, true},
		{"max length", []string{strings.Repeat("a", transport.MaxRequestIDLen)}, true},
		{"empty", []string{""}, false},
		{"too long", []string{strings.Repeat("a", transport.MaxRequestIDLen+1)}, false},
		{"space", []string{"a b"}, false},
		{"log injection", []string{"abc\",\"level\":\"ERROR"}, false},
		{"non ascii", []string{"idé"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ctxID string
			h := transport.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctxID = transport.RequestIDFrom(r.Context())
			}))
			req := httptest.NewRequest("GET", "/", nil)
			if tt.inbound != nil {
				req.Header[transport.HeaderRequestID] = tt.inbound
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(transport.HeaderRequestID)
			if got != ctxID {
				t.Errorf("response id %q != context id %q", got, ctxID)
			}
			if tt.keep {
				if got != tt.inbound[0] {
					t.Errorf("RequestID(%q) = %q, want the inbound id kept", tt.inbound[0], got)
				}
				return
			}
			if !generatedID.MatchString(got) {
				t.Errorf("RequestID(%q) = %q, want a generated 32-hex id", tt.inbound, got)
			}
		})
	}
}

func TestRequestIDUnique(t *testing.T) {
	h := transport.RequestID()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	seen := make(map[string]bool)
	for i := 0; i < 1000; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		id := rec.Header().Get(transport.HeaderRequestID)
		if seen[id] {
			t.Fatalf("id %q generated twice", id)
		}
		seen[id] = true
	}
}

func TestContextWithRequestID(t *testing.T) {
	ctx := context.WithValue(context.Background(), struct{}{}, "other")
	ctx = transport.ContextWithRequestID(ctx, "job-42")
	if got := transport.RequestIDFrom(ctx); got != "job-42" {
		t.Errorf("RequestIDFrom(ContextWithRequestID(job-42)) = %q, want job-42", got)
	}
	if got := ctx.Value(struct{}{}); got != "other" {
		t.Errorf("parent value lost: %v", got)
	}
	if got := transport.RequestIDFrom(context.Background()); got != "" {
		t.Errorf("RequestIDFrom(Background) = %q, want empty", got)
	}
	// Cancellation flows through the request id context.
	parent, cancel := context.WithCancel(context.Background())
	child, cancel2 := context.WithCancel(transport.ContextWithRequestID(parent, "x"))
	defer cancel2()
	cancel()
	<-child.Done()
}

// FuzzRequestID checks that whatever a caller sends, the id used is either the
// inbound one (when valid) or a generated one, and is always safe to log.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"", "abc", "7d4c1a5e-5a8b-4f7e", "a\nb", strings.Repeat("x", 200), "\x00"} {
		f.Add(s)
	}
	h := transport.RequestID()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	f.Fuzz(func(t *testing.T, in string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header[transport.HeaderRequestID] = []string{in}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(transport.HeaderRequestID)
		if !transport.ValidRequestID(got) {
			t.Fatalf("RequestID(%q) = %q, not a valid id", in, got)
		}
		if transport.ValidRequestID(in) != (got == in) {
			t.Fatalf("RequestID(%q) = %q; valid=%v", in, got, transport.ValidRequestID(in))
		}
	})
}
