package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-go/gantry/discovery/consul/consultest"
)

// starterBinary copies main.go into a folder outside the repository with nothing but
// a go.mod that requires the library (replaced by this checkout) and builds it there,
// as a user who copies the starter would. It returns the binary's path.
func starterBinary(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/starter\n\ngo 1.26.7\n\nrequire github.com/gantry-go/gantry v0.0.0\n\n" +
		"replace github.com/gantry-go/gantry => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum")) // saves the proxy round trips
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"main.go": src, "go.mod": []byte(gomod), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "starter")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", bin, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in a copy outside the repository: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return bin
}

// instance is one running starter process.
type instance struct {
	cmd        *exec.Cmd
	api, admin string // base URLs
	out        *bytes.Buffer
	exited     chan struct{} // closed when the process has exited
	err        error         // its exit status, once exited is closed
}

// wait waits up to d for the process to exit and returns its exit status.
func (in *instance) wait(d time.Duration) (error, bool) {
	select {
	case <-in.exited:
		return in.err, true
	case <-time.After(d):
		return nil, false
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs bin with env and waits until its admin /readyz answers 200.
func start(t *testing.T, bin string, env ...string) *instance {
	t.Helper()
	apiAddr, adminAddr := freeAddr(t), freeAddr(t)
	in := &instance{api: "http://" + apiAddr, admin: "http://" + adminAddr, out: &bytes.Buffer{}, exited: make(chan struct{})}
	in.cmd = exec.Command(bin)
	in.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=" + apiAddr, "ADMIN_ADDR=" + adminAddr,
		"SHUTDOWN_DRAIN_DELAY=500ms", "SHUTDOWN_TIMEOUT=5s", "LOG_FORMAT=json"}, env...)
	in.cmd.Stdout, in.cmd.Stderr = in.out, in.out
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { in.err = in.cmd.Wait(); close(in.exited) }()
	t.Cleanup(func() {
		_ = in.cmd.Process.Kill()
		<-in.exited
		if t.Failed() {
			t.Logf("starter output:\n%s", in.out)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _, _ := get(in.admin + "/readyz"); code == http.StatusOK {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("starter on %s never became ready:\n%s", apiAddr, in.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(url string) (int, http.Header, []byte) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestStarterCopiedOutsideTheRepository builds the starter from a copy and runs two
// of them, one the peer of the other, with static discovery.
func TestStarterCopiedOutsideTheRepository(t *testing.T) {
	bin := starterBinary(t)
	peer := start(t, bin)
	a := start(t, bin, "DISCOVERY_STATIC=peer="+peer.api, "RATELIMIT_KEY_RATE=5", "RATELIMIT_KEY_BURST=10",
		"BREAKER_CONSECUTIVE_FAILURES=2", "BREAKER_OPEN_TIMEOUT=1m")

	if code, _, body := get(a.api + "/hello/ada"); code != 200 || !strings.Contains(string(body), `"hello":"ada"`) {
		t.Errorf("GET /hello/ada = %d %s, want 200 hello ada", code, body)
	}
	if code, _, body := get(a.api + "/peer/bob"); code != 200 || !strings.Contains(string(body), `"hello":"bob"`) {
		t.Errorf("GET /peer/bob = %d %s, want 200 with the peer's hello bob", code, body)
	}
	// Probes and debug pages are on the admin port only.
	if code, _, _ := get(a.api + "/readyz"); code != http.StatusNotFound {
		t.Errorf("GET api /readyz = %d, want 404 (probes live on the admin port)", code)
	}
	if code, _, body := get(a.admin + "/metrics"); code != 200 || !strings.Contains(string(body), `http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/peer/{name}"`) {
		t.Errorf("GET admin /metrics = %d, want the /peer/{name} route counted:\n%.2000s", code, body)
	}

	// The per-client rate limit: a burst of 10, then 429 with Retry-After; the admin
	// port is never limited.
	limited := 0
	for range 20 {
		code, h, _ := get(a.api + "/hello/x")
		if code == http.StatusTooManyRequests {
			limited++
			if h.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Errorf("20 requests at once against a burst of 10: none limited")
	}
	if code, _, _ := get(a.admin + "/readyz"); code != 200 {
		t.Errorf("admin /readyz while the API is rate limited = %d, want 200", code)
	}

	// The peer dies: the calls fail with 503 problem+json, then the breaker opens.
	_ = peer.cmd.Process.Kill()
	<-peer.exited
	time.Sleep(time.Second) // let the rate limiter refill for the next calls
	for range 3 {
		code, h, body := get(a.api + "/peer/bob")
		if code != http.StatusServiceUnavailable || h.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET /peer/bob with the peer dead = %d %q %s, want 503 problem+json", code, h.Get("Content-Type"), body)
		}
		if strings.Contains(string(body), "127.0.0.1") {
			t.Errorf("the problem leaks the peer's address: %s", body)
		}
	}
	_, _, dbg := get(a.admin + "/debug/resilience")
	var snap struct {
		Breakers []struct{ Name, State string }
	}
	if err := json.Unmarshal(dbg, &snap); err != nil || len(snap.Breakers) != 1 || snap.Breakers[0].State != "open" {
		t.Errorf("admin /debug/resilience breakers = %+v (%v), want one, open", snap.Breakers, err)
	}

	// SIGTERM: /readyz turns 503 during the drain delay, then the process exits 0.
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sawDrain := false
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && !sawDrain; time.Sleep(20 * time.Millisecond) {
		code, _, _ := get(a.admin + "/readyz")
		sawDrain = code == http.StatusServiceUnavailable
	}
	if !sawDrain {
		t.Errorf("admin /readyz never answered 503 after SIGTERM")
	}
	if err, exited := a.wait(10 * time.Second); !exited || err != nil {
		t.Errorf("after SIGTERM: exited %v with %v, want exit status 0 within 10s", exited, err)
	}
}

// TestStarterWithConsul runs the copied starter against a real Consul agent: the peer
// registers as "peer", the other finds it there and calls it.
func TestStarterWithConsul(t *testing.T) {
	agent := consultest.Start(t)
	bin := starterBinary(t)
	consul := "CONSUL_HTTP_ADDR=" + agent.HTTPAddr()
	start(t, bin, consul, "DISCOVERY_SERVICE_NAME=peer", "DISCOVERY_SERVICE_ADDRESS=127.0.0.1")
	a := start(t, bin, consul, "DISCOVERY_SERVICE_ADDRESS=127.0.0.1")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var code int
	var body []byte
	for ctx.Err() == nil { // until the peer's TTL check passes and the watch sees it
		if code, _, body = get(a.api + "/peer/eve"); code == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 200 || !strings.Contains(string(body), `"hello":"eve"`) {
		t.Fatalf("GET /peer/eve through Consul = %d %s, want 200", code, body)
	}
	// The starter registers when it starts serving, and the agent syncs the catalog a
	// moment later: the call above can succeed first.
	var services map[string][]string
	for ctx.Err() == nil {
		var err error
		if services, _, err = agent.Client().Catalog().Services(nil); err != nil {
			t.Fatal(err)
		}
		if _, ok := services["starter"]; ok {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, name := range []string{"peer", "starter"} {
		if _, ok := services[name]; !ok {
			t.Errorf("Consul services = %v, want %q registered", services, name)
		}
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err, exited := a.wait(10 * time.Second); !exited || err != nil {
		t.Errorf("after SIGTERM: exited %v with %v, want exit status 0 within 10s", exited, err)
	}
	nodes, _, err := agent.Client().Health().Service("starter", "", false, nil)
	if err != nil || len(nodes) != 0 {
		t.Errorf("after SIGTERM, Consul still lists starter: %d instances (%v), want deregistered", len(nodes), err)
	}
}
