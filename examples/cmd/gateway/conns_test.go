package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-go/gantry/config"
)

// childEnv makes the test binary run the gateway's main instead of the tests, so that
// TestIdleConnectionFlood measures a gateway process of its own.
const childEnv = "GATEWAY_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main() // exits 1 on a start-up error, returns after SIGTERM
		return
	}
	os.Exit(m.Run())
}

// floodConns is how many idle keep-alive connections the flooding client opens.
const floodConns = 12000

// TestIdleConnectionFlood: one client opens 12,000 keep-alive connections to a real
// gateway process on loopback, each sending one request and then idling. With the
// default caps (HTTP_MAX_CONNS_PER_CLIENT 64, HTTP_MAX_CONNS 4096) the gateway serves
// exactly 64 of them and closes the rest at accept (counted in
// http.server.connections.refused), its resident memory grows by less than 16 MiB
// and stays under 64 MiB (a quarter of the 256Mi container), and another client
// (127.0.0.2) is still served. Without the per-client cap the one
// client takes all 4096 places, and the other client is refused: the cap is what
// keeps the gateway usable (the memory is reported for comparison).
func TestIdleConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 12,000 connections")
	}
	raiseNoFile(t, floodConns+2000)
	for _, tc := range []struct {
		name       string
		env        map[string]string
		held       int   // connections the flooder gets served
		otherOK    bool  // whether 127.0.0.2 is served during the flood
		maxGrowKiB int64 // bound on the gateway's VmRSS growth; 0: reported only
		maxRSSKiB  int64 // bound on the gateway's VmRSS with the connections held; 0: reported only
	}{
		{"defaults", nil, 64, true, 16 << 10, 64 << 10},
		// The rate limit raised too, so that each connection's one request is served.
		{"no per-client cap", map[string]string{"HTTP_MAX_CONNS_PER_CLIENT": "0", "RATELIMIT_KEY_RATE": "1000000", "RATELIMIT_KEY_BURST": "1000000"}, 4096, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := startCatalogStub(t, false)
			// Shedding off: the flood's 32 concurrent requests would be shed with 503
			// (an answer, neither served and held nor refused); this measures the
			// connection caps.
			env := map[string]string{"DISCOVERY_STATIC": "catalog=" + stub.url, "LOG_LEVEL": "error", "SHED_DISABLED": "true"}
			for k, v := range tc.env {
				env[k] = v
			}
			g, pid := startGatewayProcess(t, env)
			// Warm up: the first requests allocate what every later one reuses.
			for range 20 {
				if code, body := get(t, g.api+"/api/products/p01"); code != http.StatusOK {
					t.Fatalf("warm-up GET = %d %s", code, body)
				}
			}
			before := vmRSS(t, pid)

			start := time.Now()
			held, refused := flood(t, g.api, floodConns)
			defer func() {
				for _, c := range held {
					_ = c.Close()
				}
			}()
			took := time.Since(start)
			// The connections must all still be idle-but-open when counted: within the
			// gateway's 30s idle timeout (HTTP_IDLE_TIMEOUT in main.go's defaults).
			if took > 20*time.Second {
				t.Fatalf("the flood took %v, want < 20s (the idle timeout is 30s)", took)
			}
			during := vmRSS(t, pid)
			otherCode, otherErr := getFrom(g.api+"/api/products/p01", "127.0.0.2")
			t.Logf("%d connections in %v: %d served and held, %d refused; gateway VmRSS %d KiB before, %d KiB with them held (+%d KiB, %.1f KiB per held connection); 127.0.0.2: %d %v",
				floodConns, took.Round(time.Millisecond), len(held), refused, before, during, during-before, float64(during-before)/float64(max(len(held), 1)), otherCode, otherErr)

			if len(held) != tc.held || refused != floodConns-tc.held {
				t.Errorf("served %d and refused %d of %d connections, want %d and %d", len(held), refused, floodConns, tc.held, floodConns-tc.held)
			}
			if got := (otherCode == http.StatusOK); got != tc.otherOK {
				t.Errorf("another client (127.0.0.2) during the flood: %d %v, want served = %v", otherCode, otherErr, tc.otherOK)
			}
			if tc.maxGrowKiB > 0 && during-before > tc.maxGrowKiB {
				t.Errorf("gateway VmRSS grew by %d KiB with %d connections held, want < %d KiB", during-before, len(held), tc.maxGrowKiB)
			}
			if tc.maxRSSKiB > 0 && during > tc.maxRSSKiB {
				t.Errorf("gateway VmRSS %d KiB with %d connections held, want < %d KiB", during, len(held), tc.maxRSSKiB)
			}
			want := int64(refused)
			if !tc.otherOK {
				want++ // the other client's connection
			}
			if got := refusedMetric(t, g.admin); got != want {
				t.Errorf("http.server.connections.refused on /metrics = %d, want %d", got, want)
			}
		})
	}
}

