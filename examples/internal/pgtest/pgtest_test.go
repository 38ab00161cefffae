package pgtest_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gantry-go/gantry/examples/internal/pgtest"
)

// TestServerLifecycle: a started server answers on loopback, runs as an unprivileged
// user, serves fresh databases, survives a restart with its data, and when the test
// ends its postmaster is gone (by pid) and its directory removed.
func TestServerLifecycle(t *testing.T) {
	var pid int
	var dataDir string
	t.Run("running", func(t *testing.T) {
		start := time.Now()
		srv := pgtest.NewServer(t)
		t.Logf("initdb and start: %v", time.Since(start))
		pid = srv.PID()
		dsn := srv.Database(t)
		if !strings.HasPrefix(dsn, "postgres://postgres@127.0.0.1:") {
			t.Errorf("Database() = %q, want a URL on 127.0.0.1", dsn)
		}
		if other := srv.Database(t); other == dsn {
			t.Errorf("two Database() calls = %q twice, want two databases", dsn)
		}
		c := connect(t, dsn)
		var listen string
		if err := c.QueryRow(t.Context(), `SHOW listen_addresses`).Scan(&listen); err != nil || listen != "127.0.0.1" {
			t.Errorf("listen_addresses = %q, %v, want 127.0.0.1", listen, err)
		}
		if err := c.QueryRow(t.Context(), `SHOW data_directory`).Scan(&dataDir); err != nil {
			t.Fatal(err)
		}
		if uid := processUID(t, pid); uid == 0 {
			t.Errorf("postmaster %d runs as uid 0, want an unprivileged user", pid)
		}
		if _, err := c.Exec(t.Context(), `CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)`); err != nil {
			t.Fatal(err)
		}
		c.Close(t.Context())

		srv.Restart()
		if srv.PID() == pid {
			t.Errorf("PID() after Restart = %d, want a new postmaster", pid)
		}
		pid = srv.PID()
		c = connect(t, dsn)
		defer c.Close(context.Background())
		var n int
		if err := c.QueryRow(t.Context(), `SELECT n FROM kept`).Scan(&n); err != nil || n != 7 {
			t.Errorf("row after Restart = %d, %v, want 7", n, err)
		}
	})
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster %d after the test: kill(0) = %v, want ESRCH (stopped)", pid, err)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory %s after the test: %v, want it removed", dataDir, err)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("pgx.Connect(%q) = %v", dsn, err)
	}
	return c
}

func processUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return -1
}
