package shoptest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
)

// Readiness settings of StartReadyz: HEALTH_CHECK_INTERVAL and HEALTH_CHECK_TIMEOUT. A
// fault must show in /readyz within one interval plus one run of the check, and its
// repair as fast.
const (
	ReadyInterval = 300 * time.Millisecond
	ReadyTimeout  = time.Second
)

// Readyz is an admin server's GET /readyz over a store's readiness check, wired as the
// services' mains wire it: health.NewRegistry(cfg.Health, store.Check), run as a
// component, mounted by gantry.NewAdmin.
type Readyz struct {
	url string
	hc  *http.Client
}

// StartReadyz serves check on a loopback admin server named name and runs its registry
// (ReadyInterval, ReadyTimeout) until the test ends. It returns once /readyz has
// answered 200 (the startup check passed).
func StartReadyz(t *testing.T, name string, check health.Check) *Readyz {
	t.Helper()
	checks := health.NewRegistry(health.Settings{Interval: ReadyInterval, Timeout: ReadyTimeout}, check)
	admin, err := gantry.NewAdmin(gantry.AdminSettings{}, gantry.Admin{Name: name, Health: checks}, observability.Instrumentation{})
	if err != nil {
		t.Fatalf("gantry.NewAdmin() = %v", err)
	}
	srv := httptest.NewServer(admin.Handler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- checks.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Registry.Run() = %v after cancel, want nil", err)
		}
		srv.Close()
	})
	r := &Readyz{url: srv.URL + "/readyz?verbose", hc: srv.Client()}
	r.Await(t, http.StatusOK, "start")
	return r
}

// Await polls /readyz until it answers want and fails the test unless that took at most
// one check interval plus one check timeout. The registry runs on the real clock over a
// real database, with no hook to wait on: polling is the probe's view.
func (r *Readyz) Await(t *testing.T, want int, what string) time.Duration {
	t.Helper()
	const bound = ReadyInterval + ReadyTimeout
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := r.hc.Get(r.url)
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode == want {
			t.Logf("%s: /readyz answered %d after %v", what, want, took.Round(time.Millisecond))
			return took
		}
		if took > bound {
			t.Fatalf("%s: GET /readyz = %d %s after %v, want %d within the check interval %v plus its timeout %v",
				what, resp.StatusCode, body, took.Round(time.Millisecond), want, ReadyInterval, ReadyTimeout)
		}
		<-tick.C
	}
}
