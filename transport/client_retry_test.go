package transport_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

// TestTransportRetriesByItself proves what NewRoundTripper's documentation warns about:
// when a reused keep-alive connection dies before the response, *http.Transport
// re-sends idempotent requests (GET, or any method with an Idempotency-Key) on its
// own, so the server sees the request twice, while a plain POST fails instead.
func TestTransportRetriesByItself(t *testing.T) {
	tests := []struct {
		name         string
		method       string
		key          bool
		wantAttempts int32
		wantOK       bool
	}{
		{"GET is re-sent", "GET", false, 2, true},
		{"POST with Idempotency-Key is re-sent", "POST", true, 2, true},
		{"plain POST is not", "POST", false, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attempts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/warm" {
					return
				}
				if attempts.Add(1) == 1 {
					// The first attempt dies with its connection, before any response.
					conn, _, err := http.NewResponseController(w).Hijack()
					if err == nil {
						conn.Close()
					}
					return
				}
			}))
			defer srv.Close()
			c := transport.NewClient(transport.ClientSettings{})
			defer c.CloseIdleConnections()

			// Warm up one keep-alive connection, so the next request reuses it.
			resp, err := c.Get(srv.URL + "/warm")
			if err != nil {
				t.Fatalf("warm-up: %v", err)
			}
			resp.Body.Close()

			req, _ := http.NewRequest(tt.method, srv.URL+"/order", strings.NewReader(`{"sku":"a1"}`))
			if tt.key {
				req.Header.Set(transport.HeaderIdempotencyKey, "k-1")
			}
			resp, err = c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if (err == nil) != tt.wantOK || attempts.Load() != tt.wantAttempts {
				t.Errorf("%s: err = %v, server saw %d attempts; want ok=%v and %d attempts",
					tt.name, err, attempts.Load(), tt.wantOK, tt.wantAttempts)
			}
		})
	}
}
