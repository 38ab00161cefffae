package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	"github.com/go-kit/log"
	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul/consultest"
	"github.com/gantry-go/gantry/transport"
)

func discoveryFeed(n int) *discovery.Feed {
	m := discovery.NewMemory()
	for i := range n {
		m.Register("svc", discovery.Instance{ID: fmt.Sprintf("i-%02d", i), Address: fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1)})
	}
	f, _ := m.Lookup("svc")
	return f
}

var sinkEndpoint *discovery.Endpoint

// BenchmarkDiscovery compares a cached pick (Gantry's Balancer: an atomic snapshot
// load plus an atomic counter or two random choices) with go-kit's endpoint cache
// behind lb.RoundRobin, and with what a pick costs without a cache: one
// Health().Service call to a real local Consul agent.
//
// Gates (docs/discovery.md): cached-ours ≤ 10 ns/op and 0 allocs/op;
// cached-ours-parallel with 2 goroutines (-cpu 2) ≤ 25 ns/op aggregate; ≥ 5,000×
// cheaper than consulapi-uncached.
func BenchmarkDiscovery(b *testing.B) {
	ns := []int{3, 50}
	for _, n := range ns {
		f := discoveryFeed(n)
		rr := discovery.NewBalancer(f, discovery.BalancerSettings{Policy: discovery.PolicyRoundRobin})
		p2c := discovery.NewBalancer(f, discovery.BalancerSettings{Policy: discovery.PolicyP2C})
		// The floor of a lock-free round-robin pick on this machine: one atomic
		// pointer load, one atomic add, one modulo. cached-ours is measured against it.
		b.Run(fmt.Sprintf("impl=raw-atomic-rr/n=%d", n), func(b *testing.B) {
			var set atomic.Pointer[[]*discovery.Endpoint]
			eps := make([]*discovery.Endpoint, n)
			set.Store(&eps)
			var next atomic.Uint64
			b.ReportAllocs()
			for b.Loop() {
				s := *set.Load()
				sinkEndpoint = s[next.Add(1)%uint64(len(s))]
			}
		})
		b.Run(fmt.Sprintf("impl=cached-ours/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkEndpoint, _ = rr.Pick()
			}
		})
		b.Run(fmt.Sprintf("impl=cached-ours-parallel/n=%d", n), func(b *testing.B) {
			// GOMAXPROCS goroutines (2 on the 2-core box the gate is stated for) share
			// the balancer; ns/op is wall time per pick, all goroutines together.
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var e *discovery.Endpoint
				for pb.Next() {
					e, _ = rr.Pick()
				}
				_ = e
			})
		})
		b.Run(fmt.Sprintf("impl=cached-ours-p2c/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkEndpoint, _ = p2c.Pick()
			}
		})
		b.Run(fmt.Sprintf("impl=gokit-endpointcache/n=%d", n), func(b *testing.B) {
			var inst []string
			for _, in := range f.Snapshot().Instances {
				inst = append(inst, in.Address)
			}
			factory := func(string) (endpoint.Endpoint, io.Closer, error) { return endpoint.Nop, nil, nil }
			e := sd.NewEndpointer(sd.FixedInstancer(inst), factory, log.NewNopLogger())
			bal := lb.NewRoundRobin(e)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, _ = bal.Endpoint()
			}
		})
	}

	// The uncached baseline needs a real agent.
	agent := consultest.Start(b)
	c := agent.Client()
	for _, n := range ns {
		name := fmt.Sprintf("svc%d", n)
		for i := range n {
			reg := &api.AgentServiceRegistration{ID: fmt.Sprintf("%s-%d", name, i), Name: name, Address: "127.0.0.1", Port: 10000 + i}
			if err := c.Agent().ServiceRegister(reg); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("impl=consulapi-uncached/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				entries, _, err := c.Health().Service(name, "", true, nil)
				if err != nil || len(entries) != n {
					b.Fatalf("Health().Service(%s) = %d entries, %v; want %d", name, len(entries), err, n)
				}
			}
		})
	}
}

