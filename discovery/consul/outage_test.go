package consul

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/internal/consultest"
	"github.com/gantry-go/gantry/transport"
)

// Each test here stops or restarts its own agent.

func TestAgentStoppedServesCachedSet(t *testing.T) {
	t.Parallel()
	agent := consultest.Start(t)
	c := agent.Client()
	for _, id := range []string{"out-1", "out-2"} {
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: id, Name: "out", Port: 1, Address: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	cc, cnt := countingClient(t, agent.Config())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := watch(t, cc, WatchSettings{Services: []string{"out"}, MeterProvider: mp})
	f := feed(t, r, "out")
	waitFeed(t, f, 5*time.Second, "two instances", func(s discovery.Snapshot) bool { return len(s.Instances) == 2 })
	b := discovery.NewBalancer(f, discovery.BalancerSettings{})
	defer b.Close()

	agent.Stop()
	from := time.Now()
	const outage = 10 * time.Second
	picks, failed := 0, 0
	for time.Since(from) < outage {
		e, err := b.Pick()
		if err != nil {
			failed++
		} else {
			picks++
			b.End(e, b.Begin(e), transport.Success)
		}
		time.Sleep(5 * time.Millisecond)
	}
	attempts := cnt.since(from)

	if failed != 0 {
		t.Errorf("%d of %d picks failed while the agent was down, want 0", failed, picks+failed)
	}
	s := f.Snapshot()
	if len(s.Instances) != 2 || s.Err == nil {
		t.Errorf("snapshot during outage: %d instances, err %v; want the 2 cached instances with the error", len(s.Instances), s.Err)
	}
	// Backoff 500ms..2s with jitter in [d/2, d): about 7 attempts in 10s. At most one
	// per second, and never a spin.
	t.Logf("%d attempts in %v of outage", len(attempts), outage)
	if len(attempts) > 10 {
		t.Errorf("watcher made %d attempts in %v of outage, want <= 10 (about 1/s at most)", len(attempts), outage)
	}
	if len(attempts) < 4 {
		t.Errorf("watcher made %d attempts in %v of outage, want >= 4 (it must keep trying)", len(attempts), outage)
	}
	var gaps []time.Duration
	for i := 1; i < len(attempts); i++ {
		gaps = append(gaps, attempts[i].Sub(attempts[i-1]))
	}
	lo, hi := time.Hour, time.Duration(0)
	for _, g := range gaps[min(2, len(gaps)):] { // steady state: after the backoff has grown
		lo, hi = min(lo, g), max(hi, g)
	}
	t.Logf("steady-state gaps between attempts: %v .. %v", lo, hi)
	if lo < 900*time.Millisecond {
		t.Errorf("shortest steady-state gap between attempts = %v, want >= 1s - scheduling slack", lo)
	}
	if hi-lo < 10*time.Millisecond {
		t.Errorf("steady-state gaps span %v .. %v, want jitter", lo, hi)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	stale, found := 0.0, false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[float64]); ok && m.Name == "discovery.consul.staleness" {
				for _, dp := range g.DataPoints {
					if v, _ := dp.Attributes.Value("service"); v.AsString() == "out" {
						stale, found = dp.Value, true
					}
				}
			}
		}
	}
	if !found || stale < outage.Seconds()-0.5 {
		t.Errorf("discovery.consul.staleness{service=out} = %v (found %v), want >= %v", stale, found, outage.Seconds()-0.5)
	}
}

