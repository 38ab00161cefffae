package gantry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// minTelemetryBudget is the least time telemetry gets to flush, even when the grace
// budget is spent: losing the last spans hides why the process stopped.
const minTelemetryBudget = time.Second

// Run serves o.Servers and runs o.Registrars and the Runners among o.Components
// until ctx is cancelled, a SIGINT or SIGTERM arrives (or a value on o.Signals), or
// a server or component fails. It then shuts everything down in the order described
// in the package documentation, within o.Settings.Timeout, and returns.
//
// Run returns nil after a clean shutdown, whatever triggered it. Otherwise it returns
// the errors joined: a listener that could not be opened (before anything starts), a
// server or component that failed, a Drain or telemetry Shutdown error,
// ErrGraceExceeded when something outlived the budget, ErrSecondSignal when a second
// signal cut the shutdown short. It never calls os.Exit.
//
// Hijacked connections (WebSockets) are not tracked by http.Server.Shutdown; register
// their closing with Server.RegisterOnShutdown.
func Run(ctx context.Context, o Options) error {
	p, err := o.sort()
	if err != nil {
		for _, s := range o.Servers {
			if s.Listener != nil {
				_ = s.Listener.Close()
			}
		}
		return err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(ch)
		sigs = ch
	}
	lns, err := listen(o.Servers)
	if err != nil {
		return err
	}

	// Components keep ctx's values but not its cancellation: cancelling ctx starts
	// the ordered shutdown, it must not cut requests short.
	keep := context.WithoutCancel(ctx)
	baseCtx, cancelBase := context.WithCancel(keep)
	defer cancelBase()
	failed := make(chan error, len(o.Servers)+len(p.registrars)+len(p.background))

	var serving sync.WaitGroup
	for i, s := range o.Servers {
		setBaseContext(s.Server, baseCtx)
		ln := lns[i]
		serving.Go(func() {
			if err := serve(s.Server, ln); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("gantry: serve %s: %w", ln.Addr(), err)
			}
		})
		log.LogAttrs(ctx, slog.LevelInfo, "http server listening", slog.String("addr", ln.Addr().String()))
	}
	registrars := startGroup(keep, "registrar", p.registrars, failed)
	background := startGroup(keep, "background", p.background, failed)

	var errs []error
	var reason string
	select {
	case <-ctx.Done():
		reason = "context done"
	case sig, ok := <-sigs:
		reason = "signal " + signalName(sig, ok)
		if !ok {
			sigs = nil // closed: no second signal can come from it
		}
	case err := <-failed:
		reason = "component failed"
		errs = append(errs, err)
	}
	log.LogAttrs(ctx, slog.LevelInfo, "shutdown started", slog.String("reason", reason),
		slog.Duration("drain_delay", o.Settings.drainDelay()), slog.Duration("timeout", o.Settings.timeout()))

	hard, cancelHard := context.WithCancel(keep)
	defer cancelHard()
	sd := &shutdown{o: &o, p: &p, log: log, cancelBase: cancelBase, registrars: registrars, background: background}
	done := make(chan error, 1)
	go func() {
		err := sd.run(hard)
		serving.Wait()
		done <- err
	}()
	select {
	case err := <-done:
		errs = append(errs, err)
		for {
			select {
			case err := <-failed:
				errs = append(errs, err)
			default:
				return errors.Join(errs...)
			}
		}
	case sig, ok := <-sigs:
		log.LogAttrs(ctx, slog.LevelWarn, "second signal, stopping at once", slog.String("signal", signalName(sig, ok)))
		cancelHard()
		cancelBase()
		registrars.cancel()
		background.cancel()
		for _, s := range o.Servers {
			_ = s.Server.Close()
		}
		errs = append(errs, fmt.Errorf("%w (%s)", ErrSecondSignal, signalName(sig, ok)))
		return errors.Join(errs...)
	}
}

// signalName names a received signal; a closed Options.Signals channel counts as one.
func signalName(sig os.Signal, ok bool) string {
	if !ok || sig == nil {
		return "channel closed"
	}
	return sig.String()
}

// listen opens a TCP listener for every server without one. On error it closes every
// listener, the caller's included: Run owns them.
func listen(servers []Server) ([]net.Listener, error) {
	lns := make([]net.Listener, len(servers))
	for i, s := range servers {
		if s.Listener != nil {
			lns[i] = s.Listener
			continue
		}
		addr := s.Server.Addr
		if addr == "" {
			addr = ":http"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for j := range i {
				_ = lns[j].Close()
			}
			for _, s := range servers[i+1:] {
				if s.Listener != nil {
					_ = s.Listener.Close()
				}
			}
			return nil, fmt.Errorf("gantry: listen on %s: %w", addr, err)
		}
		lns[i] = ln
	}
	return lns, nil
}

// setBaseContext makes every request context of srv end when base is cancelled,
// keeping a BaseContext the caller set.
func setBaseContext(srv *http.Server, base context.Context) {
	orig := srv.BaseContext
	if orig == nil {
		srv.BaseContext = func(net.Listener) context.Context { return base }
		return
	}
	srv.BaseContext = func(l net.Listener) context.Context {
		c, cancel := context.WithCancel(orig(l))
		context.AfterFunc(base, cancel)
		return c
	}
}

