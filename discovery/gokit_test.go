package discovery

import (
	"context"
	"io"
	"testing"
	"testing/synctest"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	"github.com/go-kit/log"
)

// echoFactory is a go-kit sd.Factory whose endpoints answer with their instance.
func echoFactory(instance string) (endpoint.Endpoint, io.Closer, error) {
	return func(context.Context, any) (any, error) { return instance, nil }, nil, nil
}

// Every resolver's feed is a go-kit sd.Instancer: sd.NewEndpointer and lb.RoundRobin
// work on top of it and follow its changes. synctest.Wait lets the endpointer's own
// goroutine apply each event before the test looks.
func TestFeedWorksWithGoKitEndpointerAndLB(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory()
		m.Register("svc", Instance{ID: "1", Address: "10.0.0.1:80"})
		f, _ := m.Lookup("svc")

		var inst sd.Instancer = f
		e := sd.NewEndpointer(inst, echoFactory, log.NewNopLogger())
		defer e.Close()
		balancer := lb.NewRoundRobin(e)
		calls := func(n int) map[string]int {
			t.Helper()
			synctest.Wait()
			seen := map[string]int{}
			for range n {
				ep, err := balancer.Endpoint()
				if err != nil {
					t.Fatalf("lb Endpoint() error = %v", err)
				}
				out, _ := ep(context.Background(), nil)
				seen[out.(string)]++
			}
			return seen
		}
		if got := calls(2); got["10.0.0.1:80"] != 2 {
			t.Fatalf("go-kit lb over the feed called %v, want 10.0.0.1:80 twice", got)
		}
		m.Register("svc", Instance{ID: "2", Address: "10.0.0.2:80"})
		if got := calls(4); got["10.0.0.1:80"] != 2 || got["10.0.0.2:80"] != 2 {
			t.Errorf("after a second registration, go-kit lb called %v, want each twice", got)
		}
		m.Deregister("svc", "1")
		if got := calls(2); got["10.0.0.2:80"] != 2 {
			t.Errorf("after deregistering 1, go-kit lb called %v, want 10.0.0.2:80 twice", got)
		}
		// A stale-if-error event keeps go-kit's endpoints (its default policy).
		s := f.Snapshot()
		s.Err = ErrNoInstances
		f.Update(s)
		if got := calls(1); got["10.0.0.2:80"] != 1 {
			t.Errorf("after an error event, go-kit lb called %v, want the last good set", got)
		}
	})
}
