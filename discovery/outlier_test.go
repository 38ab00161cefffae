package discovery

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gantry-go/gantry/transport"
)

func endpointByAddr(t *testing.T, b *Balancer, addr string) *Endpoint {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.byKey[addr]
	if !ok {
		t.Fatalf("no endpoint %s", addr)
	}
	return e
}

// usable reports whether addr is in the pick set.
func usable(b *Balancer, addr string) bool {
	for _, e := range b.snap.Load().eps {
		if e.Address() == addr {
			return true
		}
	}
	return false
}

func fail(b *Balancer, e *Endpoint, n int, o transport.Outcome) {
	for range n {
		b.End(e, b.Begin(e), o)
	}
}

// tick reports one success on a healthy endpoint, as live traffic would; ejection
// deadlines are evaluated when outcomes are reported.
func tick(b *Balancer, e *Endpoint) { b.End(e, b.Begin(e), transport.Success) }

func TestEjectionSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBalancer(feedOf("bad:1", "good:1", "good:2", "good:3"), BalancerSettings{
			EjectBase: 30 * time.Second, EjectMax: 75 * time.Second, SlowStart: -1,
		})
		bad, good := endpointByAddr(t, b, "bad:1"), endpointByAddr(t, b, "good:1")

		fail(b, bad, 4, transport.Failure)
		if !usable(b, "bad:1") {
			t.Fatal("after 4 failures bad:1 is ejected, want it usable until the 5th")
		}
		// A success in between resets the count.
		tick(b, bad)
		fail(b, bad, 4, transport.Failure)
		if !usable(b, "bad:1") {
			t.Fatal("after success + 4 failures bad:1 is ejected, want usable")
		}
		fail(b, bad, 1, transport.Overloaded)
		if usable(b, "bad:1") {
			t.Fatal("after 5 consecutive failures bad:1 is usable, want ejected")
		}

		// Each ejection lasts n × base, capped: 30s, 60s, 75s.
		for i, want := range []time.Duration{30 * time.Second, 60 * time.Second, 75 * time.Second} {
			time.Sleep(want - time.Millisecond)
			tick(b, good)
			if usable(b, "bad:1") {
				t.Fatalf("ejection %d: bad:1 usable after %v, want ejected for %v", i+1, want-time.Millisecond, want)
			}
			time.Sleep(time.Millisecond)
			tick(b, good)
			if !usable(b, "bad:1") {
				t.Fatalf("ejection %d: bad:1 still ejected after %v, want back", i+1, want)
			}
			if got := int(bad.failures.Load()); got != 0 {
				t.Fatalf("ejection %d: failures after recovery = %d, want 0", i+1, got)
			}
			fail(b, bad, 5, transport.Failure)
			if usable(b, "bad:1") {
				t.Fatalf("ejection %d: bad:1 usable after 5 more failures, want ejected", i+2)
			}
		}

		// Healthy for EjectMax after its last recovery: the next ejection starts at base.
		time.Sleep(75 * time.Second)
		tick(b, good)
		time.Sleep(75 * time.Second)
		tick(b, bad)
		fail(b, bad, 5, transport.Failure)
		time.Sleep(30 * time.Second)
		tick(b, good)
		if !usable(b, "bad:1") {
			t.Fatal("after a long healthy period, ejection lasted over 30s, want the base again")
		}
	})
}

func TestCanceledAndRejectedDoNotEject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBalancer(feedOf("a:1", "b:1"), BalancerSettings{})
		a := endpointByAddr(t, b, "a:1")
		fail(b, a, 20, transport.Canceled)
		fail(b, a, 20, transport.Rejected)
		if !usable(b, "a:1") {
			t.Fatal("a:1 ejected after Canceled and Rejected outcomes, want usable")
		}
	})
}

