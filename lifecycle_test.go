package gantry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/observability/health"
)

// stamp records each event with the (fake) time elapsed since the test began.
type stamp struct {
	mu    sync.Mutex
	start time.Time
	got   []string
}

func (s *stamp) add(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, what+"@"+time.Since(s.start).String())
}

func blockUntilDone(s *stamp, name string) gantry.Runner {
	return gantry.RunnerFunc(func(ctx context.Context) error {
		<-ctx.Done()
		s.add(name)
		return ctx.Err()
	})
}

func TestRunPhasesInOrderWithDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &stamp{start: time.Now()}
		var logs bytes.Buffer
		sigs := make(chan os.Signal, 1)
		runErr := make(chan error, 1)
		go func() {
			runErr <- gantry.Run(context.Background(), gantry.Options{
				Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
				Components: []any{gantry.DrainerFunc(func(context.Context) error {
					s.add("drain")
					return nil
				}),
					blockUntilDone(s, "background"),
					gantry.ShutdownerFunc(func(ctx context.Context) error {
						dl, _ := ctx.Deadline()
						s.add("telemetry(left " + time.Until(dl).String() + ")")
						return nil
					}),
				},
				Registrars: []gantry.Runner{blockUntilDone(s, "deregister")},
				Signals:    sigs,
			})
		}()
		time.Sleep(time.Hour) // fake time: the service runs for an hour
		sigs <- syscall.SIGTERM
		if err := <-runErr; err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}
		want := []string{"drain@1h0m0s", "deregister@1h0m3s", "background@1h0m3s", "telemetry(left 17s)@1h0m3s"}
		if diff := cmp.Diff(want, s.got); diff != "" {
			t.Errorf("shutdown events (-want +got):\n%s", diff)
		}

		var phases []string
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if m["msg"] == "shutdown phase" {
				phases = append(phases, m["phase"].(string)+" "+time.Duration(m["duration"].(float64)).String())
			}
		}
		wantPhases := []string{"drain 0s", "drain delay 3s", "deregister 0s", "http shutdown 0s",
			"cancel base context 0s", "stop background 0s", "flush telemetry 0s"}
		if diff := cmp.Diff(wantPhases, phases); diff != "" {
			t.Errorf("logged phases (-want +got):\n%s", diff)
		}
	})
}

func TestRunGraceExceeded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &stamp{start: time.Now()}
		release := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() {
			runErr <- gantry.Run(ctx, gantry.Options{
				Components: []any{gantry.RunnerFunc(func(context.Context) error {
					<-release // ignores its context
					return nil
				}),
					gantry.ShutdownerFunc(func(ctx context.Context) error {
						dl, _ := ctx.Deadline()
						s.add("telemetry(left " + time.Until(dl).String() + ")")
						return nil
					}),
				},
				Settings: gantry.Settings{DrainDelay: time.Second, Timeout: 5 * time.Second},
				Signals:  make(chan os.Signal),
			})
		}()
		cancel()
		err := <-runErr
		close(release)
		if !errors.Is(err, gantry.ErrGraceExceeded) {
			t.Errorf("Run() = %v, want ErrGraceExceeded", err)
		}
		// Telemetry still flushes, with its minimum budget.
		if want := []string{"telemetry(left 1s)@5s"}; !cmp.Equal(want, s.got) {
			t.Errorf("events = %v, want %v", s.got, want)
		}
	})
}

func TestRunComponentFailureShutsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &stamp{start: time.Now()}
		dbGone := errors.New("db gone")
		err := gantry.Run(context.Background(), gantry.Options{
			Components: []any{gantry.DrainerFunc(func(context.Context) error {
				s.add("drain")
				return nil
			}),
				gantry.RunnerFunc(func(context.Context) error {
					time.Sleep(time.Minute)
					return dbGone
				}),
				blockUntilDone(s, "other background"),
			},
			Settings: gantry.Settings{DrainDelay: -1},
			Signals:  make(chan os.Signal),
		})
		if !errors.Is(err, dbGone) {
			t.Errorf("Run() = %v, want it to wrap the component's error", err)
		}
		if want := []string{"drain@1m0s", "other background@1m0s"}; !cmp.Equal(want, s.got) {
			t.Errorf("events = %v, want %v", s.got, want)
		}
	})
}

func TestRunReturnsDrainAndTelemetryErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errDrain, errFlush := errors.New("consul unreachable"), errors.New("collector down")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := gantry.Run(ctx, gantry.Options{
			Components: []any{gantry.DrainerFunc(func(context.Context) error { return errDrain }), gantry.ShutdownerFunc(func(context.Context) error { return errFlush })},
			Settings:   gantry.Settings{DrainDelay: -1},
			Signals:    make(chan os.Signal),
		})
		if !errors.Is(err, errDrain) || !errors.Is(err, errFlush) {
			t.Errorf("Run() = %v, want both the drain and the telemetry error", err)
		}
	})
}

func TestRunInvalidOptions(t *testing.T) {
	err := gantry.Run(context.Background(), gantry.Options{
		Servers:    []gantry.Server{{}},
		Components: []any{nil, (*health.Registry)(nil), "not a component"},
		Settings:   gantry.Settings{Timeout: -1},
	})
	if !errors.Is(err, gantry.ErrInvalidOptions) || !strings.Contains(err.Error(), "Servers[0]") ||
		!strings.Contains(err.Error(), "Components[2] (string)") || strings.Contains(err.Error(), "Components[0]") ||
		strings.Contains(err.Error(), "Components[1]") || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Errorf("Run(invalid) = %v, want every problem named and the nil components skipped", err)
	}
}

// TestRunSortsComponents: one component that is a Drainer, a Runner and a Shutdowner
// is drained first, runs until the servers stop, and is shut down last; a registrar
// that is a Drainer is drained too.
func TestRunSortsComponents(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []string
	)
	note := func(s string) { mu.Lock(); calls = append(calls, s); mu.Unlock() }
	c := &allInOne{note: note}
	reg := &drainingRunner{note: note}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := gantry.Run(ctx, gantry.Options{
		Registrars: []gantry.Runner{reg, (*drainingRunner)(nil)},
		Components: []any{c},
		Settings:   gantry.Settings{DrainDelay: -1, Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"drain": 0, "registrar drain": 0, "registrar stop": 0, "run stop": 0, "shutdown": 0}
	pos := map[string]int{}
	for i, s := range calls {
		pos[s] = i
	}
	for k := range want {
		if _, ok := pos[k]; !ok {
			t.Fatalf("calls = %v, want %q among them", calls, k)
		}
	}
	if !(pos["drain"] < pos["registrar stop"] && pos["registrar drain"] < pos["registrar stop"] &&
		pos["registrar stop"] < pos["run stop"] && pos["run stop"] < pos["shutdown"]) {
		t.Errorf("calls = %v, want drains, then deregistration, then background stop, then shutdown", calls)
	}
}

type allInOne struct{ note func(string) }

func (a *allInOne) Drain(context.Context) error { a.note("drain"); return nil }
func (a *allInOne) Run(ctx context.Context) error {
	<-ctx.Done()
	a.note("run stop")
	return nil
}
func (a *allInOne) Shutdown(context.Context) error { a.note("shutdown"); return nil }

type drainingRunner struct{ note func(string) }

func (d *drainingRunner) Drain(context.Context) error { d.note("registrar drain"); return nil }
func (d *drainingRunner) Run(ctx context.Context) error {
	<-ctx.Done()
	d.note("registrar stop")
	return nil
}

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		name string
		in   gantry.Settings
		want []string
	}{
		{"zero", gantry.Settings{}, nil},
		{"no drain delay", gantry.Settings{DrainDelay: -1, Timeout: time.Second}, nil},
		{"negative timeout", gantry.Settings{Timeout: -time.Second}, []string{"SHUTDOWN_TIMEOUT:"}},
		{"delay eats budget", gantry.Settings{DrainDelay: 5 * time.Second, Timeout: 5 * time.Second}, []string{"SHUTDOWN_DRAIN_DELAY:"}},
		{"default delay eats budget", gantry.Settings{Timeout: 2 * time.Second}, []string{"SHUTDOWN_DRAIN_DELAY:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if tt.want == nil {
				if err != nil {
					t.Errorf("Validate(%+v) = %v, want nil", tt.in, err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate(%+v) = %v, want it to name %s", tt.in, err, w)
				}
			}
		})
	}
}