// group runs Runners under one cancellable context.
type group struct {
	kind   string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

func startGroup(parent context.Context, kind string, rs []Runner, failed chan<- error) *group {
	ctx, cancel := context.WithCancel(parent)
	g := &group{kind: kind, cancel: cancel}
	for i, r := range rs {
		g.wg.Go(func() {
			err := r.Run(ctx)
			switch {
			case err == nil, ctx.Err() != nil && errors.Is(err, context.Canceled):
			case ctx.Err() == nil:
				failed <- fmt.Errorf("gantry: %s %d (%T): %w", kind, i, r, err)
			default:
				g.mu.Lock()
				g.errs = append(g.errs, fmt.Errorf("gantry: %s %d (%T) stop: %w", kind, i, r, err))
				g.mu.Unlock()
			}
		})
	}
	return g
}

// stop cancels the group and waits for it until ctx is done.
func (g *group) stop(ctx context.Context) error {
	g.cancel()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done: // finished just as the budget ran out
		default:
			return fmt.Errorf("%w: %s components still running", ErrGraceExceeded, g.kind)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

// shutdown is one run of the ordered shutdown sequence.
type shutdown struct {
	o          *Options
	p          *parts
	log        *slog.Logger
	cancelBase context.CancelFunc
	registrars *group
	background *group
}

func (s *shutdown) phase(ctx context.Context, name string, f func() error) error {
	start := time.Now()
	err := f()
	attrs := []slog.Attr{slog.String("phase", name), slog.Duration("duration", time.Since(start))}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(ctx, level, "shutdown phase", attrs...)
	return err
}

// run executes the sequence. hard is cancelled by a second signal.
func (s *shutdown) run(hard context.Context) error {
	start := time.Now()
	timeout := s.o.Settings.timeout()
	end := start.Add(timeout)
	budget, cancel := context.WithDeadline(hard, end)
	defer cancel()
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	add(s.phase(budget, "drain", func() error {
		// Responses now carry "Connection: close" and idle keep-alive connections are
		// closed, so clients re-dial (and their balancers pick another instance)
		// while this one still accepts the stragglers.
		for _, srv := range s.o.Servers {
			srv.Server.SetKeepAlivesEnabled(false)
		}
		var errs []error
		for _, d := range s.p.drainers {
			if err := d.Drain(budget); err != nil {
				errs = append(errs, fmt.Errorf("gantry: drain %T: %w", d, err))
			}
		}
		return errors.Join(errs...)
	}))
	add(s.phase(budget, "drain delay", func() error {
		t := time.NewTimer(s.o.Settings.drainDelay())
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-budget.Done():
			return budget.Err()
		}
	}))
	add(s.phase(budget, "deregister", func() error { return s.registrars.stop(budget) }))

	// Keep a tenth of the budget (at most 2s) to end handlers that ignore Shutdown,
	// by cancelling their contexts, before the background and telemetry stop.
	reserve := min(timeout/10, 2*time.Second)
	var stuck []*http.Server
	add(s.phase(budget, "http shutdown", func() error {
		grace, cancel := context.WithDeadline(budget, end.Add(-reserve))
		defer cancel()
		stuck = shutdownAll(grace, s.o.Servers, nil)
		return nil
	}))
	add(s.phase(budget, "cancel base context", func() error {
		s.cancelBase()
		if len(stuck) == 0 {
			return nil
		}
		s.log.LogAttrs(budget, slog.LevelWarn, "requests still running at the shutdown deadline; their contexts are cancelled",
			slog.Int("servers", len(stuck)))
		var errs []error
		for _, srv := range shutdownAll(budget, nil, stuck) {
			_ = srv.Close()
			errs = append(errs, fmt.Errorf("%w: http server %s closed with requests still running", ErrGraceExceeded, srv.Addr))
		}
		return errors.Join(errs...)
	}))
	add(s.phase(budget, "stop background", func() error { return s.background.stop(budget) }))

	tctx, tcancel := context.WithDeadline(hard, later(end, time.Now().Add(minTelemetryBudget)))
	defer tcancel()
	add(s.phase(tctx, "flush telemetry", func() error {
		var errs []error
		for _, t := range s.p.shutdowners {
			if err := t.Shutdown(tctx); err != nil {
				errs = append(errs, fmt.Errorf("gantry: telemetry shutdown %T: %w", t, err))
			}
		}
		return errors.Join(errs...)
	}))
	s.log.LogAttrs(hard, slog.LevelInfo, "shutdown complete", slog.Duration("duration", time.Since(start)))
	return errors.Join(errs...)
}

// shutdownAll shuts the servers down in parallel and returns those still busy when
// ctx ended. It takes either Options servers or plain *http.Server values.
func shutdownAll(ctx context.Context, servers []Server, plain []*http.Server) []*http.Server {
	for _, s := range servers {
		plain = append(plain, s.Server)
	}
	var (
		mu    sync.Mutex
		stuck []*http.Server
		wg    sync.WaitGroup
	)
	for _, srv := range plain {
		wg.Go(func() {
			err := srv.Shutdown(ctx)
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				mu.Lock()
				stuck = append(stuck, srv)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return stuck
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// serve serves srv on ln, over TLS when srv has a TLSConfig (its certificates come
// from the config, as NewServer's Identity sets it).
func serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}
