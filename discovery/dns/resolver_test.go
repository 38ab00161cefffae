package dns

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/discovery"
)

// fakeDNS is a hand-written Lookuper whose answers the test changes.
type fakeDNS struct {
	mu    sync.Mutex
	hosts map[string][]string
	srv   map[string][]*net.SRV
	err   error
	calls int
}

func (f *fakeDNS) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return "", nil, f.err
	}
	return name, f.srv[name], nil
}

func (f *fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	var out []net.IPAddr
	for _, h := range f.hosts[host] {
		out = append(out, net.IPAddr{IP: net.ParseIP(h)})
	}
	if out == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func (f *fakeDNS) set(fn func(*fakeDNS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func addrs(s discovery.Snapshot) []string {
	var out []string
	for _, in := range s.Instances {
		out = append(out, in.Address)
	}
	return out
}

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets("catalog=catalog.default.svc:8081; payment=srv:_http._tcp.payment.default.svc")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Target{
		"catalog": {Name: "catalog.default.svc", Port: 8081},
		"payment": {Name: "_http._tcp.payment.default.svc", SRV: true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ParseTargets() mismatch (-want +got):\n%s", d)
	}
	for _, bad := range []string{"catalog", "catalog=host", "catalog=host:0", "catalog=srv:", "catalog=srv:h:80", "a.b=h:1", "x=h:1;x=h:2"} {
		if _, err := ParseTargets(bad); !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), "DISCOVERY_DNS") {
			t.Errorf("ParseTargets(%q) error = %v, want ErrInvalidTarget naming DISCOVERY_DNS", bad, err)
		}
	}
	if _, err := NewResolver(nil, Settings{Interval: -1}); !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), "DISCOVERY_DNS_INTERVAL") {
		t.Errorf("NewResolver(Interval: -1) error = %v, want one naming DISCOVERY_DNS_INTERVAL", err)
	}
}

// Re-resolution on the interval, SRV expansion, and stale-if-error, on a fake clock
// (synctest).
func TestResolverRefreshesOnInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fd := &fakeDNS{
			hosts: map[string][]string{"cat.svc": {"10.0.0.1", "10.0.0.2"}, "n1.": {"10.0.1.1"}, "n2.": {"::1"}},
			srv:   map[string][]*net.SRV{"_http._tcp.pay.svc": {{Target: "n1.", Port: 81}, {Target: "n2.", Port: 82}}},
		}
		r, err := NewResolver(fd, Settings{Targets: "cat=cat.svc:80;pay=srv:_http._tcp.pay.svc", Interval: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait()
		cat, _ := r.Lookup("cat")
		pay, _ := r.Lookup("pay")
		if got := addrs(cat.Snapshot()); !cmp.Equal(got, []string{"10.0.0.1:80", "10.0.0.2:80"}) {
			t.Errorf("cat at start = %v, want both A records on port 80", got)
		}
		if got := addrs(pay.Snapshot()); !cmp.Equal(got, []string{"10.0.1.1:81", "[::1]:82"}) {
			t.Errorf("pay at start = %v, want the SRV targets with their ports", got)
		}

		fd.set(func(f *fakeDNS) { f.hosts["cat.svc"] = []string{"10.0.0.3"} })
		time.Sleep(5*time.Second - time.Millisecond)
		synctest.Wait()
		if got := addrs(cat.Snapshot()); len(got) != 2 {
			t.Errorf("cat just before the interval = %v, want the old set", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := addrs(cat.Snapshot()); !cmp.Equal(got, []string{"10.0.0.3:80"}) {
			t.Errorf("cat after the interval = %v, want [10.0.0.3:80]", got)
		}

		fd.set(func(f *fakeDNS) { f.err = errors.New("server misbehaving") })
		time.Sleep(5 * time.Second)
		synctest.Wait()
		s := cat.Snapshot()
		if got := addrs(s); !cmp.Equal(got, []string{"10.0.0.3:80"}) || s.Err == nil {
			t.Errorf("cat while DNS fails = %v, err %v; want the last set with an error", got, s.Err)
		}
		fd.set(func(f *fakeDNS) { f.err = nil })
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if s := cat.Snapshot(); s.Err != nil {
			t.Errorf("cat after DNS recovered: err %v, want nil", s.Err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	})
}
