package resilience_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// TestDeadlineHeader checks how Deadline turns the Gantry-Timeout header into the
// handler's deadline. Floor and TransitAllowance are disabled, so that the header and
// the inbound context alone decide (TestDeadlineFloorAndDefault covers those two).
func TestDeadlineHeader(t *testing.T) {
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
					checkProblem(t, rec, tt.wantStatus)
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

// checkProblem fails the test unless rec holds a problem+json answer with status.
func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) transport.Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != transport.ContentTypeProblem {
		t.Errorf("Content-Type = %q, want %q", ct, transport.ContentTypeProblem)
	}
	var p transport.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != status {
		t.Errorf("problem body %s (%v), want status %d", rec.Body, err, status)
	}
	return p
}

func TestDeadlineMalformedHeaderProblem(t *testing.T) {
	h := resilience.Deadline(resilience.DeadlineSettings{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("Deadline called the handler for a malformed header")
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(transport.HeaderTimeout, "soon")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("Deadline(%q) status = %d, want %d", "soon", rec.Code, http.StatusBadRequest)
	}
	if p := checkProblem(t, rec, http.StatusBadRequest); !strings.Contains(p.Detail, transport.HeaderTimeout) {
		t.Errorf("Deadline(%q) problem detail = %q, want it to name %s", "soon", p.Detail, transport.HeaderTimeout)
	}
}

// TestDeadlineExpiresHandlerContext checks that the handler's context ends exactly
// at the propagated deadline, less the transit allowance.
func TestDeadlineExpiresHandlerContext(t *testing.T) {
	for _, tc := range []struct {
		allowance time.Duration
		want      time.Duration
	}{
		{allowance: -1, want: 100 * time.Millisecond},
		{allowance: 0, want: 95 * time.Millisecond}, // the default allowance, 5ms
		{allowance: 30 * time.Millisecond, want: 70 * time.Millisecond},
	} {
		synctest.Test(t, func(t *testing.T) {
			var err error
			h := resilience.Deadline(resilience.DeadlineSettings{Floor: -1, TransitAllowance: tc.allowance})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				err = r.Context().Err()
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set(transport.HeaderTimeout, "100")
			start := time.Now()
			h.ServeHTTP(httptest.NewRecorder(), req)
			if err != context.DeadlineExceeded || time.Since(start) != tc.want {
				t.Errorf("Deadline(TransitAllowance %v) with %q: handler ctx ended with %v after %v, want DeadlineExceeded after %v",
					tc.allowance, "100", err, time.Since(start), tc.want)
			}
		})
	}
}

// leftString prints a remaining deadline, or "none" for -1.
func leftString(d time.Duration) string {
	if d == -1 {
		return "none"
	}
	return d.String()
}

// TestDeadlineFloorAndDefault checks Floor (a request with less than this left is
// answered 504 at once, without calling the handler) and Default (the deadline of
// requests that arrive without one), with the default TransitAllowance of 5ms.
func TestDeadlineFloorAndDefault(t *testing.T) {
	const none = -1
	ms := time.Millisecond
	tests := []struct {
		name       string
		s          resilience.DeadlineSettings
		header     string        // Gantry-Timeout; "" = absent
		inbound    time.Duration // the inbound context's deadline; 0 = none
		wantStatus int
		wantLeft   time.Duration // the handler's remaining deadline, or none
	}{
		{"header leaves the floor", resilience.DeadlineSettings{Floor: 20 * ms}, "25", 0, 200, 20 * ms},
		{"header leaves less than the floor", resilience.DeadlineSettings{Floor: 20 * ms}, "24", 0, 504, 0},
		{"inbound deadline at the floor", resilience.DeadlineSettings{Floor: 20 * ms}, "", 20 * ms, 200, 20 * ms},
		{"inbound deadline below the floor", resilience.DeadlineSettings{Floor: 20 * ms}, "", 19 * ms, 504, 0},
		{"default floor 5ms accepts 5ms", resilience.DeadlineSettings{}, "10", 0, 200, 5 * ms},
		{"default floor 5ms rejects 4ms", resilience.DeadlineSettings{}, "9", 0, 504, 0},
		{"negative floor disables it", resilience.DeadlineSettings{Floor: -1}, "6", 0, 200, ms},
		{"no default", resilience.DeadlineSettings{}, "", 0, 200, none},
		{"default without a deadline", resilience.DeadlineSettings{Default: time.Second}, "", 0, 200, time.Second},
		{"default leaves a propagated deadline", resilience.DeadlineSettings{Default: time.Second}, "5000", 0, 200, 4995 * ms},
		{"default leaves an inbound deadline", resilience.DeadlineSettings{Default: time.Second}, "", 3 * time.Second, 200, 3 * time.Second},
		{"transit allowance", resilience.DeadlineSettings{TransitAllowance: 50 * ms}, "1000", 0, 200, 950 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				called, left := false, time.Duration(none)
				h := resilience.Deadline(tt.s)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					called = true
					if dl, ok := r.Context().Deadline(); ok {
						left = time.Until(dl)
					}
				}))
				ctx := context.Background()
				if tt.inbound > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.inbound)
					defer cancel()
				}
				req := httptest.NewRequestWithContext(ctx, "GET", "/", nil)
				if tt.header != "" {
					req.Header.Set(transport.HeaderTimeout, tt.header)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.wantStatus {
					t.Fatalf("Deadline(%+v) with %q, inbound %v: status = %d, want %d", tt.s, tt.header, tt.inbound, rec.Code, tt.wantStatus)
				}
				if tt.wantStatus != 200 {
					if called {
						t.Errorf("Deadline(%+v) with %q called the handler", tt.s, tt.header)
					}
					if p := checkProblem(t, rec, tt.wantStatus); !strings.Contains(p.Detail, "deadline") {
						t.Errorf("Deadline(%+v) with %q: problem detail = %q, want ErrDeadlineTooShort's", tt.s, tt.header, p.Detail)
					}
					return
				}
				if left != tt.wantLeft {
					t.Errorf("Deadline(%+v) with %q, inbound %v: handler deadline in %s, want %s",
						tt.s, tt.header, tt.inbound, leftString(left), leftString(tt.wantLeft))
				}
			})
		})
	}
}
