package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/internal/pgtest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var plainClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(url string) (int, []byte) {
	resp, err := plainClient.Get(url)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// runCatalog runs catalog's run with env (plus free loopback ports, a fresh
// DATA_DIR and a short shutdown) until it is ready, calls use with its admin base
// URL, stops it and returns what it logged: run logs to os.Stderr, which points to a
// file meanwhile.
func runCatalog(t *testing.T, env map[string]string, use func(admin string)) string {
	t.Helper()
	e := map[string]string{"HTTP_ADDR": freeAddr(t), "ADMIN_ADDR": freeAddr(t), "DATA_DIR": t.TempDir(),
		"SHUTDOWN_DRAIN_DELAY": "1ms", "SHUTDOWN_TIMEOUT": "5s"}
	maps.Copy(e, env)
	path := filepath.Join(t.TempDir(), "catalog.log")
	logFile, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	stderr := os.Stderr
	os.Stderr = logFile // read once by run, at start
	defer func() { os.Stderr = stderr }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, e) }()
	admin := "http://" + e["ADMIN_ADDR"]
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, _ := get(admin + "/readyz"); code == http.StatusOK {
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run(%v) = %v before it was ready", env, err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("catalog with %v not ready on %s within 10s", env, admin)
		}
		time.Sleep(20 * time.Millisecond) // no readiness hook: run only serves
	}
	use(admin)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run() = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run() did not return within 10s of cancel")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOperatorVariablesChangeTheCatalog starts catalog's run with and without
// SHED_DISABLED and LOG_LEVEL and checks what an operator sees.
func TestOperatorVariablesChangeTheCatalog(t *testing.T) {
	t.Run("SHED_DISABLED", func(t *testing.T) {
		for _, tc := range []struct {
			env      map[string]string
			shedders int
		}{
			{nil, 1},
			{map[string]string{"SHED_DISABLED": "false"}, 1},
			{map[string]string{"SHED_DISABLED": "true"}, 0},
		} {
			runCatalog(t, tc.env, func(admin string) {
				code, body := get(admin + "/debug/resilience")
				var snap struct {
					Shedders []json.RawMessage `json:"shedders"`
				}
				if err := json.Unmarshal(body, &snap); code != http.StatusOK || err != nil {
					t.Fatalf("GET /debug/resilience = %d %s (%v), want 200 and JSON", code, body, err)
				}
				if len(snap.Shedders) != tc.shedders {
					t.Errorf("%v: /debug/resilience lists %d shedders, want %d", tc.env, len(snap.Shedders), tc.shedders)
				}
			})
		}
	})

	t.Run("LOG_LEVEL", func(t *testing.T) {
		for _, tc := range []struct {
			env  map[string]string
			info bool
		}{
			{nil, true},
			{map[string]string{"LOG_LEVEL": "info"}, true},
			{map[string]string{"LOG_LEVEL": "warn"}, false},
		} {
			log := runCatalog(t, tc.env, func(string) {})
			if got := strings.Contains(log, `"level":"INFO"`); got != tc.info {
				t.Errorf("%v: INFO records logged = %v, want %v; log:\n%s", tc.env, got, tc.info, log)
			}
			if tc.info && !strings.Contains(log, `"msg":"catalog starting"`) {
				t.Errorf("%v: no \"catalog starting\" record; log:\n%s", tc.env, log)
			}
		}
	})
}

// TestDatabaseURLPutsTheCatalogInPostgres: with DATABASE_URL, catalog keeps its data
// in that PostgreSQL (nothing in DATA_DIR), readiness names the postgres check, and a
// second instance on the same URL sees the first one's reservation.
func TestDatabaseURLPutsTheCatalogInPostgres(t *testing.T) {
	url := pgtest.Start(t)
	dataDir := t.TempDir()
	reserve := func(api string) int {
		resp, err := plainClient.Post(api+"/reservations", "application/json",
			strings.NewReader(`{"order_id":"o-pg","items":[{"product_id":"p05","quantity":2}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, want := range []int{http.StatusCreated, http.StatusOK} { // the second instance replays
		api := freeAddr(t)
		runCatalog(t, map[string]string{"DATABASE_URL": url, "DATA_DIR": dataDir, "HTTP_ADDR": api}, func(admin string) {
			if code, body := get(admin + "/readyz?verbose"); code != http.StatusOK || !strings.Contains(string(body), "postgres") {
				t.Errorf("instance %d: GET /readyz?verbose = %d %s, want 200 naming the postgres check", i, code, body)
			}
			if got := reserve("http://" + api); got != want {
				t.Errorf("instance %d: POST /reservations for o-pg = %d, want %d", i, got, want)
			}
		})
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("DATA_DIR holds %d entries with DATABASE_URL set, want none (%v)", len(entries), entries)
	}
}
