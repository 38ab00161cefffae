package resilience_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

func TestDeadline(t *testing.T) {
	tests := []struct {
		name       string
		header     []string      // nil = absent
		existing   time.Duration // 0 = no existing deadline
		wantStatus int
		wantLeft   time.Duration // remaining deadline seen by the handler; 0 = none
		wantSame   bool          // the handler sees the very inbound context
	}{
		{name: "absent", wantStatus: 200, wantSame: true},
		{name: "absent keeps existing", existing: time.Second, wantStatus: 200, wantLeft: time.Second, wantSame: true},
		{name: "sets deadline", header: []string{"250"}, wantStatus: 200, wantLeft: 250 * time.Millisecond},
		{name: "shortens a later deadline", header: []string{"250"}, existing: time.Second, wantStatus: 200, wantLeft: 250 * time.Millisecond},
		{name: "never extends", header: []string{"5000"}, existing: time.Second, wantStatus: 200, wantLeft: time.Second, wantSame: true},
		{name: "equal is not derived", header: []string{"1000"}, existing: time.Second, wantStatus: 200, wantLeft: time.Second, wantSame: true},
		{name: "zero is expired", header: []string{"0"}, wantStatus: 504},
		{name: "negative", header: []string{"-5"}, wantStatus: 400},
		{name: "unit", header: []string{"5s"}, wantStatus: 400},
		{name: "fraction", header: []string{"1.5"}, wantStatus: 400},
		{name: "too many digits", header: []string{"1234567890"}, wantStatus: 400},
		{name: "empty value", header: []string{""}, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var (
					called bool
					left   time.Duration
					same   bool
				)
				inCtx := context.Background()
				if tt.existing > 0 {
					var cancel context.CancelFunc
					inCtx, cancel = context.WithTimeout(inCtx, tt.existing)
					defer cancel()
				}
				h := resilience.Deadline(resilience.DeadlineSettings{Floor: -1, TransitAllowance: -1})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					called = true
					same = r.Context() == inCtx
					if dl, ok := r.Context().Deadline(); ok {
						left = time.Until(dl)
					}
				}))
				req := httptest.NewRequestWithContext(inCtx, "GET", "/", nil)
				if tt.header != nil {
					req.Header[transport.HeaderTimeout] = tt.header
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.wantStatus {
					t.Fatalf("Deadline(%q) status = %d, want %d", tt.header, rec.Code, tt.wantStatus)
				}
				if tt.wantStatus != 200 {
					if called {
						t.Errorf("Deadline(%q) called the handler", tt.header)
					}
					if ct := rec.Header().Get("Content-Type"); ct != transport.ContentTypeProblem {
						t.Errorf("Content-Type = %q, want problem+json", ct)
					}
					return
				}
				if left != tt.wantLeft {
					t.Errorf("Deadline(%q) remaining = %v, want %v", tt.header, left, tt.wantLeft)
				}
				if same != tt.wantSame {
					t.Errorf("Deadline(%q) kept inbound context = %v, want %v", tt.header, same, tt.wantSame)
				}
			})
		})
	}
}

func TestDeadlineExpiresHandlerContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var err error
		h := resilience.Deadline(resilience.DeadlineSettings{Floor: -1, TransitAllowance: -1})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			err = r.Context().Err()
		}))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(transport.HeaderTimeout, "100")
		start := time.Now()
		h.ServeHTTP(httptest.NewRecorder(), req)
		if err != context.DeadlineExceeded || time.Since(start) != 100*time.Millisecond {
			t.Errorf("handler ctx ended with %v after %v, want DeadlineExceeded after 100ms", err, time.Since(start))
		}
	})
}

func TestSetTimeoutHeader(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0"},
		{0, "0"},
		{time.Nanosecond, "1"},
		{999 * time.Microsecond, "1"},
		{time.Millisecond, "1"},
		{1500 * time.Microsecond, "2"},
		{2 * time.Second, "2000"},
		{365 * 24 * time.Hour, "999999999"},
	}
	for _, tt := range tests {
		h := http.Header{}
		transport.SetTimeoutHeader(h, tt.d)
		if got := h.Get(transport.HeaderTimeout); got != tt.want {
			t.Errorf("SetTimeoutHeader(%v) = %q, want %q", tt.d, got, tt.want)
		}
		d, ok := transport.TimeoutFromHeader(h)
		if !ok || d < tt.d && tt.d < 999999999*time.Millisecond {
			t.Errorf("TimeoutFromHeader(SetTimeoutHeader(%v)) = %v, %v; want >= input", tt.d, d, ok)
		}
	}
	if _, ok := transport.TimeoutFromHeader(http.Header{}); ok {
		t.Errorf("TimeoutFromHeader(empty) ok = true, want false")
	}
	if _, ok := transport.TimeoutFromHeader(http.Header{transport.HeaderTimeout: {"x"}}); ok {
		t.Errorf("TimeoutFromHeader(x) ok = true, want false")
	}
}

// FuzzParseTimeout checks that ParseTimeout accepts exactly 1-9 digits, never panics,
// and round-trips through SetTimeoutHeader.
func FuzzParseTimeout(f *testing.F) {
	for _, s := range []string{"0", "1", "250", "999999999", "1000000000", "-1", "+1", "1e3", " 1", "", "١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := transport.ParseTimeout(v)
		digits := len(v) >= 1 && len(v) <= 9
		for _, c := range []byte(v) {
			digits = digits && c >= '0' && c <= '9'
		}
		if (err == nil) != digits {
			t.Fatalf("ParseTimeout(%q) err = %v; want ok=%v", v, err, digits)
		}
		if err != nil {
			return
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		if d != time.Duration(n)*time.Millisecond {
			t.Fatalf("ParseTimeout(%q) = %v, want %dms", v, d, n)
		}
		h := http.Header{}
		transport.SetTimeoutHeader(h, d)
		if back, ok := transport.TimeoutFromHeader(h); !ok || back != d {
			t.Fatalf("round trip of %v = %v, %v", d, back, ok)
		}
	})
}