// flood opens n connections to base's host, one at a time from 32 workers, sends one
// keep-alive GET on each and keeps those that are answered; it returns them and the
// number closed by the server without an answer. Each connection has 5s to answer.
func flood(t *testing.T, base string, n int) (held []net.Conn, refused int) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	req := "GET /api/products/p01 HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	var mu sync.Mutex
	var failed []error
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range next {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
					continue
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = io.WriteString(c, req)
				var resp *http.Response
				if err == nil {
					resp, err = http.ReadResponse(bufio.NewReader(c), nil)
				}
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				mu.Lock()
				switch {
				case err == nil && resp.StatusCode == http.StatusOK && !resp.Close:
					_ = c.SetDeadline(time.Time{})
					held = append(held, c)
				case err != nil && !isTimeout(err):
					refused++ // closed at accept: EOF or reset
					_ = c.Close()
				default:
					failed = append(failed, fmt.Errorf("status %v, error %v", resp, err))
					_ = c.Close()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d connections neither served nor refused; first: %v", len(failed), failed[0])
	}
	return held, refused
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// getFrom sends one GET to url from the local address ip, on a connection of its own.
func getFrom(url, ip string) (int, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// startGatewayProcess runs this test binary as the gateway (TestMain calls main) with
// main.go's defaults and env on top, on free loopback ports, and waits for its
// /readyz. The process gets SIGTERM when the test ends, and SIGKILL 10s later.
func startGatewayProcess(t *testing.T, env map[string]string) (gatewayAt, int) {
	t.Helper()
	api, admin := freeAddr(t), freeAddr(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", "HTTP_ADDR="+api, "ADMIN_ADDR="+admin,
		"SHUTDOWN_DRAIN_DELAY=1ms", "SHUTDOWN_TIMEOUT=5s")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logFile, err := os.Create(t.TempDir() + "/gateway.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("gateway process after SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("gateway process did not exit within 10s of SIGTERM")
		}
		_ = logFile.Close()
	})
	g := gatewayAt{api: "http://" + api, admin: "http://" + admin}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, _ := get(t, g.admin+"/readyz"); code == http.StatusOK {
			return g, cmd.Process.Pid
		}
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("gateway process exited before it was ready: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway process not ready on %s within 10s", g.admin)
		}
		time.Sleep(20 * time.Millisecond) // no readiness hook across processes
	}
}

var vmRSSLine = regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB$`)

// vmRSS returns the resident memory of process pid in KiB.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to read the gateway's memory from: %v", err)
	}
	m := vmRSSLine.FindSubmatch(b)
	if m == nil {
		t.Fatalf("/proc/%d/status has no VmRSS line", pid)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

var refusedLine = regexp.MustCompile(`(?m)^http_server_connections_refused(?:_connection)?_total\{[^}]*\} (\d+)`)

// refusedMetric sums http.server.connections.refused on the admin /metrics.
func refusedMetric(t *testing.T, admin string) int64 {
	t.Helper()
	code, body := get(t, admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	var n int64
	for _, m := range refusedLine.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		n += v
	}
	return n
}

// raiseNoFile raises the soft RLIMIT_NOFILE to at least n (within the hard limit), for
// this process and the gateway it starts, and restores it when the test ends.
func raiseNoFile(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("RLIMIT_NOFILE hard limit %d < %d", lim.Max, n)
	}
	old := lim
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// TestEdgeIdleTimeout: main.go's defaults hold an idle keep-alive connection at the
// edge 30s at most.
func TestEdgeIdleTimeout(t *testing.T) {
	cfg, err := config.Load[Config](config.WithEnvironment(maps.Clone(defaults)))
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Server.HTTP.IdleTimeout; d <= 0 || d > 30*time.Second {
		t.Errorf("HTTP_IDLE_TIMEOUT from main.go's defaults = %v, want 0 < d <= 30s", d)
	}
}
