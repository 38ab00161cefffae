package gantry_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-go/gantry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// events records what happened, in order, for assertions about shutdown order.
type events struct {
	mu sync.Mutex
	l  []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.l = append(e.l, s)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.l)
}

// readiness is a tiny health registry: /readyz answers 503 once drained.
type readiness struct {
	draining atomic.Bool
	drained  chan struct{}
	ev       *events
}

func (r *readiness) Drain(context.Context) error {
	r.draining.Store(true)
	r.ev.add("drain")
	close(r.drained)
	return nil
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if r.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

func TestRunGracefulShutdown(t *testing.T) {
	const inflight = 50
	ev := &events{}
	ready := &readiness{drained: make(chan struct{}), ev: ev}
	started := make(chan struct{}, inflight)
	release := make(chan struct{})
	var finished atomic.Int32

	mux := http.NewServeMux()
	mux.Handle("GET /readyz", ready)
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		finished.Add(1)
		_, _ = io.WriteString(w, "done")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	shutdownBegan := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(shutdownBegan) })
	ln := loopback(t)
	url := "http://" + ln.Addr().String()

	sigs := make(chan os.Signal, 2)
	opts := gantry.Options{
		Servers: []gantry.Server{{Server: srv, Listener: ln}},
		Components: []any{ready, gantry.RunnerFunc(func(ctx context.Context) error {
			<-ctx.Done()
			if n := finished.Load(); n != inflight {
				t.Errorf("background stopped while %d of %d requests were unfinished", inflight-n, inflight)
			}
			ev.add("background")
			return ctx.Err()
		}),
			gantry.ShutdownerFunc(func(context.Context) error {
				ev.add("telemetry")
				return nil
			}),
		},
		Registrars: []gantry.Runner{gantry.RunnerFunc(func(ctx context.Context) error {
			<-ctx.Done()
			ev.add("deregister")
			return nil
		})},
		Settings: gantry.Settings{DrainDelay: 200 * time.Millisecond, Timeout: 10 * time.Second},
		Signals:  sigs,
	}
	runErr := make(chan error, 1)
	go func() { runErr <- gantry.Run(context.Background(), opts) }()

	tr := &http.Transport{MaxIdleConnsPerHost: inflight}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

	if code := get(t, fresh, url+"/readyz"); code != 200 {
		t.Fatalf("/readyz before shutdown = %d, want 200", code)
	}

	type result struct {
		code int
		body string
		err  error
	}
	results := make(chan result, inflight)
	for range inflight {
		go func() {
			resp, err := client.Get(url + "/slow")
			if err != nil {
				results <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{code: resp.StatusCode, body: string(b), err: err}
		}()
	}
	for range inflight {
		<-started
	}

	signalled := time.Now()
	sigs <- syscall.SIGTERM
	<-ready.drained
	resp, err := client.Get(url + "/readyz") // on a pooled keep-alive connection if one is idle
	if err != nil {
		t.Fatalf("GET /readyz after SIGTERM: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz after SIGTERM = %d, want 503", resp.StatusCode)
	}
	if !resp.Close {
		t.Errorf("/readyz after SIGTERM did not ask the client to close the connection")
	}
	if d := time.Since(signalled); d > 100*time.Millisecond {
		t.Errorf("/readyz answered 503 %v after the signal, want within 100ms", d)
	}

	<-shutdownBegan
	// Listeners are closed: a new connection is refused at once, it does not hang.
	_, err = fresh.Get(url + "/readyz")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET after Shutdown began: err = %v, want connection refused", err)
	}

	close(release)
	for range inflight {
		r := <-results
		if r.err != nil || r.code != 200 || r.body != "done" {
			t.Errorf("in-flight request = %d %q %v, want 200 done", r.code, r.body, r.err)
		}
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	if got, want := ev.list(), []string{"drain", "deregister", "background", "telemetry"}; !slices.Equal(got, want) {
		t.Errorf("shutdown order = %v, want %v", got, want)
	}
}

