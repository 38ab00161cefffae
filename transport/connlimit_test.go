package transport_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// TestLimitListener holds idle keep-alive connections from one client address until
// its cap: further ones are closed by the server at once, a second client address is
// still served, and closing a connection gives its place back.
func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := transport.LimitListener(ln, transport.ConnLimitSettings{MaxConns: 8, MaxConnsPerClient: 5})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() { _ = srv.Serve(limited) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", from, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// served reports whether c gets an answer to a request (a refused connection is
	// closed by the server before it reads anything).
	served := func(c net.Conn) bool {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}

	var held []net.Conn
	for i := range 5 {
		c := dial("127.0.0.1")
		if !served(c) {
			t.Fatalf("connection %d of 5 from 127.0.0.1 not served, want served (the cap is 5)", i+1)
		}
		held = append(held, c)
	}
	for i := range 3 {
		if c := dial("127.0.0.1"); served(c) {
			t.Errorf("connection %d over the per-client cap was served, want closed", i+6)
		}
	}
	other := dial("127.0.0.2")
	if !served(other) {
		t.Errorf("another client (127.0.0.2) was not served while 127.0.0.1 sat at its cap")
	}
	if got := limited.(interface{ Refused() uint64 }).Refused(); got != 3 {
		t.Errorf("Refused() = %d, want 3", got)
	}
	held[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for !served(dial("127.0.0.1")) {
		if time.Now().After(deadline) {
			t.Fatalf("a place freed by closing a connection was never given back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The total cap: 5 (one freed, one retaken) + 1 from 127.0.0.2 + extras up to 8.
	for _, from := range []string{"127.0.0.3", "127.0.0.4"} {
		if !served(dial(from)) {
			t.Errorf("connection from %s under the total cap of 8 was not served", from)
		}
	}
	if served(dial("127.0.0.5")) {
		t.Errorf("a connection over the total cap of 8 was served, want closed")
	}
}

func TestLimitListenerWithoutLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := transport.LimitListener(ln, transport.ConnLimitSettings{}); got != ln {
		t.Errorf("LimitListener(no limits) = %T, want the listener itself", got)
	}
}
