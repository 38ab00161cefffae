package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/google/go-cmp/cmp"
)

type body struct {
	Status            string `json:"status"`
	Draining          bool   `json:"draining"`
	WaitingForStartup bool   `json:"waiting_for_startup"`
	Checks            []struct {
		Name        string `json:"name"`
		Status      string `json:"status"`
		Critical    bool   `json:"critical"`
		Error       string `json:"error"`
		Duration    string `json:"duration"`
		LastChecked string `json:"last_checked"`
	} `json:"checks"`
}

func get(t *testing.T, h http.Handler) (int, body) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	var b body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return rec.Code, b
}

// start runs reg in the background of the synctest bubble and returns a stop func that
// cancels it and checks that Run returned nil.
func start(t *testing.T, reg *health.Registry) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- reg.Run(ctx) }()
	synctest.Wait()
	return func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	}
}

// toggle is a check whose result the test sets, counting calls.
type toggle struct {
	mu    sync.Mutex
	err   error
	calls atomic.Int64
}

func (c *toggle) set(err error) { c.mu.Lock(); c.err = err; c.mu.Unlock() }
func (c *toggle) check(context.Context) error {
	c.calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func TestReadinessCriticality(t *testing.T) {
	down := errors.New("connection refused")
	tests := []struct {
		name         string
		dbErr, cache error
		wantCode     int
		wantStatuses map[string]string
	}{
		{"all pass", nil, nil, 200, map[string]string{"db": "pass", "cache": "pass"}},
		{"non-critical fails: still ready", nil, down, 200, map[string]string{"db": "pass", "cache": "fail"}},
		{"critical fails: not ready", down, nil, 503, map[string]string{"db": "fail", "cache": "pass"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := health.NewRegistry(health.Settings{},
					health.Check{Name: "db", Func: func(context.Context) error { return tt.dbErr }},
					health.Check{Name: "cache", NonCritical: true, Func: func(context.Context) error { return tt.cache }},
				)
				stop := start(t, reg)
				defer stop()
				code, b := get(t, reg.ReadinessHandler())
				got := map[string]string{}
				for _, c := range b.Checks {
					got[c.Name] = c.Status
					if c.Status == "fail" && c.Error != down.Error() {
						t.Errorf("check %s error = %q, want %q", c.Name, c.Error, down)
					}
					if c.LastChecked == "" || c.Duration == "" {
						t.Errorf("check %s = %+v, want duration and last_checked", c.Name, c)
					}
				}
				if code != tt.wantCode || reg.Ready() != (tt.wantCode == 200) {
					t.Errorf("GET /readyz = %d (Ready %v), want %d", code, reg.Ready(), tt.wantCode)
				}
				if diff := cmp.Diff(tt.wantStatuses, got); diff != "" {
					t.Errorf("check statuses (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestReadinessIsServedFromCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &toggle{}
		reg := health.NewRegistry(health.Settings{Interval: time.Minute}, health.Check{Name: "db", Func: c.check})
		if code, b := get(t, reg.ReadinessHandler()); code != 503 || b.Checks[0].Status != "pending" {
			t.Errorf("GET /readyz before Run = %d %+v, want 503 pending", code, b)
		}
		stop := start(t, reg)
		defer stop()
		for range 100 {
			if code, _ := get(t, reg.ReadinessHandler()); code != 200 {
				t.Fatalf("GET /readyz = %d, want 200", code)
			}
			reg.Ready()
		}
		if n := c.calls.Load(); n != 1 {
			t.Errorf("check called %d times after 100 GET /readyz, want 1 (the background run)", n)
		}
	})
}

func TestRefreshAtInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &toggle{}
		reg := health.NewRegistry(health.Settings{Interval: 10 * time.Second}, health.Check{Name: "db", Func: c.check})
		stop := start(t, reg)
		defer stop()
		c.set(errors.New("down"))
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if !reg.Ready() {
			t.Fatalf("Ready() after 9s = false, want true (cached until the next run at 10s)")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if reg.Ready() {
			t.Fatalf("Ready() after 10s = true, want false")
		}
		c.set(nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if !reg.Ready() {
			t.Errorf("Ready() after recovery = false, want true")
		}
		if n := c.calls.Load(); n != 3 {
			t.Errorf("check calls = %d, want 3", n)
		}
	})
}

func TestTimeoutAndPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := health.NewRegistry(health.Settings{Timeout: 2 * time.Second},
			health.Check{Name: "slow", Timeout: 500 * time.Millisecond, Func: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}},
			health.Check{Name: "hung", Func: func(ctx context.Context) error {
				time.Sleep(time.Hour) // ignores ctx
				return nil
			}},
			health.Check{Name: "panics", Func: func(context.Context) error { panic("boom") }},
		)
		stop := start(t, reg)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		res := reg.Results()
		want := []struct {
			err error
			dur time.Duration
		}{{health.ErrTimeout, 500 * time.Millisecond}, {health.ErrTimeout, 2 * time.Second}, {health.ErrPanic, 0}}
		for i, w := range want {
			if res[i].Status != health.StatusFail || !errors.Is(res[i].Err, w.err) || res[i].Duration != w.dur {
				t.Errorf("Results()[%d] = %+v, want fail with %v after %v", i, res[i], w.err, w.dur)
			}
		}
		if reg.Ready() {
			t.Errorf("Ready() = true, want false")
		}
		// Run waits for the hung check to return (an hour of fake time) before
		// returning itself; synctest fails the test if any goroutine is left.
		stop()
	})
}

func TestDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := health.NewRegistry(health.Settings{}, health.Check{Name: "db", Func: func(context.Context) error { return nil }})
		stop := start(t, reg)
		defer stop()
		if !reg.Ready() {
			t.Fatal("Ready() = false before Drain, want true")
		}
		if err := reg.Drain(t.Context()); err != nil {
			t.Fatalf("Drain() = %v", err)
		}
		code, b := get(t, reg.ReadinessHandler())
		if code != 503 || !b.Draining || b.Status != "fail" || reg.Ready() {
			t.Errorf("GET /readyz after Drain = %d %+v (Ready %v), want 503 draining", code, b, reg.Ready())
		}
		if code, _ := get(t, reg.LivenessHandler()); code != 200 {
			t.Errorf("GET /livez after Drain = %d, want 200", code)
		}
		time.Sleep(time.Minute) // checks keep passing; readiness stays off
		if reg.Ready() {
			t.Errorf("Ready() a minute after Drain = true, want false")
		}
	})
}

func TestStartup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		warm := &toggle{}
		warm.set(errors.New("cache cold"))
		reg := health.NewRegistry(health.Settings{Interval: time.Second},
			health.Check{Name: "warmup", Roles: health.Startup, Func: warm.check},
			health.Check{Name: "db", Func: func(context.Context) error { return nil }},
		)
		stop := start(t, reg)
		defer stop()
		if code, b := get(t, reg.StartupHandler()); code != 503 || len(b.Checks) != 1 || b.Checks[0].Name != "warmup" {
			t.Errorf("GET /startupz = %d %+v, want 503 listing warmup only", code, b)
		}
		if code, b := get(t, reg.ReadinessHandler()); code != 503 || !b.WaitingForStartup {
			t.Errorf("GET /readyz before startup = %d %+v, want 503 waiting_for_startup", code, b)
		}
		warm.set(nil)
		time.Sleep(time.Second)
		synctest.Wait()
		if code, _ := get(t, reg.StartupHandler()); code != 200 || !reg.Ready() {
			t.Errorf("GET /startupz after warmup = %d (Ready %v), want 200 and ready", code, reg.Ready())
		}
		warm.set(errors.New("cold again"))
		time.Sleep(time.Second)
		synctest.Wait()
		if code, _ := get(t, reg.StartupHandler()); code != 200 || !reg.Started() {
			t.Errorf("GET /startupz after a later failure = %d, want 200 (startup latches)", code)
		}
	})
}

func TestLiveness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loop := &toggle{}
		reg := health.NewRegistry(health.Settings{Interval: time.Second},
			health.Check{Name: "eventloop", Roles: health.Liveness, Func: loop.check},
			health.Check{Name: "db", Func: func(context.Context) error { return errors.New("down") }},
		)
		if code, _ := get(t, reg.LivenessHandler()); code != 200 {
			t.Errorf("GET /livez while pending = %d, want 200", code)
		}
		stop := start(t, reg)
		defer stop()
		code, b := get(t, reg.LivenessHandler())
		if code != 200 || len(b.Checks) != 1 {
			t.Errorf("GET /livez with db down = %d %+v, want 200 listing only eventloop", code, b)
		}
		loop.set(errors.New("stuck"))
		time.Sleep(time.Second)
		synctest.Wait()
		if code, _ := get(t, reg.LivenessHandler()); code != 503 || reg.Live() {
			t.Errorf("GET /livez with a failed liveness check = %d, want 503", code)
		}
	})
}

func TestInvalidChecksAreReported(t *testing.T) {
	ok := func(context.Context) error { return nil }
	reg := health.NewRegistry(health.Settings{},
		health.Check{Name: "a", Func: ok}, health.Check{Name: "a", Func: ok},
		health.Check{Name: "", Func: ok}, health.Check{Name: "nil"})
	res := reg.Results()
	for i, r := range res[1:] {
		if r.Status != health.StatusFail || !errors.Is(r.Err, health.ErrInvalidCheck) {
			t.Errorf("Results()[%d] = %+v, want fail with ErrInvalidCheck", i+1, r)
		}
	}
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := health.NewRegistry(health.Settings{})
		stop := start(t, reg)
		defer stop()
		if err := reg.Run(t.Context()); !errors.Is(err, health.ErrRunning) {
			t.Errorf("second Run() = %v, want ErrRunning", err)
		}
	})
}

func TestMountOverLoopback(t *testing.T) {
	reg := health.NewRegistry(health.Settings{}, health.Check{Name: "db", Func: func(context.Context) error { return nil }})
	mux := http.NewServeMux()
	reg.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]int{"/livez": 200, "/readyz": 503, "/startupz": 200} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s (not yet run) = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestSettingsFromEnv(t *testing.T) {
	_, err := config.Load[health.Settings](config.WithEnvironment(map[string]string{"HEALTH_CHECK_TIMEOUT": "-1s", "HEALTH_CHECK_INTERVAL": "soon"}))
	var cerr *config.Error
	if !errors.As(err, &cerr) || !cmp.Equal(cerr.Vars(), []string{"HEALTH_CHECK_INTERVAL", "HEALTH_CHECK_TIMEOUT"}) {
		t.Errorf("Load(bad health env) = %v, want both variables named", err)
	}
	if !strings.Contains(err.Error(), "soon") {
		t.Errorf("error %q should quote the bad value", err)
	}
}

func TestProbeAllocs(t *testing.T) {
	reg := health.NewRegistry(health.Settings{})
	h := reg.LivenessHandler()
	w := &nopWriter{h: http.Header{}}
	r := httptest.NewRequest("GET", "/livez", nil)
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("GET /livez allocs = %v, want 0", n)
	}
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}