func TestAgentRestartedEmptyReregistersAndWatchResumes(t *testing.T) {
	t.Parallel()
	agent := consultest.Start(t)
	c := agent.Client()
	r := watch(t, c, WatchSettings{Services: []string{"re"}})
	f := feed(t, r, "re")
	// Default settings: the 15s bound must hold without tuning.
	reg, err := NewRegistrar(c, &ready{ok: true}, Registration{Name: "re", ID: "re-1", Address: "127.0.0.1", Port: 7000})
	if err != nil {
		t.Fatal(err)
	}
	run(t, reg.Run)
	waitFeed(t, f, 5*time.Second, "registered", hasID("re-1"))

	var emptied atomic.Bool
	cancel := f.Subscribe(func(s discovery.Snapshot) {
		if len(s.Instances) == 0 {
			emptied.Store(true)
		}
	})
	defer cancel()

	restarted := time.Now()
	agent.Restart()
	took := waitFeed(t, f, 15*time.Second-time.Since(restarted), "re-registered in the restarted agent and seen by the watch",
		func(s discovery.Snapshot) bool { return s.Err == nil && s.Updated.After(restarted) && hasID("re-1")(s) })
	t.Logf("re-registered and resolved %v after the restart began (%v after the agent was up)", time.Since(restarted), took)
	if svcs, _, err := c.Catalog().Service("re", "", nil); err != nil || len(svcs) != 1 {
		t.Errorf("restarted agent's catalog lists %d re instances (%v), want 1", len(svcs), err)
	}
	if emptied.Load() {
		t.Error("the feed published an empty set during the restart, want the last set kept (EmptyKeep)")
	}

	// The watch keeps following the new agent.
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "re-2", Name: "re", Port: 7001, Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	waitFeed(t, f, 2*time.Second, "new instance in the restarted agent", hasID("re-2"))
}

func TestSettingsValidate(t *testing.T) {
	c, _ := api.NewClient(&api.Config{Address: "127.0.0.1:1"})
	for _, tt := range []struct {
		s    WatchSettings
		want string
	}{
		{WatchSettings{Empty: "drop"}, "DISCOVERY_CONSUL_EMPTY"},
		{WatchSettings{Wait: 11 * time.Minute}, "DISCOVERY_CONSUL_WAIT"},
		{WatchSettings{RetryMin: -1}, "DISCOVERY_CONSUL_RETRY_MIN"},
		{WatchSettings{RetryMin: 5 * time.Second}, "DISCOVERY_CONSUL_RETRY_MAX"},
		{WatchSettings{Services: []string{""}}, "DISCOVERY_CONSUL_SERVICES"},
	} {
		_, err := NewResolver(c, tt.s)
		if !errors.Is(err, ErrInvalidWatch) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewResolver(%+v) error = %v, want ErrInvalidWatch naming %s", tt.s, err, tt.want)
		}
	}
	for _, tt := range []struct {
		r    Registration
		want string
	}{
		{Registration{Port: 80}, "DISCOVERY_SERVICE_NAME"},
		{Registration{Name: "x"}, "DISCOVERY_SERVICE_PORT"},
		{Registration{Name: "x", Port: 70000}, "DISCOVERY_SERVICE_PORT"},
		{Registration{Name: "x", Port: 80, Check: "tcp"}, "DISCOVERY_CHECK"},
		{Registration{Name: "x", Port: 80, DeregisterCriticalAfter: time.Second}, "DISCOVERY_DEREGISTER_CRITICAL_AFTER"},
		{Registration{Name: "x", Port: 80, TTL: -time.Second}, "DISCOVERY_CHECK_TTL"},
	} {
		_, err := NewRegistrar(c, nil, tt.r)
		if !errors.Is(err, ErrInvalidRegistration) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewRegistrar(%+v) error = %v, want ErrInvalidRegistration naming %s", tt.r, err, tt.want)
		}
	}
	if _, err := NewRegistrar(nil, nil, Registration{Name: "x", Port: 80}); !errors.Is(err, ErrInvalidRegistration) {
		t.Errorf("NewRegistrar(nil client) error = %v, want ErrInvalidRegistration", err)
	}
	r, err := NewRegistrar(c, nil, Registration{Name: "x", Address: "10.0.0.1", Port: 80})
	if err != nil || r.ID() != "x-10.0.0.1-80" || r.CheckID() != "service:x-10.0.0.1-80" {
		t.Errorf("default ID = %q, %v; want x-10.0.0.1-80", r.ID(), err)
	}
}
