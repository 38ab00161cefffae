package transport_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// echoServer answers with the Gantry-Timeout and X-Request-Id it received, and the
// remaining deadline headerDeadline gave the handler (ms, -1 if none).
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	h := headerDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Got-Timeout", r.Header.Get(transport.HeaderTimeout))
		w.Header().Set("Got-Request-Id", r.Header.Get(transport.HeaderRequestID))
		left := int64(-1)
		if dl, ok := r.Context().Deadline(); ok {
			left = time.Until(dl).Milliseconds()
		}
		w.Header().Set("Left", strconv.FormatInt(left, 10))
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestClientPropagation(t *testing.T) {
	srv := echoServer(t)
	tests := []struct {
		name       string
		settings   transport.ClientSettings
		ctxTimeout time.Duration
		ctxID      string
		headerID   string
		wantID     string
		maxMS      int64 // the propagated value must be in (0, maxMS]; 0 = absent
	}{
		{name: "ctx deadline and id", settings: transport.ClientSettings{Timeout: -1}, ctxTimeout: 2 * time.Second, ctxID: "abc-1", wantID: "abc-1", maxMS: 2000},
		{name: "client timeout becomes the deadline", settings: transport.ClientSettings{Timeout: 3 * time.Second}, maxMS: 3000},
		{name: "earlier of ctx and client timeout", settings: transport.ClientSettings{Timeout: 3 * time.Second}, ctxTimeout: time.Second, maxMS: 1000},
		{name: "no deadline at all", settings: transport.ClientSettings{Timeout: -1}},
		{name: "explicit id wins", settings: transport.ClientSettings{Timeout: -1}, ctxID: "from-ctx", headerID: "explicit", wantID: "explicit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := transport.NewClient(tt.settings, transport.PropagateDeadline(), transport.PropagateRequestID())
			defer c.CloseIdleConnections()
			ctx := context.Background()
			if tt.ctxID != "" {
				ctx = transport.ContextWithRequestID(ctx, tt.ctxID)
			}
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
			if tt.headerID != "" {
				req.Header.Set(transport.HeaderRequestID, tt.headerID)
			}
			before := req.Header.Clone()
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			resp.Body.Close()
			if len(req.Header) != len(before) || req.Header.Get(transport.HeaderTimeout) != "" {
				t.Errorf("caller's request headers changed: %v, want %v", req.Header, before)
			}
			if got := resp.Header.Get("Got-Request-Id"); got != tt.wantID {
				t.Errorf("server saw request id %q, want %q", got, tt.wantID)
			}
			gotMS := resp.Header.Get("Got-Timeout")
			if tt.maxMS == 0 {
				if gotMS != "" || resp.Header.Get("Left") != "-1" {
					t.Errorf("server saw timeout %q (left %s), want none", gotMS, resp.Header.Get("Left"))
				}
				return
			}
			ms, err := strconv.ParseInt(gotMS, 10, 64)
			if err != nil || ms <= 0 || ms > tt.maxMS {
				t.Errorf("server saw timeout %q, want 1..%d ms", gotMS, tt.maxMS)
			}
			left, _ := strconv.ParseInt(resp.Header.Get("Left"), 10, 64)
			if left < 0 || left > ms {
				t.Errorf("server handler deadline left = %dms, want 0..%d", left, ms)
			}
		})
	}
}

func TestNewTransportDefaults(t *testing.T) {
	tr := transport.NewRoundTripper(transport.ClientSettings{})
	if tr.MaxIdleConnsPerHost != 64 || tr.MaxIdleConns != 256 || tr.IdleConnTimeout != 90*time.Second ||
		tr.TLSHandshakeTimeout != 5*time.Second || tr.ResponseHeaderTimeout != 0 || tr.Proxy == nil || tr.DialContext == nil {
		t.Errorf("NewRoundTripper(zero) = %+v, want the documented defaults", tr)
	}
	tr = transport.NewRoundTripper(transport.ClientSettings{MaxIdleConnsPerHost: 8, ResponseHeaderTimeout: time.Second, IdleConnTimeout: -1})
	if tr.MaxIdleConnsPerHost != 8 || tr.ResponseHeaderTimeout != time.Second || tr.IdleConnTimeout != 0 {
		t.Errorf("NewRoundTripper(custom) = %+v", tr)
	}
	if c := transport.NewClient(transport.ClientSettings{}); c.Timeout != 30*time.Second {
		t.Errorf("NewClient(zero).Timeout = %v, want 30s", c.Timeout)
	}
	if c := transport.NewClient(transport.ClientSettings{Timeout: -1}); c.Timeout != 0 {
		t.Errorf("NewClient(Timeout: -1).Timeout = %v, want 0 (none)", c.Timeout)
	}
}

func TestClientSettingsValidate(t *testing.T) {
	if err := (transport.ClientSettings{}).Validate(); err != nil {
		t.Errorf("Validate(zero) = %v, want nil", err)
	}
	err := transport.ClientSettings{MaxIdleConns: -1, MaxConnsPerHost: -2}.Validate()
	if err == nil || !containsAll(err.Error(), "HTTP_CLIENT_MAX_IDLE_CONNS:", "HTTP_CLIENT_MAX_CONNS_PER_HOST:") {
		t.Errorf("Validate(bad) = %v, want both variables named", err)
	}
}