func TestMaxEjectedPercent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tests := []struct {
			n, percent, want int
		}{
			{n: 1, percent: 50, want: 0},  // the last endpoint is never ejected
			{n: 2, percent: 10, want: 1},  // at least one may go when there are two
			{n: 4, percent: 50, want: 2},  // half
			{n: 10, percent: 30, want: 3}, // 30%
			{n: 3, percent: 100, want: 2}, // never all
		}
		for _, tt := range tests {
			addrs := make([]string, tt.n)
			for i := range addrs {
				addrs[i] = string(rune('a'+i)) + ":1"
			}
			b := NewBalancer(feedOf(addrs...), BalancerSettings{MaxEjectedPercent: tt.percent})
			for _, a := range addrs {
				fail(b, endpointByAddr(t, b, a), 10, transport.Failure)
			}
			ejected := 0
			for _, s := range b.Endpoints() {
				if s.Ejected {
					ejected++
				}
			}
			if ejected != tt.want {
				t.Errorf("all %d endpoints failing with MaxEjectedPercent %d: ejected = %d, want %d", tt.n, tt.percent, ejected, tt.want)
			}
			if got := len(b.snap.Load().eps); got != tt.n-tt.want {
				t.Errorf("%d endpoints, %d%%: usable = %d, want %d", tt.n, tt.percent, got, tt.n-tt.want)
			}
		}
	})
}

func TestSlowStartRampsNewEndpoints(t *testing.T) {
	for _, policy := range []string{PolicyRoundRobin, PolicyP2C} {
		t.Run(policy, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := feedOf("a:1", "b:1")
				// A long window, so that 1ms per pick barely moves the ramp while measuring.
				b := NewBalancer(f, BalancerSettings{Policy: policy, SlowStart: 1000 * time.Second})
				// Endpoints of the first snapshot get a full share at once.
				for _, s := range b.Endpoints() {
					if s.Weight != 1 {
						t.Fatalf("initial endpoint %s weight = %v, want 1", s.Address, s.Weight)
					}
				}
				lat := func(string) (transport.Outcome, time.Duration) { return transport.Success, time.Millisecond }
				shares(t, b, 300, lat) // give a:1 and b:1 a latency history
				f.Update(Snapshot{Instances: instances("a:1", "b:1", "new:1")})

				// At once: weight 0.1, about a tenth of a full third (1/30). 6,000 picks give a
				// standard deviation of ~0.0023; tolerance ±0.015.
				got := shares(t, b, 6000, lat)["new:1"]
				if want := 1.0 / 30; got < want-0.015 || got > want+0.015 {
					t.Errorf("new endpoint share at t=0 = %.3f, want %.3f ± 0.015", got, want)
				}
				time.Sleep(500 * time.Second)
				got = shares(t, b, 6000, lat)["new:1"]
				if want := 1.0 / 6; got < want-0.03 || got > want+0.03 {
					t.Errorf("new endpoint share at t=500s of 1000s = %.3f, want %.3f ± 0.03", got, want)
				}
				time.Sleep(500 * time.Second)
				got = shares(t, b, 6000, lat)["new:1"]
				if want := 1.0 / 3; got < want-0.03 || got > want+0.03 {
					t.Errorf("new endpoint share after the ramp = %.3f, want %.3f ± 0.03", got, want)
				}
			})
		})
	}
}

func TestEjectionsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		b := NewBalancer(feedOf("bad:1", "good:1"), BalancerSettings{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
		bad, good := endpointByAddr(t, b, "bad:1"), endpointByAddr(t, b, "good:1")
		fail(b, bad, 5, transport.Failure)
		time.Sleep(30 * time.Second)
		tick(b, good)
		fail(b, bad, 5, transport.Failure)

		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "discovery.balancer.ejections" {
					for _, dp := range sum.DataPoints {
						svc, _ := dp.Attributes.Value("service")
						inst, _ := dp.Attributes.Value("instance")
						got[svc.AsString()+"/"+inst.AsString()] += dp.Value
					}
				}
			}
		}
		// good:1 was never ejected: its series is there at 0, so that Prometheus's
		// increase() will see its first ejection.
		if diff := cmp.Diff(map[string]int64{"svc/bad:1": 2, "svc/good:1": 0}, got); diff != "" {
			t.Errorf("discovery.balancer.ejections by service/instance (-want +got):\n%s", diff)
		}
	})
}
