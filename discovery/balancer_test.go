package discovery

import (
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// shares picks n times, reporting outcome o with latency lat for every pick, and
// returns each address's share of the picks. Run it in a synctest bubble, where
// time.Sleep(lat) advances the fake clock by exactly lat.
func shares(t *testing.T, b *Balancer, n int, o func(addr string) (transport.Outcome, time.Duration)) map[string]float64 {
	t.Helper()
	counts := map[string]int{}
	for range n {
		e, err := b.Pick()
		if err != nil {
			t.Fatalf("Pick() error = %v", err)
		}
		counts[e.Address()]++
		if o != nil {
			start := b.Begin(e)
			out, lat := o(e.Address())
			time.Sleep(lat)
			b.End(e, start, out)
		}
	}
	s := map[string]float64{}
	for a, k := range counts {
		s[a] = float64(k) / float64(n)
	}
	return s
}

func ok(time.Duration) func(string) (transport.Outcome, time.Duration) {
	return func(string) (transport.Outcome, time.Duration) { return transport.Success, time.Millisecond }
}

func TestRoundRobinSpreadsEvenly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBalancer(feedOf("a:1", "b:1", "c:1"), BalancerSettings{Policy: PolicyRoundRobin})
		got := shares(t, b, 3000, nil)
		for _, a := range []string{"a:1", "b:1", "c:1"} {
			if got[a] != 1.0/3 {
				t.Errorf("round robin share of %s = %v, want exactly 1/3", a, got[a])
			}
		}
	})
}

// With equal latency and no load, P2C picks uniformly. 30,000 picks give a standard
// deviation of 0.0027 per share; the tolerance of 0.02 is over 7 of them.
func TestP2CSpreadsEvenlyWhenEqual(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBalancer(feedOf("a:1", "b:1", "c:1"), BalancerSettings{})
		got := shares(t, b, 30000, ok(time.Millisecond))
		for _, a := range []string{"a:1", "b:1", "c:1"} {
			if math.Abs(got[a]-1.0/3) > 0.02 {
				t.Errorf("p2c share of %s = %.3f, want 0.333 ± 0.02", a, got[a])
			}
		}
	})
}

func TestP2CAvoidsSlowAndFastFailingEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		outcome func(addr string) (transport.Outcome, time.Duration)
	}{
		{"slow", func(a string) (transport.Outcome, time.Duration) {
			if a == "bad:1" {
				return transport.Success, 50 * time.Millisecond
			}
			return transport.Success, time.Millisecond
		}},
		// A 503 answered in 100µs must not look cheaper than a 1ms success.
		{"fast 503", func(a string) (transport.Outcome, time.Duration) {
			if a == "bad:1" {
				return transport.Overloaded, 100 * time.Microsecond
			}
			return transport.Success, time.Millisecond
		}},
		{"fast 429 and errors", func(a string) (transport.Outcome, time.Duration) {
			if a == "bad:1" {
				return transport.Failure, 10 * time.Microsecond
			}
			return transport.Success, time.Millisecond
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Ejection off: this is about the latency signal alone.
				b := NewBalancer(feedOf("bad:1", "good:1", "good:2"), BalancerSettings{EjectAfter: -1})
				shares(t, b, 300, tt.outcome) // warm up the EWMAs
				got := shares(t, b, 3000, tt.outcome)
				// Uniform would be 0.33; P2C only picks bad:1 when both choices are bad:1,
				// which cannot happen with distinct choices, so its share is ~0.
				if got["bad:1"] > 0.05 {
					t.Errorf("share of bad:1 = %.3f, want <= 0.05", got["bad:1"])
				}
			})
		})
	}
}

func TestNoInstances(t *testing.T) {
	b := NewBalancer(NewFeed("svc"), BalancerSettings{})
	if _, err := b.Pick(); !errors.Is(err, ErrNoInstances) {
		t.Fatalf("Pick() error = %v, want ErrNoInstances", err)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, p := range []string{PolicyRoundRobin, PolicyP2C} {
		b := NewBalancer(feedOf("a:1", "b:1", "c:1"), BalancerSettings{Policy: p})
		if n := testing.AllocsPerRun(1000, func() { _, _ = b.Pick() }); n != 0 {
			t.Errorf("Pick() with %s allocates %v times, want 0", p, n)
		}
	}
}

func TestFeedUpdateKeepsEndpointStatistics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := feedOf("a:1", "b:1")
		b := NewBalancer(f, BalancerSettings{Policy: PolicyRoundRobin})
		e, _ := b.Pick()
		for range 3 {
			b.End(e, b.Begin(e), transport.Failure)
		}
		f.Update(Snapshot{Instances: instances("a:1", "b:1", "c:1")})
		var st EndpointState
		for _, s := range b.Endpoints() {
			if s.Address == e.Address() {
				st = s
			}
		}
		if st.ConsecutiveFailures != 3 {
			t.Errorf("after a feed update, ConsecutiveFailures of %s = %d, want 3", e.Address(), st.ConsecutiveFailures)
		}
		f.Update(Snapshot{Instances: instances("c:1")})
		if got := len(b.Endpoints()); got != 1 {
			t.Errorf("after removing a:1 and b:1, len(Endpoints()) = %d, want 1", got)
		}
	})
}
