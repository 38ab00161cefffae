package resilience

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientKeys(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	behind := KeyByForwardedClient(trusted)
	tests := []struct {
		name       string
		remote     string
		xff        []string
		forwarded  string
		wantDirect string // KeyByClientIP
		wantBehind string // KeyByForwardedClient(trusted)
	}{
		{name: "ipv4 peer", remote: "203.0.113.7:5555", wantDirect: "203.0.113.7", wantBehind: "203.0.113.7"},
		{name: "ipv6 peer keyed by /64", remote: "[2001:db8:1:2:aaaa::1]:443", wantDirect: "2001:db8:1:2::/64", wantBehind: "2001:db8:1:2::/64"},
		{name: "ipv6 neighbours share a key", remote: "[2001:db8:1:2:ffff::9]:443", wantDirect: "2001:db8:1:2::/64", wantBehind: "2001:db8:1:2::/64"},
		{name: "spoofed XFF from an untrusted peer is ignored", remote: "203.0.113.7:1", xff: []string{"198.51.100.1"},
			wantDirect: "203.0.113.7", wantBehind: "203.0.113.7"},
		{name: "trusted proxy: right-most untrusted hop", remote: "10.1.1.1:1", xff: []string{"198.51.100.9, 203.0.113.5, 10.2.2.2"},
			wantDirect: "10.1.1.1", wantBehind: "203.0.113.5"},
		{name: "client prepends a fake hop: still the real one", remote: "10.1.1.1:1", xff: []string{"1.1.1.1", "203.0.113.5"},
			wantDirect: "10.1.1.1", wantBehind: "203.0.113.5"},
		{name: "ipv6 client behind a proxy", remote: "10.1.1.1:1", xff: []string{"2001:db8:9:9::1"}, wantDirect: "10.1.1.1", wantBehind: "2001:db8:9:9::/64"},
		{name: "every hop trusted: the left-most", remote: "10.1.1.1:1", xff: []string{"10.3.3.3, 10.2.2.2"}, wantDirect: "10.1.1.1", wantBehind: "10.3.3.3"},
		{name: "garbage hop stops the walk at the proxy", remote: "10.1.1.1:1", xff: []string{"203.0.113.5, bogus"}, wantDirect: "10.1.1.1", wantBehind: "10.1.1.1"},
		{name: "Forwarded for= without XFF", remote: "[fd00::1]:1", forwarded: `for=198.51.100.2;proto=https, for="[fd00::2]:80"`,
			wantDirect: "fd00::/64", wantBehind: "198.51.100.2"},
		{name: "no headers behind a proxy: the proxy", remote: "10.1.1.1:1", wantDirect: "10.1.1.1", wantBehind: "10.1.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tt.forwarded != "" {
				r.Header.Set("Forwarded", tt.forwarded)
			}
			if got := KeyByClientIP(r); got != tt.wantDirect {
				t.Errorf("KeyByClientIP(%s) = %q, want %q", tt.remote, got, tt.wantDirect)
			}
			if got := behind(r); got != tt.wantBehind {
				t.Errorf("KeyByForwardedClient(%v)(%s, XFF %q, Forwarded %q) = %q, want %q", trusted, tt.remote, tt.xff, tt.forwarded, got, tt.wantBehind)
			}
		})
	}
}

func TestKeyByClientIPv4DoesNotAllocate(t *testing.T) {
	r := &http.Request{RemoteAddr: "203.0.113.7:5555"}
	if n := testing.AllocsPerRun(100, func() { _ = KeyByClientIP(r) }); n != 0 {
		t.Errorf("KeyByClientIP(ipv4) allocates %v times, want 0", n)
	}
}

// FuzzKeyByForwardedClient: any header a client sends yields a key without panicking,
// an untrusted peer is always keyed by itself, and behind a trusted peer the key is an
// address or an IPv6 /64 that the peer or one of the hops named (never a string a
// client made up, which would mint a fresh bucket per request).
func FuzzKeyByForwardedClient(f *testing.F) {
	f.Add("203.0.113.7:1", "1.1.1.1, 10.0.0.1", `for="[::1]:1"`)
	f.Add("10.0.0.1:1", "garbage,,,", "for=;for=x")
	f.Add("10.0.0.1:1", "", `for="[2001:db8::1]:443";proto=https, for=10.0.0.2`)
	f.Add("10.0.0.1:1", "2001:db8::1, ::ffff:10.0.0.3", "")
	f.Add("[::ffff:10.0.0.1]:1", "198.51.100.1", "")
	f.Add("10.0.0.1:1", "_hidden, 10.0.0.9", `For=unknown`)
	key := KeyByForwardedClient([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}, "Forwarded": {fwd}}}
		got := key(r)
		a, ok := parseHost(remote)
		if !ok || !netip.MustParsePrefix("10.0.0.0/8").Contains(a) {
			if want := KeyByClientIP(r); got != want {
				t.Fatalf("untrusted peer %q keyed %q, want %q (its own)", remote, got, want)
			}
			return
		}
		named := map[string]bool{clientKey(a.String()): true}
		for _, h := range forwardedFor(r.Header) {
			if ha, ok := parseHost(h); ok {
				named[clientKey(ha.String())] = true
			}
		}
		if !named[got] {
			t.Fatalf("behind trusted peer %q (X-Forwarded-For %q, Forwarded %q) keyed %q, not the peer or a hop", remote, xff, fwd, got)
		}
		if _, err := netip.ParseAddr(got); err != nil {
			if p, err := netip.ParsePrefix(got); err != nil || p.Bits() != 64 {
				t.Fatalf("behind trusted peer %q keyed %q, want an address or a /64", remote, got)
			}
		}
	})
}
