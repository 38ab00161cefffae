package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/transport"
)

type statusErr struct {
	code int
	msg  string
}

func (e statusErr) Error() string   { return e.msg }
func (e statusErr) StatusCode() int { return e.code }

type retryErr struct{ after time.Duration }

func (e retryErr) Error() string             { return "slow down" }
func (e retryErr) StatusCode() int           { return http.StatusTooManyRequests }
func (e retryErr) RetryAfter() time.Duration { return e.after }

func TestProblemFor(t *testing.T) {
	const generic = "the server could not complete the request"
	tests := []struct {
		name string
		err  error
		want transport.Problem
	}{
		{"problem as is", fmt.Errorf("wrapped: %w", &transport.Problem{Status: 409, Detail: "version mismatch", Type: "https://x/conflict"}),
			transport.Problem{Type: "https://x/conflict", Title: "Conflict", Status: 409, Detail: "version mismatch"}},
		{"problem without status", &transport.Problem{Detail: "x"}, transport.Problem{Title: "Internal Server Error", Status: 500, Detail: "x"}},
		{"4xx status coder shows its message", statusErr{404, "order 7 not found"}, transport.Problem{Title: "Not Found", Status: 404, Detail: "order 7 not found"}},
		{"5xx status coder hides its message", statusErr{503, "redis at 10.1.2.3 down"}, transport.Problem{Title: "Service Unavailable", Status: 503, Detail: generic}},
		{"invalid status", statusErr{42, "weird"}, transport.Problem{Title: "Internal Server Error", Status: 500, Detail: generic}},
		{"max bytes", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 10}), transport.Problem{Title: "Request Entity Too Large", Status: 413, Detail: "request body larger than 10 bytes"}},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), transport.Problem{Title: "Gateway Timeout", Status: 504, Detail: "deadline exceeded"}},
		{"connection refused, address hidden", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
			transport.Problem{Title: "Service Unavailable", Status: 503, Detail: "an upstream service is unavailable", Retry: time.Second}},
		{"canceled", context.Canceled, transport.Problem{Title: "Client Closed Request", Status: 499, Detail: "request canceled"}},
		{"plain error hidden", errors.New("pq: syntax error at /srv/app/store.go:12"), transport.Problem{Title: "Internal Server Error", Status: 500, Detail: generic}},
		{"retry after", retryErr{1500 * time.Millisecond}, transport.Problem{Title: "Too Many Requests", Status: 429, Detail: "slow down", Retry: 1500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := transport.ProblemFor(tt.err)
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("ProblemFor(%v) mismatch (-want +got):\n%s", tt.err, diff)
			}
		})
	}
}

func TestProblemForDoesNotMutateTheError(t *testing.T) {
	p := &transport.Problem{Detail: "x"}
	_ = transport.ProblemFor(p)
	if p.Status != 0 || p.Title != "" {
		t.Errorf("ProblemFor changed its argument: %+v", p)
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		respID       string
		reqID        string
		wantStatus   int
		wantInstance string
		wantRetry    string
	}{
		{"instance from response header", statusErr{404, "nope"}, "resp-id", "req-id", 404, "resp-id", ""},
		{"instance from request header", statusErr{404, "nope"}, "", "req-id", 404, "req-id", ""},
		{"explicit instance kept", &transport.Problem{Status: 400, Instance: "/orders/7"}, "resp-id", "", 400, "/orders/7", ""},
		{"retry after rounded up", retryErr{1100 * time.Millisecond}, "", "", 429, "", "2"},
		{"retry after at least 1", retryErr{time.Millisecond}, "", "", 429, "", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Length", "999")
			if tt.respID != "" {
				rec.Header().Set(transport.HeaderRequestID, tt.respID)
			}
			req := httptest.NewRequest("GET", "/", nil)
			if tt.reqID != "" {
				req.Header.Set(transport.HeaderRequestID, tt.reqID)
			}
			transport.WriteError(rec, req, tt.err)
			resp := rec.Result()
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Length") == "999" {
				t.Errorf("headers = %v, want nosniff and no stale Content-Length", resp.Header)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			p := decodeProblem(t, resp)
			if resp.StatusCode != tt.wantStatus || p.Status != tt.wantStatus || p.Instance != tt.wantInstance {
				t.Errorf("WriteError(%v) = %d %+v, want %d instance %q", tt.err, resp.StatusCode, p, tt.wantStatus, tt.wantInstance)
			}
		})
	}
	// r may be nil.
	rec := httptest.NewRecorder()
	transport.WriteError(rec, nil, errors.New("x"))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"status":500`) {
		t.Errorf("WriteError(nil request) = %d %s", rec.Code, rec.Body)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{0, "1"}, {-time.Second, "1"}, {time.Second, "1"}, {1001 * time.Millisecond, "2"}, {time.Minute, "60"}} {
		if got := transport.RetryAfterSeconds(tt.d); got != tt.want {
			t.Errorf("RetryAfterSeconds(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		v      string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	} {
		got, ok := transport.ParseRetryAfter(tt.v, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v, want %v, %v", tt.v, got, ok, tt.want, tt.wantOK)
		}
	}
}

// FuzzParseRetryAfter: never panics, never returns a negative wait.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "-1", "99999999999999999999", "Mon, 02 Jan 2006 15:04:05 GMT"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := transport.ParseRetryAfter(v, now); d < 0 || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