func get(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunStreamEndsWhenBaseContextIsCancelled(t *testing.T) {
	handlerErr := make(chan error, 1)
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "tick\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a stream that only stops when its context ends
		handlerErr <- r.Context().Err()
	})}
	ln := loopback(t)
	sigs := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() {
		runErr <- gantry.Run(ctx, gantry.Options{
			Servers: []gantry.Server{{Server: srv, Listener: ln}},
			// 2s leaves a 200ms reserve after the cancellation, ample even on a loaded machine.
			Settings: gantry.Settings{DrainDelay: -1, Timeout: 2 * time.Second},
			Signals:  sigs,
		})
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatalf("GET stream: %v", err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "tick\n" || err != nil {
		t.Fatalf("first stream line = %q, %v", line, err)
	}

	start := time.Now()
	cancel() // ctx cancellation triggers the same shutdown as a signal
	if err := <-handlerErr; !errors.Is(err, context.Canceled) {
		t.Errorf("stream handler context ended with %v, want context.Canceled", err)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("stream end = %q, %v; want a clean end of body", rest, err)
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run() = %v, want nil (the stream ended within the budget)", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v with a 2s budget", d)
	}
}

func TestRunSecondSignalReturnsAtOnce(t *testing.T) {
	handlerDone := make(chan error, 1)
	inHandler := make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-r.Context().Done()
		handlerDone <- r.Context().Err()
	})}
	ln := loopback(t)
	drained := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	runErr := make(chan error, 1)
	go func() {
		runErr <- gantry.Run(context.Background(), gantry.Options{
			Servers: []gantry.Server{{Server: srv, Listener: ln}},
			Components: []any{gantry.DrainerFunc(func(context.Context) error {
				close(drained)
				return nil
			})},
			Settings: gantry.Settings{DrainDelay: time.Minute, Timeout: 2 * time.Minute},
			Signals:  sigs,
		})
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String())
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-inHandler
	sigs <- syscall.SIGTERM
	<-drained
	sigs <- syscall.SIGINT
	if err := <-runErr; !errors.Is(err, gantry.ErrSecondSignal) {
		t.Errorf("Run() after two signals = %v, want ErrSecondSignal", err)
	}
	if err := <-handlerDone; !errors.Is(err, context.Canceled) {
		t.Errorf("in-flight handler ended with %v, want context.Canceled", err)
	}
}

func TestRunListenError(t *testing.T) {
	taken := loopback(t)
	defer taken.Close()
	given := loopback(t)
	var ran atomic.Bool
	err := gantry.Run(context.Background(), gantry.Options{
		Servers: []gantry.Server{
			{Server: &http.Server{Addr: "127.0.0.1:0", ReadHeaderTimeout: time.Second}},
			{Server: &http.Server{Addr: taken.Addr().String(), ReadHeaderTimeout: time.Second}},
			{Server: &http.Server{ReadHeaderTimeout: time.Second}, Listener: given},
		},
		Components: []any{gantry.RunnerFunc(func(context.Context) error { ran.Store(true); return nil })},
		Signals:    make(chan os.Signal),
	})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Run(address in use) = %v, want EADDRINUSE", err)
	}
	if ran.Load() {
		t.Errorf("a background component started although listening failed")
	}
	if _, err := net.Dial("tcp", given.Addr().String()); err == nil {
		t.Errorf("the caller's listener is still open after Run failed; Run owns it")
	}
}

func TestRunClosedSignalChannelShutsDown(t *testing.T) {
	sigs := make(chan os.Signal)
	close(sigs)
	err := gantry.Run(context.Background(), gantry.Options{
		Settings: gantry.Settings{DrainDelay: -1},
		Signals:  sigs,
	})
	if err != nil {
		t.Errorf("Run(closed signal channel) = %v, want a clean shutdown", err)
	}
}
