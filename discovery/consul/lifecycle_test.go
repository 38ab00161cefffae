package consul

import (
	"context"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/internal/consultest"
	"github.com/gantry-go/gantry/observability/health"
)

// The real lifecycle: gantry.Run with the observability health registry feeding the
// Registrar's TTL check. On shutdown the instance must leave the resolved set before
// the HTTP server starts shutting down, and be deregistered by then.
func TestGantryRunShutdownOrder(t *testing.T) {
	t.Parallel()
	agent := consultest.Start(t)
	c := agent.Client()
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "life-other", Name: "life", Port: 1, Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	r := watch(t, c, WatchSettings{Services: []string{"life"}})
	f := feed(t, r, "life")

	hr := health.NewRegistry(health.Settings{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	mux := http.NewServeMux()
	hr.Mount(mux)
	srv := &http.Server{Handler: mux}
	reg, err := NewRegistrar(c, hr, Registration{Name: "life", ID: "life-1", Address: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var events []string
	record := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		if len(events) == 0 || events[len(events)-1] != e {
			events = append(events, e)
		}
	}
	listed := false
	cancelSub := f.Subscribe(func(s discovery.Snapshot) {
		switch now := hasID("life-1")(s); {
		case now && !listed:
			record("listed")
		case !now && listed:
			// Still in the catalog? Then it left resolution by Drain, not by deregistration.
			svcs, _, _ := c.Catalog().Service("life", "", nil)
			record("not listed, catalog has " + strconv.Itoa(len(svcs)))
		}
		listed = hasID("life-1")(s)
	})
	defer cancelSub()
	// http.Server.Shutdown closes its listeners first, synchronously: that is the
	// moment the server stops taking connections.
	hooked := &closeHook{Listener: ln, onClose: func() {
		record("http shutdown")
		svcs, _, err := c.Catalog().Service("life", "", nil)
		if err != nil {
			record("catalog error: " + err.Error())
			return
		}
		record("catalog has " + strconv.Itoa(len(svcs)))
	}}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- gantry.Run(ctx, gantry.Options{
			Servers:    []gantry.Server{{Server: srv, Listener: hooked}},
			Registrars: []gantry.Runner{reg}, // also drained, as a Drainer
			Components: []any{hr},
			Settings:   gantry.Settings{DrainDelay: time.Second, Timeout: 5 * time.Second},
			Signals:    make(chan os.Signal),
		})
	}()
	waitFeed(t, f, 5*time.Second, "instance registered by the lifecycle", hasID("life-1"))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gantry.Run() = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gantry.Run did not return within 10s of cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	// life-1 leaves resolution while still registered (Drain: maintenance), and is
	// deregistered (only life-other left) before the server stops listening.
	want := []string{"listed", "not listed, catalog has 2", "http shutdown", "catalog has 1"}
	i := slices.Index(events, "listed")
	if i < 0 || !slices.Equal(events[i:], want) {
		t.Errorf("events = %q, want to end with %q", events, want)
	}
}

type closeHook struct {
	net.Listener
	once    sync.Once
	onClose func()
}

func (l *closeHook) Close() error {
	l.once.Do(l.onClose)
	return l.Listener.Close()
}
