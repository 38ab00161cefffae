package transport_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/transport"
)

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestNewServer(t *testing.T) {
	tests := []struct {
		name string
		in   transport.ServerSettings
		addr string
		rh   time.Duration
		rd   time.Duration
		wr   time.Duration
		idle time.Duration
		mhb  int
	}{
		{"zero value gets safe defaults", transport.ServerSettings{}, ":8080", 5 * time.Second, 30 * time.Second, 60 * time.Second, 120 * time.Second, 64 << 10},
		{"explicit values", transport.ServerSettings{Addr: "127.0.0.1:9", ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second,
			WriteTimeout: 3 * time.Second, IdleTimeout: 4 * time.Second, MaxHeaderBytes: 1000}, "127.0.0.1:9", time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 1000},
		{"negative disables", transport.ServerSettings{WriteTimeout: -1, ReadTimeout: -1}, ":8080", 5 * time.Second, 0, 0, 120 * time.Second, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := transport.NewServer(nil, tt.in)
			if s.Addr != tt.addr || s.ReadHeaderTimeout != tt.rh || s.ReadTimeout != tt.rd || s.WriteTimeout != tt.wr ||
				s.IdleTimeout != tt.idle || s.MaxHeaderBytes != tt.mhb {
				t.Errorf("NewServer(%+v) = addr %q rh %v rd %v wr %v idle %v mhb %d, want %q %v %v %v %v %d", tt.in,
					s.Addr, s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes,
					tt.addr, tt.rh, tt.rd, tt.wr, tt.idle, tt.mhb)
			}
		})
	}
}

func TestServerSettingsValidate(t *testing.T) {
	tests := []struct {
		name string
		in   transport.ServerSettings
		want []string // substrings; nil = valid
	}{
		{"zero", transport.ServerSettings{}, nil},
		{"ok", transport.ServerSettings{Addr: "127.0.0.1:0", MaxBodyBytes: 10}, nil},
		{"ipv6", transport.ServerSettings{Addr: "[::1]:8080"}, nil},
		{"bad addr", transport.ServerSettings{Addr: "8080"}, []string{"HTTP_ADDR:"}},
		{"all bad", transport.ServerSettings{Addr: "x", MaxHeaderBytes: -1, MaxBodyBytes: -1, ReadHeaderTimeout: time.Minute, ReadTimeout: time.Second},
			[]string{"HTTP_ADDR:", "HTTP_MAX_HEADER_BYTES:", "HTTP_MAX_BODY_BYTES:", "HTTP_READ_HEADER_TIMEOUT:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if tt.want == nil {
				if err != nil {
					t.Errorf("Validate(%+v) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil || !containsAll(err.Error(), tt.want...) {
				t.Errorf("Validate(%+v) = %v, want it to name %v", tt.in, err, tt.want)
			}
		})
	}
	if got := (transport.ServerSettings{}).BodyLimit(); got != 1<<20 {
		t.Errorf("BodyLimit(zero) = %d, want 1 MiB", got)
	}
}

func TestNewServerLimitsOnARealServer(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = transport.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), transport.ServerSettings{ReadHeaderTimeout: 100 * time.Millisecond, MaxHeaderBytes: 1024})
	ts.Start()
	defer ts.Close()

	t.Run("oversized headers get 431", func(t *testing.T) {
		req, _ := http.NewRequest("GET", ts.URL, nil)
		req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status = %d, want 431", resp.StatusCode)
		}
	})

	t.Run("slow headers are cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		// Half a request, then silence: a Slowloris client.
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatalf("write: %v", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a backstop, far above the 100ms under test
		b, err := io.ReadAll(conn)
		if err != nil {
			t.Errorf("server did not close the slow connection: %v", err)
		}
		if len(b) != 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") {
			t.Errorf("slow connection got %q, want it closed (or a 408)", b)
		}
	})
}
