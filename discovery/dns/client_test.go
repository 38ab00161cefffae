package dns

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/internal/consultest"
)

// Client against a real DNS server (Consul's DNS interface) with a 3s TTL: A and SRV
// answers, the TTL, NXDOMAIN, and the Resolver wired to it.
func TestClientAgainstConsulDNS(t *testing.T) {
	agent := consultest.StartWith(t, consultest.Options{HCL: []string{`dns_config { service_ttl { "*" = "3s" }, node_ttl = "3s" }`}})
	c := agent.Client()
	for i := range 2 {
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: fmt.Sprintf("api-%d", i), Name: "api", Address: fmt.Sprintf("127.0.0.%d", i+2), Port: 9000 + i}); err != nil {
			t.Fatal(err)
		}
	}
	cl := NewClient(agent.DNSAddr())
	ctx := context.Background()

	ins, ttl, err := cl.ResolveTTL(ctx, Target{Name: "api.service.consul", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if got := addrsOf(ins); !cmp.Equal(got, []string{"127.0.0.2:80", "127.0.0.3:80"}) || ttl != 3*time.Second {
		t.Errorf("ResolveTTL(A api.service.consul) = %v, ttl %v; want both addresses on port 80, ttl 3s", got, ttl)
	}
	ins, ttl, err = cl.ResolveTTL(ctx, Target{Name: "api.service.consul", SRV: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := addrsOf(ins); !cmp.Equal(got, []string{"127.0.0.2:9000", "127.0.0.3:9001"}) || ttl != 3*time.Second {
		t.Errorf("ResolveTTL(SRV api.service.consul) = %v, ttl %v; want each address with its own port, ttl 3s", got, ttl)
	}
	if _, _, err := cl.ResolveTTL(ctx, Target{Name: "nosuch.service.consul", Port: 80}); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResolveTTL(nosuch) error = %v, want ErrNotFound", err)
	}
	// As a plain Lookuper too.
	if ips, err := cl.LookupIPAddr(ctx, "api.service.consul"); err != nil || len(ips) != 2 {
		t.Errorf("LookupIPAddr(api.service.consul) = %v, %v; want 2 addresses", ips, err)
	}

	r, err := NewResolver(cl, Settings{Targets: "api=srv:api.service.consul"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	f, _ := r.Lookup("api")
	if got := addrsOf(f.Snapshot().Instances); len(got) != 2 {
		t.Errorf("Resolver over Client: %v, want 2 instances", got)
	}
}

func addrsOf(ins []discovery.Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.Address)
	}
	return out
}

// ttlDNS is a hand-written TTLResolver that records when it resolves, and fails
// with err when it is set.
type ttlDNS struct {
	fakeDNS
	mu    sync.Mutex
	ttl   time.Duration
	err   error
	times []time.Time
}

func (d *ttlDNS) ResolveTTL(context.Context, Target) ([]discovery.Instance, time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.times = append(d.times, time.Now())
	if d.err != nil {
		return nil, 0, d.err
	}
	return []discovery.Instance{{ID: "10.0.0.1:80", Address: "10.0.0.1:80"}}, d.ttl, nil
}

func (d *ttlDNS) resolutions() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.times
}

// plainDNS is a Lookuper without TTLs, as a *net.Resolver is, that records when it
// resolves.
type plainDNS struct {
	mu    sync.Mutex
	times []time.Time
}

func (d *plainDNS) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, errors.New("plainDNS: no SRV")
}

func (d *plainDNS) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.times = append(d.times, time.Now())
	return []net.IPAddr{{IP: net.IPv4(10, 0, 0, 1)}}, nil
}

func (d *plainDNS) resolutions() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.times
}

// runFor runs r for d of fake time (call it in a synctest bubble) and returns when
// Run has.
func runFor(t *testing.T, r *Resolver, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(d)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
}

// checkGaps fails t unless times holds n resolutions, each gap apart.
func checkGaps(t *testing.T, what string, times []time.Time, n int, gap time.Duration) {
	t.Helper()
	if len(times) != n {
		t.Fatalf("%s: %d resolutions, want %d (every %v)", what, len(times), n, gap)
	}
	for i := 1; i < len(times); i++ {
		if got := times[i].Sub(times[i-1]); got != gap {
			t.Errorf("%s: gap %d = %v, want %v", what, i, got, gap)
		}
	}
}

// Without TTLs (a *net.Resolver, or any Lookuper that is not a TTLResolver) a name is
// resolved again every Interval, whatever MaxTTL says; after a failed lookup, a
// TTLResolver's name is too.
func TestResolverUsesIntervalWithoutTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &plainDNS{}
		r, err := NewResolver(d, Settings{Targets: "a=a.svc:80", Interval: 7 * time.Second, MaxTTL: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		runFor(t, r, 3*7*time.Second+time.Second)
		checkGaps(t, "plain Lookuper, Interval 7s, MaxTTL 2s", d.resolutions(), 4, 7*time.Second)
	})
	synctest.Test(t, func(t *testing.T) {
		d := &ttlDNS{ttl: 2 * time.Second, err: errors.New("server misbehaving")}
		r, err := NewResolver(d, Settings{Targets: "a=a.svc:80", Interval: 7 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		runFor(t, r, 3*7*time.Second+time.Second)
		checkGaps(t, "failing TTLResolver, Interval 7s", d.resolutions(), 4, 7*time.Second)
	})
}

// With TTLs, names are resolved again when the answer expires, clamped to
// [1s, MaxTTL], instead of every Interval. A TTL of 0 (do not cache) means 1s.
func TestResolverFollowsTTL(t *testing.T) {
	for _, tt := range []struct {
		ttl, want time.Duration
	}{
		{2 * time.Second, 2 * time.Second},
		{0, time.Second},
		{100 * time.Millisecond, time.Second},
		{time.Hour, 30 * time.Second},
		{math.MaxUint32 * time.Second, 30 * time.Second}, // the largest TTL a Client reports
	} {
		synctest.Test(t, func(t *testing.T) {
			d := &ttlDNS{ttl: tt.ttl}
			r, err := NewResolver(d, Settings{Targets: "a=a.svc:80", Interval: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { _ = r.Run(ctx); close(done) }()
			time.Sleep(3*tt.want + tt.want/2)
			cancel()
			<-done
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.times) != 4 {
				t.Fatalf("TTL %v: %d resolutions in %v, want 4 (every %v)", tt.ttl, len(d.times), 3*tt.want+tt.want/2, tt.want)
			}
			for i := 1; i < len(d.times); i++ {
				if gap := d.times[i].Sub(d.times[i-1]); gap != tt.want {
					t.Errorf("TTL %v: gap %d = %v, want %v", tt.ttl, i, gap, tt.want)
				}
			}
		})
	}
}

func TestSystemNameserver(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	_ = os.WriteFile(conf, []byte("# x\nsearch default.svc.cluster.local\nnameserver 10.96.0.10\nnameserver 8.8.8.8\n"), 0o600)
	if got := systemNameserver(conf); got != "10.96.0.10:53" {
		t.Errorf("systemNameserver() = %q, want 10.96.0.10:53", got)
	}
	if got := systemNameserver(filepath.Join(dir, "missing")); got != "127.0.0.1:53" {
		t.Errorf("systemNameserver(missing) = %q, want 127.0.0.1:53", got)
	}
}
