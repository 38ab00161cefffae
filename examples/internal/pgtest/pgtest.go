package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir returns the directory holding PostgreSQL's initdb and postgres: $PGTEST_BINDIR,
// or the newest /usr/lib/postgresql/<version>/bin. Without one it skips tb, or fails
// it when CI=true.
func BinDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		if !hasServer(d) {
			tb.Fatalf("pgtest: PGTEST_BINDIR=%q holds no initdb and postgres", d)
		}
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if hasServer(d) {
			return d
		}
	}
	const msg = "pgtest: NO POSTGRESQL SERVER BINARIES: this test needs a real PostgreSQL server. " +
		"Run `bash scripts/postgres.sh` (installs Debian's postgresql package) or set PGTEST_BINDIR " +
		"to a directory holding initdb and postgres; `make test` does this for you"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip("SKIPPING: " + msg)
	return ""
}

func hasServer(dir string) bool {
	for _, b := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// version is the major version in /usr/lib/postgresql/<version>/bin, 0 if none.
func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Server is a running PostgreSQL server of one test. Its methods are safe for
// concurrent use.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string // owned by the server's user: data/ and the unix socket
	port int
	cred *syscall.Credential // nil when not root

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	log     *bytes.Buffer
	stopped bool
	dbs     int
}

// Start starts a server of tb's own (NewServer) and returns the URL of a new, empty
// database on it (Server.Database).
func Start(tb testing.TB) string {
	tb.Helper()
	return NewServer(tb).Database(tb)
}

// NewServer runs initdb into a new temporary directory and starts a server on a free
// loopback port; tb.Cleanup stops it and removes the directory. It fails tb if the
// server is not accepting connections within 30s.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: BinDir(tb)}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	s.dir = dir
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		s.cred, err = unprivileged()
		if err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			tb.Fatalf("pgtest: handing %s to the server's user: %v", dir, err)
		}
	}
	initdb := s.command(filepath.Join(s.bin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "--auth=trust", "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("pgtest: choosing a port: %v", err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	tb.Cleanup(s.Stop)
	s.start()
	return s
}

// unprivileged is the user the server runs as when the test runs as root.
func unprivileged() (*syscall.Credential, error) {
	names := []string{"postgres", "nobody"}
	if n := os.Getenv("PGTEST_USER"); n != "" {
		names = []string{n}
	}
	for _, n := range names {
		u, err := user.Lookup(n)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and none of the users %v exists to run PostgreSQL as (set PGTEST_USER)", names)
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"LC_ALL=C", "TZ=UTC", "PATH=" + s.bin + ":/usr/bin:/bin"}
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

func (s *Server) start() {
	s.tb.Helper()
	s.mu.Lock()
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	s.log = &bytes.Buffer{}
	w := &lockedWriter{mu: &s.mu, w: s.log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.tb.Fatalf("pgtest: starting postgres: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done, s.stopped = cmd, done, false
	s.mu.Unlock()
	if err := s.waitReady(30 * time.Second); err != nil {
		s.Stop()
		s.tb.Fatalf("pgtest: postgres not ready: %v\npostgres output:\n%s", err, s.Output())
	}
}

// waitReady polls until the server accepts a connection, the process exits or the
// time is up.
func (s *Server) waitReady(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			return c.Close(ctx)
		}
		select {
		case <-s.done:
			return errors.New("postgres exited")
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func (s *Server) url(db string) string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(s.port) + "/" + db + "?sslmode=disable"
}

// Addr is the server's address, 127.0.0.1:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// PID is the postmaster's process id.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// Database creates a new, empty database and returns its URL
// (postgres://postgres@127.0.0.1:port/name?sslmode=disable).
func (s *Server) Database(tb testing.TB) string {
	tb.Helper()
	s.mu.Lock()
	s.dbs++
	name := "test" + strconv.Itoa(s.dbs)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	return s.url(name)
}

// Stop shuts the server down fast (SIGINT to the postmaster: open transactions are
// rolled back, connections closed) and waits for it to exit, killing it after 30s.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.stopped || s.cmd == nil {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	p, done := s.cmd.Process, s.done
	s.mu.Unlock()
	_ = p.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.Kill()
		<-done
	}
}

// Restart stops the server if it runs and starts it again on the same port and data,
// and waits until it accepts connections.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// Output returns what the server has logged since it last started.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