// chain is a two-hop chain: the client calls front, front calls back.
type chain struct {
	client   *http.Client
	frontURL string
	close    func()
}

// newChain builds front -> back on loopback. With a resolver, every hop's URL is
// http://<service>/ through a discovery.Router; otherwise it is the server's
// static address.
func newChain(b *testing.B, resolved bool, replicas int) chain {
	b.Helper()
	base := func() *http.Transport {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		return t
	}
	var closers []func()
	start := func(h http.Handler) []string {
		var urls []string
		for range replicas {
			s := httptest.NewServer(h)
			closers = append(closers, s.Close)
			urls = append(urls, s.URL)
		}
		return urls
	}
	backURLs := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	var frontClient *http.Client
	backURL := backURLs[0]
	frontURLs := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, backURL+"/item", nil)
		resp, err := frontClient.Do(req)
		if err != nil {
			transport.WriteError(w, r, err)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(w, resp.Body)
	}))
	ch := chain{frontURL: frontURLs[0] + "/", close: func() {
		for _, c := range closers {
			c()
		}
	}}
	if !resolved {
		frontClient = &http.Client{Transport: base()}
		ch.client = &http.Client{Transport: base()}
		return ch
	}
	services, err := discovery.ParseStatic("back=" + strings.Join(backURLs, ",") + ";front=" + strings.Join(frontURLs, ","))
	if err != nil {
		b.Fatal(err)
	}
	r := discovery.NewStatic(services)
	frontClient = &http.Client{Transport: discovery.NewRouter(r, base(), discovery.BalancerSettings{})}
	ch.client = &http.Client{Transport: discovery.NewRouter(r, base(), discovery.BalancerSettings{})}
	backURL, ch.frontURL = "http://back", "http://front/"
	return ch
}

// BenchmarkChain measures a two-hop chain of loopback services called with static
// addresses and through the resolving RoundTripper (Static resolver, P2C balancer).
// Gate: resolved ≥ 0.98× the throughput of static (ns/op within 2%).
func BenchmarkChain(b *testing.B) {
	for _, v := range []struct {
		name     string
		resolved bool
		replicas int
	}{{"static", false, 1}, {"resolved", true, 1}, {"resolved-2replicas", true, 2}} {
		b.Run("impl="+v.name, func(b *testing.B) {
			ch := newChain(b, v.resolved, v.replicas)
			defer ch.close()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ch.frontURL, nil)
				resp, err := ch.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

type nopRoundTripper struct{ resp *http.Response }

func (n nopRoundTripper) RoundTrip(*http.Request) (*http.Response, error) { return n.resp, nil }

// BenchmarkResolvingRoundTripper isolates what discovery.Router adds to one
// request (resolve, pick, outcome report, request copy) over a RoundTripper that
// does nothing, so that the chain's ratio can be read without network noise.
func BenchmarkResolvingRoundTripper(b *testing.B) {
	resp := &http.Response{StatusCode: http.StatusOK}
	req := httptest.NewRequest(http.MethodGet, "http://catalog/items", nil)
	b.Run("impl=bare", func(b *testing.B) {
		var rt http.RoundTripper = nopRoundTripper{resp}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = rt.RoundTrip(req)
		}
	})
	for _, p := range []string{discovery.PolicyRoundRobin, discovery.PolicyP2C} {
		b.Run("impl=ours-"+p, func(b *testing.B) {
			r := discovery.NewStatic(map[string][]discovery.Instance{"catalog": {{ID: "a", Address: "10.0.0.1:80"}, {ID: "b", Address: "10.0.0.2:80"}}})
			t := discovery.NewRouter(r, nopRoundTripper{resp}, discovery.BalancerSettings{Policy: p})
			defer t.Close()
			b.ReportAllocs()
			for b.Loop() {
				_, _ = t.RoundTrip(req)
			}
		})
	}
}
