package consultest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Binary returns the path of a consul binary, or skips tb (fails it when CI=true)
// if there is none.
func Binary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CONSUL_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("consultest: CONSUL_BIN=%q: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p
	}
	cache := os.Getenv("GANTRY_CACHE")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "gantry")
		}
	}
	if cache != "" {
		p := filepath.Join(cache, "consul-1.21.0", "consul")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	const msg = "consultest: NO CONSUL BINARY: this test needs a real Consul agent. " +
		"Run `bash scripts/consul.sh` (builds consul v1.21.0 from the Go module proxy into ~/.cache/gantry, ~5 min) " +
		"or set CONSUL_BIN=/path/to/consul; `make test` does this for you"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip("SKIPPING: " + msg)
	return ""
}

// Agent is a running `consul agent -dev` on loopback. Its methods are safe for
// concurrent use.
type Agent struct {
	tb    testing.TB
	bin   string
	node  string
	ports ports
	opts  Options

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	log     *bytes.Buffer
	starts  int
	stopped bool
}

// Options adjusts the agent Start runs.
type Options struct {
	// HCL are extra configuration snippets, each passed with -hcl.
	HCL []string
	// Token is the ACL token Config and Client use, and that readiness polling
	// needs when ACLs are enabled.
	Token string
}

type ports struct {
	http, dns, serfLAN, serfWAN, server, grpc, grpcTLS int
}

// Start starts an agent and registers its Stop with tb.Cleanup. It fails tb if the
// agent does not elect itself leader and sync its node within 30s.
func Start(tb testing.TB) *Agent {
	tb.Helper()
	return StartWith(tb, Options{})
}

// StartWith is Start with options.
func StartWith(tb testing.TB, o Options) *Agent {
	tb.Helper()
	a := &Agent{tb: tb, bin: Binary(tb), opts: o}
	a.node = fmt.Sprintf("gantry-test-%d", os.Getpid())
	p, err := freePorts(7)
	if err != nil {
		tb.Fatalf("consultest: choosing ports: %v", err)
	}
	a.ports = ports{http: p[0], dns: p[1], serfLAN: p[2], serfWAN: p[3], server: p[4], grpc: p[5], grpcTLS: p[6]}
	tb.Cleanup(a.Stop)
	a.start()
	return a
}

// HTTPAddr is the agent's HTTP API address, 127.0.0.1:port.
func (a *Agent) HTTPAddr() string { return "127.0.0.1:" + strconv.Itoa(a.ports.http) }

// DNSAddr is the agent's DNS interface, 127.0.0.1:port (UDP and TCP).
func (a *Agent) DNSAddr() string { return "127.0.0.1:" + strconv.Itoa(a.ports.dns) }

// NodeName is the agent's node name.
func (a *Agent) NodeName() string { return a.node }

// Config returns a consul/api config pointing at the agent, with nothing taken from
// the process environment.
func (a *Agent) Config() *api.Config {
	return &api.Config{Address: a.HTTPAddr(), Scheme: "http", Token: a.opts.Token, Transport: api.DefaultConfig().Transport}
}

// Client returns a consul/api client for the agent.
func (a *Agent) Client() *api.Client {
	c, err := api.NewClient(a.Config())
	if err != nil {
		a.tb.Fatalf("consultest: api.NewClient: %v", err)
	}
	return c
}

// Stop kills the agent (like a crash: it does not leave the cluster) and waits for
// it to exit. Stopping a stopped agent does nothing.
func (a *Agent) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped || a.cmd == nil {
		return
	}
	a.stopped = true
	_ = a.cmd.Process.Kill()
	<-a.done
}

// Restart stops the agent if it runs and starts a new one on the same ports with
// empty state, and waits until it is leader.
func (a *Agent) Restart() {
	a.Stop()
	a.start()
}

func (a *Agent) start() {
	a.tb.Helper()
	a.mu.Lock()
	a.starts++
	dir, err := os.MkdirTemp("", "consultest-")
	if err != nil {
		a.mu.Unlock()
		a.tb.Fatalf("consultest: %v", err)
	}
	a.tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := a.ports
	args := []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", a.node, "-data-dir", dir, "-log-level", "warn",
		"-http-port", strconv.Itoa(p.http), "-https-port", "-1",
		"-dns-port", strconv.Itoa(p.dns),
		"-serf-lan-port", strconv.Itoa(p.serfLAN), "-serf-wan-port", strconv.Itoa(p.serfWAN),
		"-server-port", strconv.Itoa(p.server),
		"-grpc-port", strconv.Itoa(p.grpc), "-grpc-tls-port", strconv.Itoa(p.grpcTLS),
		"-hcl", "disable_update_check = true",
	}
	for _, h := range a.opts.HCL {
		args = append(args, "-hcl", h)
	}
	cmd := exec.Command(a.bin, args...)
	a.log = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: a.log}, &lockedWriter{w: a.log}
	if err := cmd.Start(); err != nil {
		a.mu.Unlock()
		a.tb.Fatalf("consultest: starting %s: %v", a.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	a.cmd, a.done, a.stopped = cmd, done, false
	a.mu.Unlock()

	if err := a.waitReady(30 * time.Second); err != nil {
		a.Stop()
		a.tb.Fatalf("consultest: agent not ready: %v\nconsul output:\n%s", err, a.Output())
	}
}

// Output returns what the agent has written so far.
func (a *Agent) Output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

// waitReady polls until the agent has a leader and its own node is in the catalog.
// Polling is the only way to learn this from outside the process.
func (a *Agent) waitReady(timeout time.Duration) error {
	c := a.Client()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	q := (&api.QueryOptions{}).WithContext(ctx)
	var last error
	for ctx.Err() == nil {
		select {
		case <-a.done:
			return errors.New("agent exited")
		default:
		}
		leader, err := c.Status().LeaderWithQueryOptions(q)
		if err == nil && leader != "" {
			n, _, err := c.Catalog().Node(a.node, q)
			if err == nil && n != nil {
				return nil
			}
			last = fmt.Errorf("node %s not in catalog yet (%v)", a.node, err)
		} else {
			last = fmt.Errorf("no leader yet (%v)", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return last
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 {
		return len(p), nil
	}
	return l.w.Write(p)
}

// freePorts returns n distinct loopback ports that were free for both TCP and UDP.
func freePorts(n int) ([]int, error) {
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	var out []int
	for tries := 0; len(out) < n && tries < 100; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			l.Close()
			continue
		}
		closers = append(closers, func() { l.Close(); u.Close() })
		out = append(out, port)
	}
	if len(out) < n {
		return nil, errors.New("no free ports")
	}
	return out, nil
}

// Bin returns the path of the consul binary the agent runs.
func (a *Agent) Bin() string { return a.bin }

// String describes the agent for test logs.
func (a *Agent) String() string {
	return fmt.Sprintf("consul agent -dev http=%s dns=%s (%s)", a.HTTPAddr(), a.DNSAddr(), strings.TrimSpace(a.bin))
}
