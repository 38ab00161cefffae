package transport_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-go/gantry/transport"
)

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
