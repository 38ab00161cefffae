package consul

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery"
)

// waitFeed waits, event-driven, until cond holds for f's snapshot and returns how
// long that took. It fails t after timeout.
func waitFeed(t *testing.T, f *discovery.Feed, timeout time.Duration, what string, cond func(discovery.Snapshot) bool) time.Duration {
	t.Helper()
	start := time.Now()
	ch := make(chan discovery.Snapshot, 64)
	cancel := f.Subscribe(func(s discovery.Snapshot) {
		select {
		case ch <- s:
		default:
		}
	})
	defer cancel()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case s := <-ch:
			if cond(s) {
				return time.Since(start)
			}
		case <-deadline.C:
			s := f.Snapshot()
			t.Fatalf("%s: not within %v; last snapshot: %d instances, index %d, err %v", what, timeout, len(s.Instances), s.Index, s.Err)
		}
	}
}

func hasID(id string) func(discovery.Snapshot) bool {
	return func(s discovery.Snapshot) bool {
		for _, in := range s.Instances {
			if in.ID == id {
				return true
			}
		}
		return false
	}
}

func not(f func(discovery.Snapshot) bool) func(discovery.Snapshot) bool {
	return func(s discovery.Snapshot) bool { return !f(s) }
}

// counter is an http.RoundTripper that records when each health query was sent.
type counter struct {
	next http.RoundTripper
	mu   sync.Mutex
	at   []time.Time
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/v1/health/service/") {
		c.mu.Lock()
		c.at = append(c.at, time.Now())
		c.mu.Unlock()
	}
	return c.next.RoundTrip(r)
}

// since returns the send times at or after t.
func (c *counter) since(t time.Time) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, x := range c.at {
		if !x.Before(t) {
			out = append(out, x)
		}
	}
	return out
}

// countingClient returns a client for cfg whose health queries are counted.
func countingClient(t *testing.T, cfg *api.Config) (*api.Client, *counter) {
	t.Helper()
	cnt := &counter{next: cfg.Transport}
	cfg.HttpClient = &http.Client{Transport: cnt}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, cnt
}

// ready is a Readiness a test can flip.
type ready struct {
	mu sync.Mutex
	ok bool
}

func (r *ready) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok
}

func (r *ready) set(ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ok = ok
}
