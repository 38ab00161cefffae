package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// version is the Prometheus module version scripts/prometheus.sh builds (Prometheus 3.16.0).
const version = "0.316.0"

// Dir returns the directory holding the prometheus and promtool binaries, or skips tb
// if there is none. $PROMETHEUS_BIN_DIR, when set, must hold both: anything else fails
// tb. With CI=true it must be set (scripts/test.sh exports it), else tb fails: CI never
// skips these tests, nor depends on what an earlier run left in a cache.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("PROMETHEUS_BIN_DIR"); d != "" {
		if err := hasBinaries(d); err != nil {
			tb.Fatalf("promtest: PROMETHEUS_BIN_DIR=%q: %v", d, err)
		}
		return d
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("promtest: PROMETHEUS_BIN_DIR IS NOT SET: under CI=true this test needs a real Prometheus and promtool " +
			"from PROMETHEUS_BIN_DIR=$(bash scripts/prometheus.sh), which scripts/test.sh exports before the examples' tests")
	}
	if p, err := exec.LookPath("prometheus"); err == nil && hasBinaries(filepath.Dir(p)) == nil {
		return filepath.Dir(p)
	}
	cache := os.Getenv("GANTRY_CACHE")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "gantry")
		}
	}
	if cache != "" {
		if d := filepath.Join(cache, "prometheus-"+version); hasBinaries(d) == nil {
			return d
		}
	}
	tb.Skip("SKIPPING: promtest: NO PROMETHEUS BINARIES: this test needs a real Prometheus and promtool. " +
		"Run `bash scripts/prometheus.sh` (builds prometheus v" + version + " from the Go module proxy into ~/.cache/gantry, once) " +
		"and set PROMETHEUS_BIN_DIR to the directory it prints; `make test` does this for you")
	return ""
}

func hasBinaries(dir string) error {
	for _, b := range []string{"prometheus", "promtool"} {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil {
			return err
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", filepath.Join(dir, b))
		}
	}
	return nil
}

// Promtool runs promtool (from Dir) with args in dir and returns what it printed,
// stdout and stderr together. The error is promtool's exit status, or ctx's.
func Promtool(ctx context.Context, tb testing.TB, dir string, args ...string) (string, error) {
	tb.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(Dir(tb), "promtool"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Prometheus is a running Prometheus on loopback. Its methods are safe for concurrent use.
type Prometheus struct {
	addr    string // host:port of the web listener
	dir     string // holds the configuration, rule files and storage
	http    *http.Client
	log     *lockedBuffer
	done    chan struct{}
	mu      sync.Mutex
	cmd     *exec.Cmd
	stopped bool
	exitErr error
}

// Start writes config as prometheus.yml, and each of files (name to content) beside it, in a
// temporary directory, starts Prometheus on a free loopback port with that configuration and
// a storage directory of its own there, waits until it is ready (GET /-/ready), and stops it
// (by its pid) when tb ends. Relative paths in config (rule_files) are relative to that
// directory. It skips tb when no binaries are found (fails it when CI=true), and fails tb
// when Prometheus rejects the configuration or is not ready within 60s.
func Start(tb testing.TB, config string, files map[string]string) *Prometheus {
	tb.Helper()
	bin := filepath.Join(Dir(tb), "prometheus")
	port, err := freePort()
	if err != nil {
		tb.Fatalf("promtest: choosing a port: %v", err)
	}
	p := &Prometheus{
		addr: "127.0.0.1:" + strconv.Itoa(port),
		dir:  tb.TempDir(),
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}},
		log:  &lockedBuffer{},
		done: make(chan struct{}),
	}
	write := map[string]string{"prometheus.yml": config}
	for name, content := range files {
		if name == "prometheus.yml" || filepath.Base(name) != name {
			tb.Fatalf("promtest: file name %q: want a plain name other than prometheus.yml", name)
		}
		write[name] = content
	}
	for name, content := range write {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(content), 0o600); err != nil {
			tb.Fatalf("promtest: %v", err)
		}
	}
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(p.dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		"--web.listen-address="+p.addr,
		"--log.level=warn",
	)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("promtest: starting %s: %v", bin, err)
	}
	p.cmd = cmd
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	tb.Cleanup(p.Stop)
	if err := p.waitReady(60 * time.Second); err != nil {
		p.Stop()
		tb.Fatalf("promtest: prometheus not ready: %v\nprometheus output:\n%s", err, p.Output())
	}
	return p
}

// URL is the base URL of Prometheus's web listener, like http://127.0.0.1:9090.
func (p *Prometheus) URL() string { return "http://" + p.addr }

// Pid is the process id of the prometheus process.
func (p *Prometheus) Pid() int { return p.cmd.Process.Pid }

// Output returns what Prometheus has written so far (its first MiB).
func (p *Prometheus) Output() string { return p.log.String() }

// Stop kills Prometheus by its pid and waits for it to exit. Stopping a stopped
// Prometheus does nothing.
func (p *Prometheus) Stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	_ = p.cmd.Process.Kill()
	<-p.done
	p.http.CloseIdleConnections()
}

// waitReady polls GET /-/ready until it answers 200. Polling is the only way to learn it
// from outside the process.
func (p *Prometheus) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = p.ready(ctx); last == nil {
			return nil
		}
		select {
		case <-p.done:
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Errorf("prometheus exited: %v", p.exitErr)
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}

func (p *Prometheus) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /-/ready = %s", resp.Status)
	}
	return nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}
