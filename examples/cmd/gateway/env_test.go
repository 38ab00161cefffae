package main

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/internal/demoidp"
)

// gatewayAt is a gateway started by run on loopback.
type gatewayAt struct {
	api, admin string // base URLs
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

// startGateway runs the gateway as main does (main.go's defaults, then env on top,
// with HTTP_ADDR and ADMIN_ADDR on free loopback ports unless env sets them) until
// the test ends, and waits for its /readyz on ADMIN_ADDR. Its log goes to a file
// in t.TempDir() instead of the test's stderr.
func startGateway(t *testing.T, env map[string]string) gatewayAt {
	t.Helper()
	e := maps.Clone(defaults)
	e["HTTP_ADDR"], e["ADMIN_ADDR"] = freeAddr(t), freeAddr(t)
	e["SHUTDOWN_DRAIN_DELAY"], e["SHUTDOWN_TIMEOUT"] = "1ms", "5s"
	maps.Copy(e, env)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = logFile // run logs to os.Stderr, read once at start
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, e) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run() = %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run() did not return within 10s of cancel")
		}
		os.Stderr = stderr
		_ = logFile.Close()
	})
	g := gatewayAt{api: "http://" + e["HTTP_ADDR"], admin: "http://" + e["ADMIN_ADDR"]}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, _ := get(t, g.admin+"/readyz"); code == http.StatusOK {
			return g
		}
		select {
		case err := <-done:
			t.Fatalf("run(%v) = %v before it was ready", env, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway with %v not ready on %s within 10s", env, g.admin)
		}
		time.Sleep(20 * time.Millisecond) // no readiness hook: run only serves
	}
}

var plainClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get returns the status and body of GET url, status 0 when nothing answers.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := plainClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// catalogStub is an upstream that answers GET /products/p01. When block is set, it
// answers only once release is closed, and reports each arrival on arrived.
type catalogStub struct {
	url     string
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func startCatalogStub(t *testing.T, block bool) *catalogStub {
	t.Helper()
	c := &catalogStub{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	if !block {
		c.Release()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/products/p01" {
			http.NotFound(w, r)
			return
		}
		select {
		case c.arrived <- struct{}{}:
		default:
		}
		select {
		case <-c.release:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"p01","from":"stub"}`)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { c.Release(); srv.Close() })
	c.url = srv.URL
	return c
}

// Release lets blocked requests answer.
func (c *catalogStub) Release() { c.once.Do(func() { close(c.release) }) }

// TestOperatorVariablesChangeTheGateway starts the gateway's run with and without
// the variables operators set most and checks what a client of the gateway sees.
func TestOperatorVariablesChangeTheGateway(t *testing.T) {
	t.Run("HTTP_ADDR and ADMIN_ADDR", func(t *testing.T) {
		for range 2 { // two different pairs: the listeners follow the variables
			apiAddr, adminAddr := freeAddr(t), freeAddr(t)
			startGateway(t, map[string]string{"HTTP_ADDR": apiAddr, "ADMIN_ADDR": adminAddr})
			if code, _ := get(t, "http://"+adminAddr+"/readyz"); code != http.StatusOK {
				t.Errorf("GET /readyz on ADMIN_ADDR=%s = %d, want 200", adminAddr, code)
			}
			if code, body := get(t, "http://"+apiAddr+"/api/products/p01"); code == 0 {
				t.Errorf("GET /api/products/p01 on HTTP_ADDR=%s = %d %q, want the gateway's API", apiAddr, code, body)
			}
			if code, _ := get(t, "http://"+apiAddr+"/readyz"); code != http.StatusNotFound {
				t.Errorf("GET /readyz on HTTP_ADDR=%s = %d, want 404 (probes are on ADMIN_ADDR only)", apiAddr, code)
			}
		}
	})

	t.Run("DISCOVERY_STATIC", func(t *testing.T) {
		stub := startCatalogStub(t, false)
		without := startGateway(t, nil)
		if code, body := get(t, without.api+"/api/products/p01"); code != http.StatusServiceUnavailable || strings.Contains(body, "stub") {
			t.Errorf("without DISCOVERY_STATIC: GET /api/products/p01 = %d %q, want 503 (catalog unknown)", code, body)
		}
		with := startGateway(t, map[string]string{"DISCOVERY_STATIC": "catalog=" + stub.url})
		if code, body := get(t, with.api+"/api/products/p01"); code != http.StatusOK || !strings.Contains(body, `"from":"stub"`) {
			t.Errorf("DISCOVERY_STATIC=catalog=%s: GET /api/products/p01 = %d %q, want 200 from the stub", stub.url, code, body)
		}
	})

	t.Run("RATELIMIT_KEY_RATE", func(t *testing.T) {
		stub := startCatalogStub(t, false)
		for _, tc := range []struct {
			rate string
			want []int
		}{
			{"1000000", []int{200, 200, 200}}, // the bucket of 1 refills in a microsecond
			{"0.001", []int{200, 429, 429}},   // one request per 1000s
		} {
			g := startGateway(t, map[string]string{"DISCOVERY_STATIC": "catalog=" + stub.url,
				"RATELIMIT_KEY_BURST": "1", "RATELIMIT_KEY_RATE": tc.rate})
			var got []int
			for range tc.want {
				code, _ := get(t, g.api+"/api/products/p01")
				got = append(got, code)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("RATELIMIT_KEY_RATE=%s RATELIMIT_KEY_BURST=1: three GETs = %v, want %v", tc.rate, got, tc.want)
			}
		}
	})

	t.Run("CLIENT_ATTEMPT_TIMEOUT", func(t *testing.T) {
		// main.go's 3s: the gateway waits for a slow upstream.
		slow := startCatalogStub(t, true)
		g := startGateway(t, map[string]string{"DISCOVERY_STATIC": "catalog=" + slow.url})
		type result struct {
			code int
			body string
		}
		res := make(chan result, 1)
		go func() { c, b := get(t, g.api+"/api/products/p01"); res <- result{c, b} }()
		<-slow.arrived
		slow.Release()
		if r := <-res; r.code != http.StatusOK {
			t.Errorf("default CLIENT_ATTEMPT_TIMEOUT, upstream answering after the request arrived: %d %q, want 200", r.code, r.body)
		}

		// 50ms: each of the 3 attempts gives up on an upstream that never answers, so
		// the 504 comes long before 3 attempts of main.go's 3s (or of the library's
		// 500ms) could end, and before CLIENT_REQUEST_TIMEOUT (10s).
		stuck := startCatalogStub(t, true)
		g = startGateway(t, map[string]string{"DISCOVERY_STATIC": "catalog=" + stuck.url, "CLIENT_ATTEMPT_TIMEOUT": "50ms"})
		start := time.Now()
		code, body := get(t, g.api+"/api/products/p01")
		if took := time.Since(start); code != http.StatusGatewayTimeout || took > time.Second {
			t.Errorf("CLIENT_ATTEMPT_TIMEOUT=50ms, upstream never answering: %d %q after %v, want 504 within 1s", code, body, took)
		}
	})
}

// TestGatewayAuthVariables: GATEWAY_AUTH=oidc with AUTH_ISSUER and AUTH_AUDIENCE of a
// running provider makes carts need a token and passes its subject on; the default
// (off) leaves them open.
func TestGatewayAuthVariables(t *testing.T) {
	idp, err := demoidp.New(demoidp.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	idpDone := make(chan error, 1)
	go func() { idpDone <- idp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-idpDone })
	cartStub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "principal="+r.Header.Get("Gantry-Principal"))
	}))
	t.Cleanup(cartStub.Close)
	send := func(url, token string) (int, string, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Gantry-Principal", "bob") // a client's forgery: never passed on
		resp, err := plainClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
	}
	off := startGateway(t, map[string]string{"DISCOVERY_STATIC": "cart=" + cartStub.URL})
	if code, _, body := send(off.api+"/api/carts/c1", ""); code != 200 || body != "principal=" {
		t.Errorf("GATEWAY_AUTH unset: GET /api/carts/c1 without a token = %d %q, want 200 with no principal", code, body)
	}
	on := startGateway(t, map[string]string{"DISCOVERY_STATIC": "cart=" + cartStub.URL,
		"GATEWAY_AUTH": "oidc", "AUTH_ISSUER": idp.Issuer(), "AUTH_AUDIENCE": idp.Audience()})
	if code, challenge, _ := send(on.api+"/api/carts/c1", ""); code != 401 || challenge != `Bearer realm="shop"` {
		t.Errorf("GATEWAY_AUTH=oidc: GET /api/carts/c1 without a token = %d, WWW-Authenticate %q; want 401 Bearer realm=\"shop\"", code, challenge)
	}
	tok, _ := idp.Token(t.Context(), "alice")
	if code, _, body := send(on.api+"/api/carts/c1", tok); code != 200 || body != "principal=alice" {
		t.Errorf("GATEWAY_AUTH=oidc: GET /api/carts/c1 with alice's token = %d %q, want 200 principal=alice", code, body)
	}
}

func TestRunRejectsBadAuthSettingsNamingVariables(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"GATEWAY_AUTH": "maybe"}, []string{"GATEWAY_AUTH"}},
		{map[string]string{"GATEWAY_AUTH": "oidc"}, []string{"AUTH_ISSUER", "AUTH_AUDIENCE"}},
		{map[string]string{"GATEWAY_AUTH": "oidc", "AUTH_ISSUER": "http://idp.example.com", "AUTH_AUDIENCE": "shop",
			"AUTH_ALGORITHMS": "HS256", "AUTH_LEEWAY": "-1s"}, []string{"AUTH_ISSUER", "AUTH_ALGORITHMS", "AUTH_LEEWAY"}},
		{map[string]string{"AUTH_ISSUER": "https://idp.example.com"}, []string{"GATEWAY_AUTH"}}, // set, but auth is off
	} {
		// A run that starts (a mutation lets the setting pass) returns nil at the timeout.
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		env := maps.Clone(tc.env)
		env["HTTP_ADDR"], env["ADMIN_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
		err := run(ctx, env)
		cancel()
		for _, v := range tc.want {
			if err == nil || !strings.Contains(err.Error(), v) {
				t.Errorf("run(%v) = %v, want a start-up error naming %s", tc.env, err, v)
			}
		}
	}
}
