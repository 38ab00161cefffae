package consul

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/internal/consultest"
)

// Tests against a real `consul agent -dev` (see internal/consultest). Tests that do
// not stop the agent share one and run in parallel.

// run starts fn(ctx) in a goroutine and returns a stop function that cancels it and
// returns its error.
func run(t *testing.T, fn func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func watch(t *testing.T, c *api.Client, s WatchSettings) *Resolver {
	t.Helper()
	r, err := NewResolver(c, s)
	if err != nil {
		t.Fatal(err)
	}
	run(t, r.Run)
	return r
}

func feed(t *testing.T, r *Resolver, service string) *discovery.Feed {
	t.Helper()
	f, err := r.Lookup(service)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func hostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(rawURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func TestWithAgent(t *testing.T) {
	agent := consultest.Start(t)

	t.Run("register resolve deregister", func(t *testing.T) {
		t.Parallel()
		c := agent.Client()
		r := watch(t, c, WatchSettings{Services: []string{"rrd"}, Empty: EmptyAccept})
		f := feed(t, r, "rrd")
		reg, err := NewRegistrar(c, nil, Registration{Name: "rrd", ID: "rrd-1", Address: "127.0.0.1", Port: 8081,
			Tags: []string{"v1", "blue"}, Meta: map[string]string{"zone": "a"}})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, reg.Run)
		waitFeed(t, f, 5*time.Second, "registered instance resolved", hasID("rrd-1"))
		in := f.Snapshot().Instances[0]
		if in.Address != "127.0.0.1:8081" || in.Meta["zone"] != "a" || len(in.Tags) != 2 {
			t.Errorf("resolved %+v, want 127.0.0.1:8081 with tags [v1 blue] and meta zone=a", in)
		}
		if err := stop(); err != nil {
			t.Fatalf("Registrar.Run() = %v after cancel, want nil", err)
		}
		waitFeed(t, f, 5*time.Second, "deregistered instance gone", func(s discovery.Snapshot) bool { return len(s.Instances) == 0 })
		if svcs, _, _ := c.Catalog().Service("rrd", "", nil); len(svcs) != 0 {
			t.Errorf("catalog still lists %d rrd instances after Run returned, want 0", len(svcs))
		}
	})

	t.Run("http check critical removes instance within interval + 1s", func(t *testing.T) {
		t.Parallel()
		c := agent.Client()
		var sick atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sick.Load() && r.URL.Query().Get("id") == "hc-sick" {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer srv.Close()
		host, port := hostPort(t, srv.URL)
		r := watch(t, c, WatchSettings{Services: []string{"hc"}})
		f := feed(t, r, "hc")
		interval := time.Second
		for _, id := range []string{"hc-sick", "hc-well"} {
			reg, err := NewRegistrar(c, nil, Registration{Name: "hc", ID: id, Address: host, Port: port,
				Check: CheckHTTP, CheckURL: srv.URL + "/readyz?id=" + id, CheckInterval: interval})
			if err != nil {
				t.Fatal(err)
			}
			run(t, reg.Run)
		}
		waitFeed(t, f, 10*time.Second, "both instances passing", func(s discovery.Snapshot) bool { return len(s.Instances) == 2 })
		sick.Store(true) // only hc-sick's check URL starts failing
		took := waitFeed(t, f, interval+time.Second, "critical instance removed", not(hasID("hc-sick")))
		t.Logf("critical instance left resolution after %v (check interval %v)", took, interval)
		if !hasID("hc-well")(f.Snapshot()) {
			t.Error("the healthy instance left resolution too")
		}
	})

	t.Run("ttl check follows readiness", func(t *testing.T) {
		t.Parallel()
		c := agent.Client()
		r := watch(t, c, WatchSettings{Services: []string{"ttl"}})
		f := feed(t, r, "ttl")
		rd := &ready{ok: true}
		interval := 500 * time.Millisecond
		for _, id := range []string{"ttl-1", "ttl-2"} {
			var rr Readiness = &ready{ok: true}
			if id == "ttl-1" {
				rr = rd
			}
			reg, _ := NewRegistrar(c, rr, Registration{Name: "ttl", ID: id, Address: "127.0.0.1", Port: 9000, CheckInterval: interval})
			run(t, reg.Run)
		}
		waitFeed(t, f, 5*time.Second, "both ready instances resolved", func(s discovery.Snapshot) bool { return len(s.Instances) == 2 })
		rd.set(false)
		took := waitFeed(t, f, interval+time.Second, "not-ready instance removed", not(hasID("ttl-1")))
		t.Logf("not-ready instance left resolution after %v", took)
		rd.set(true)
		waitFeed(t, f, interval+time.Second, "ready again instance back", hasID("ttl-1"))
	})

	// Regression: the TTL check must be refreshed while readiness stays unchanged. It
	// once was reported only on changes, so every steady instance went critical one TTL
	// after start (found by the compose end-to-end test).
	t.Run("ttl check stays passing across many TTLs", func(t *testing.T) {
		t.Parallel()
		c := agent.Client()
		ttl := time.Second
		reg, err := NewRegistrar(c, &ready{ok: true}, Registration{Name: "steady", ID: "steady-1", Address: "127.0.0.1",
			Port: 9001, TTL: ttl, CheckInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		run(t, reg.Run)
		r := watch(t, c, WatchSettings{Services: []string{"steady"}})
		waitFeed(t, feed(t, r, "steady"), 5*time.Second, "instance passing", hasID("steady-1"))
		// Observe the check for 3.5 TTLs: it must never leave passing.
		for end := time.Now().Add(3*ttl + ttl/2); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			checks, err := c.Agent().Checks()
			if err != nil {
				t.Fatal(err)
			}
			if chk, ok := checks[reg.CheckID()]; !ok || chk.Status != "passing" {
				t.Fatalf("TTL check %s = %+v, want passing while the service stays ready", reg.CheckID(), chk)
			}
		}
	})

	t.Run("multiple tags", func(t *testing.T) {
		t.Parallel()
		c := agent.Client()
		for id, tags := range map[string][]string{"tg-ab": {"a", "b"}, "tg-a": {"a"}, "tg-b": {"b", "c"}, "tg-abc": {"c", "b", "a"}} {
			if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: id, Name: "tg", Port: 1, Address: "127.0.0.1", Tags: tags}); err != nil {
				t.Fatal(err)
			}
		}
		r := watch(t, c, WatchSettings{Services: []string{"tg"}, Tags: []string{"a", "b"}})
		f := feed(t, r, "tg")
		waitFeed(t, f, 5*time.Second, "tagged instances", func(s discovery.Snapshot) bool { return len(s.Instances) > 0 })
		var ids []string
		for _, in := range f.Snapshot().Instances {
			ids = append(ids, in.ID)
		}
		if strings.Join(ids, ",") != "tg-ab,tg-abc" {
			t.Errorf("instances with tags a and b = %v, want [tg-ab tg-abc]", ids)
		}
	})

	t.Run("idle watch makes one request per wait", func(t *testing.T) {
		t.Parallel()
		c := agent.Client()
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "idle-1", Name: "idle", Port: 1, Address: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		cc, cnt := countingClient(t, agent.Config())
		wait := time.Second
		r := watch(t, cc, WatchSettings{Services: []string{"idle"}, Wait: wait})
		waitFeed(t, feed(t, r, "idle"), 5*time.Second, "idle resolved", hasID("idle-1"))
		from := time.Now()
		// Other subtests churn the agent's global index meanwhile; a health query on
		// "idle" must still block for the whole wait (Consul filters per service).
		time.Sleep(3500 * time.Millisecond)
		got := len(cnt.since(from))
		// 3.5s / (1s + up to 1/16 jitter) is 3.x: at most 4 requests, including one in flight.
		if got > 4 {
			t.Errorf("idle watch sent %d health queries in 3.5s with a 1s wait, want <= 4", got)
		}
		if got < 3 {
			t.Errorf("idle watch sent %d health queries in 3.5s with a 1s wait, want >= 3 (it must keep watching)", got)
		}
	})

	t.Run("drain goes critical before deregister", func(t *testing.T) {
		t.Parallel()
		c := agent.Client()
		var serving atomic.Bool
		serving.Store(true)
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		host, port := hostPort(t, srv.URL)
		r := watch(t, c, WatchSettings{Services: []string{"shut"}})
		f := feed(t, r, "shut")
		// A second instance keeps the set non-empty, so the default keep policy applies.
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "shut-other", Name: "shut", Port: 1, Address: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		reg, _ := NewRegistrar(c, &ready{ok: true}, Registration{Name: "shut", ID: "shut-1", Address: host, Port: port})
		stop := run(t, reg.Run)
		waitFeed(t, f, 5*time.Second, "instance resolved", hasID("shut-1"))

		// Every snapshot that lists shut-1 must find its server serving.
		var violations atomic.Int32
		cancel := f.Subscribe(func(s discovery.Snapshot) {
			if hasID("shut-1")(s) && !serving.Load() {
				violations.Add(1)
			}
		})
		defer cancel()

		// gantry.Run's order: Drain, drain delay, deregister (cancel Run), stop the server.
		if err := reg.Drain(context.Background()); err != nil {
			t.Fatalf("Drain() = %v", err)
		}
		took := waitFeed(t, f, time.Second, "drained instance leaves passing set", not(hasID("shut-1")))
		t.Logf("drained instance left resolution after %v", took)
		if svcs, _, _ := c.Catalog().Service("shut", "", nil); len(svcs) != 2 {
			t.Fatalf("catalog lists %d shut instances right after Drain, want 2: Drain must not deregister", len(svcs))
		}
		// Run must not put a draining instance back, even across resyncs.
		if err := stop(); err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}
		svcs, _, _ := c.Catalog().Service("shut", "", nil)
		if len(svcs) != 1 || svcs[0].ServiceID != "shut-other" {
			t.Fatalf("catalog after Run returned lists %d instances, want only shut-other", len(svcs))
		}
		serving.Store(false)
		srv.Close()
		if v := violations.Load(); v != 0 {
			t.Errorf("%d snapshots listed the instance after its server stopped, want 0", v)
		}
	})

	t.Run("rolling drain through the resolving transport fails no request", func(t *testing.T) {
		t.Parallel()
		c := agent.Client()
		var hitsA, hitsB atomic.Int64
		srvA := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hitsA.Add(1) }))
		defer srvA.Close()
		srvB := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hitsB.Add(1) }))
		defer srvB.Close()
		r := watch(t, c, WatchSettings{Services: []string{"roll"}})
		var regA *Registrar
		var stopA func() error
		for _, srv := range []*httptest.Server{srvA, srvB} {
			host, port := hostPort(t, srv.URL)
			reg, err := NewRegistrar(c, &ready{ok: true}, Registration{Name: "roll", Address: host, Port: port})
			if err != nil {
				t.Fatal(err)
			}
			stop := run(t, reg.Run)
			if srv == srvA {
				regA, stopA = reg, stop
			}
		}
		waitFeed(t, feed(t, r, "roll"), 5*time.Second, "both instances", func(s discovery.Snapshot) bool { return len(s.Instances) == 2 })

		tr := discovery.NewRouter(r, nil, discovery.BalancerSettings{Policy: discovery.PolicyRoundRobin})
		defer tr.Close()
		client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
		var requests, failures atomic.Int64
		stopLoad := make(chan struct{})
		loadDone := make(chan struct{})
		go func() {
			defer close(loadDone)
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				requests.Add(1)
				resp, err := client.Get("http://roll/")
				if err != nil || resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		time.Sleep(300 * time.Millisecond) // traffic on both instances
		// Shutdown of A in gantry.Run's order: drain, drain delay, deregister, stop the server.
		if err := regA.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the drain delay (gantry.Run's default is 3s)
		if err := stopA(); err != nil {
			t.Fatal(err)
		}
		srvA.Close()
		afterA := hitsB.Load()
		time.Sleep(300 * time.Millisecond) // traffic on B alone
		close(stopLoad)
		<-loadDone
		t.Logf("%d requests: A served %d, B %d", requests.Load(), hitsA.Load(), hitsB.Load())
		if f := failures.Load(); f != 0 {
			t.Errorf("%d of %d requests failed during A's drain and shutdown, want 0", f, requests.Load())
		}
		if hitsA.Load() == 0 || hitsB.Load() == afterA {
			t.Errorf("A served %d and B served %d after A stopped; want traffic on both, then on B", hitsA.Load(), hitsB.Load()-afterA)
		}
	})

	t.Run("token is never logged", func(t *testing.T) {
		t.Parallel()
		const token = "3f7c1f6e-secret-token-4b1d"
		cfg := agent.Config()
		cfg.Token = token
		c, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(&lockedBuf{b: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		reg, _ := NewRegistrar(c, nil, Registration{Name: "tok", Port: 1, Address: "127.0.0.1", Logger: logger})
		r := watch(t, c, WatchSettings{Services: []string{"tok"}, Logger: logger})
		stop := run(t, reg.Run)
		waitFeed(t, feed(t, r, "tok"), 5*time.Second, "registered with token", func(s discovery.Snapshot) bool { return len(s.Instances) == 1 })
		_ = reg.Drain(context.Background())
		_ = stop()
		mu.Lock()
		defer mu.Unlock()
		if logs.Len() == 0 || !strings.Contains(logs.String(), "registered") {
			t.Fatalf("no registration logs captured: %q", logs.String())
		}
		if strings.Contains(logs.String(), token) {
			t.Errorf("logs contain the ACL token:\n%s", logs.String())
		}
	})
}

type lockedBuf struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
