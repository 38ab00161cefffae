package jaegertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// version is the Jaeger module version scripts/jaeger.sh builds (released as v2.13.0).
const version = "1.76.0"

// Binary returns the path of a jaeger binary, or skips tb (fails it when CI=true) if
// there is none.
func Binary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("JAEGER_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("jaegertest: JAEGER_BIN=%q: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("jaeger"); err == nil {
		return p
	}
	cache := os.Getenv("GANTRY_CACHE")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "gantry")
		}
	}
	if cache != "" {
		p := filepath.Join(cache, "jaeger-"+version, "jaeger")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	const msg = "jaegertest: NO JAEGER BINARY: this test needs a real Jaeger. " +
		"Run `bash scripts/jaeger.sh` (builds jaeger v" + version + " from the Go module proxy into ~/.cache/gantry, once) " +
		"or set JAEGER_BIN=/path/to/jaeger; `make test` does this for you"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip("SKIPPING: " + msg)
	return ""
}

// Jaeger is a running Jaeger all-in-one on loopback. Its methods are safe for
// concurrent use.
type Jaeger struct {
	otlp    string // host:port of the OTLP HTTP receiver
	query   string // host:port of the query API
	http    *http.Client
	log     *lockedBuffer
	done    chan struct{}
	mu      sync.Mutex
	cmd     *exec.Cmd
	stopped bool
	exitErr error
}

// config is Jaeger's configuration (the OTel Collector's format): every listener on
// 127.0.0.1, in-memory storage, no self-tracing and no metrics endpoint of its own. The
// traces pipeline has no batch processor and the storage exporter no queue, so an export
// is stored by the time the receiver answers it. Metrics sent to the OTLP receiver are
// accepted and dropped, so that a service exporting both signals to it sees no errors.
const config = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
    metrics:
      receivers: [otlp]
      exporters: [nop]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
  nop:
`

// Start starts Jaeger on free loopback ports, waits until its OTLP receiver and query
// API answer, and stops it (by its pid) when tb ends. It skips tb when no jaeger binary
// is found (fails it when CI=true), and fails tb when Jaeger is not ready within 60s.
func Start(tb testing.TB) *Jaeger {
	tb.Helper()
	bin := Binary(tb)
	p, err := freePorts(3)
	if err != nil {
		tb.Fatalf("jaegertest: choosing ports: %v", err)
	}
	j := &Jaeger{
		query: "127.0.0.1:" + strconv.Itoa(p[0]),
		otlp:  "127.0.0.1:" + strconv.Itoa(p[2]),
		http:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}},
		log:   &lockedBuffer{},
		done:  make(chan struct{}),
	}
	path := filepath.Join(tb.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, config, p[0], p[1], p[2]), 0o600); err != nil {
		tb.Fatalf("jaegertest: %v", err)
	}
	cmd := exec.Command(bin, "--config", path)
	cmd.Stdout, cmd.Stderr = j.log, j.log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("jaegertest: starting %s: %v", bin, err)
	}
	j.cmd = cmd
	go func() {
		err := cmd.Wait()
		j.mu.Lock()
		j.exitErr = err
		j.mu.Unlock()
		close(j.done)
	}()
	tb.Cleanup(j.Stop)
	if err := j.waitReady(60 * time.Second); err != nil {
		j.Stop()
		tb.Fatalf("jaegertest: jaeger not ready: %v\njaeger output:\n%s", err, j.Output())
	}
	return j
}

// OTLPEndpoint is the base URL of the OTLP HTTP receiver, like http://127.0.0.1:4318,
// for OTEL_EXPORTER_OTLP_ENDPOINT (/v1/traces and /v1/metrics go below it).
func (j *Jaeger) OTLPEndpoint() string { return "http://" + j.otlp }

// QueryURL is the base URL of the query API and UI, like http://127.0.0.1:16686.
func (j *Jaeger) QueryURL() string { return "http://" + j.query }

// Pid is the process id of the jaeger process.
func (j *Jaeger) Pid() int { return j.cmd.Process.Pid }

// Stop kills Jaeger by its pid (like a crash: what it stored is gone) and waits for it to
// exit. Stopping a stopped Jaeger does nothing.
func (j *Jaeger) Stop() {
	j.mu.Lock()
	if j.stopped {
		j.mu.Unlock()
		return
	}
	j.stopped = true
	j.mu.Unlock()
	_ = j.cmd.Process.Kill()
	<-j.done
	j.http.CloseIdleConnections()
}

// Freeze stops Jaeger with SIGSTOP (by its pid), like a hung process: the kernel still
// accepts connections on its ports, but nothing answers. Stop kills it all the same.
func (j *Jaeger) Freeze() error { return j.cmd.Process.Signal(syscall.SIGSTOP) }

// Output returns what Jaeger has written so far (its first MiB).
func (j *Jaeger) Output() string { return j.log.String() }

// waitReady polls until the OTLP receiver takes an (empty) export and the query API
// lists services. Polling is the only way to learn this from outside the process.
func (j *Jaeger) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = j.ready(ctx); last == nil {
			return nil
		}
		select {
		case <-j.done:
			j.mu.Lock()
			defer j.mu.Unlock()
			return fmt.Errorf("jaeger exited: %v", j.exitErr)
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}

func (j *Jaeger) ready(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, j.OTLPEndpoint()+"/v1/traces", http.NoBody)
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := j.http.Do(req)
	if err != nil {
		return fmt.Errorf("OTLP receiver: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("OTLP receiver: empty export = %s", resp.Status)
	}
	var services []string
	if err := j.get(ctx, "/api/services", &services); err != nil {
		return fmt.Errorf("query API: %w", err)
	}
	return nil
}

// ErrNotFound is Trace's error when Jaeger has no trace of that id.
var ErrNotFound = errors.New("jaegertest: trace not found")

// Traces returns the recent traces (up to 1000, within the query API's default lookback)
// that have a span of service, as GET /api/traces?service=<service> answers them.
func (j *Jaeger) Traces(ctx context.Context, service string) ([]Trace, error) {
	var traces []Trace
	err := j.get(ctx, "/api/traces?"+url.Values{"service": {service}, "limit": {"1000"}}.Encode(), &traces)
	return traces, err
}

// Trace returns the trace of id (32 hex digits), as GET /api/traces/<id> answers it.
// It fails with ErrNotFound when Jaeger has no such trace.
func (j *Jaeger) Trace(ctx context.Context, id string) (Trace, error) {
	var traces []Trace
	if err := j.get(ctx, "/api/traces/"+url.PathEscape(id), &traces); err != nil {
		return Trace{}, err
	}
	if len(traces) != 1 {
		return Trace{}, fmt.Errorf("jaegertest: GET /api/traces/%s returned %d traces, want 1", id, len(traces))
	}
	return traces[0], nil
}

// get decodes the data member of the query API's answer to path into v.
func (j *Jaeger) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL()+path, nil)
	if err != nil {
		return err
	}
	resp, err := j.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("GET %s: %w", path, ErrNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s = %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("GET %s: decoding %q: %w", path, body, err)
	}
	if len(env.Errors) > 0 {
		return fmt.Errorf("GET %s: errors %+v", path, env.Errors)
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return fmt.Errorf("GET %s: decoding data: %w", path, err)
	}
	return nil
}

// Trace is a trace as Jaeger's query API returns it (the UI's JSON model).
type Trace struct {
	TraceID   string             `json:"traceID"`
	Spans     []Span             `json:"spans"`
	Processes map[string]Process `json:"processes"`
	Warnings  []string           `json:"warnings"`
}

// Span is one span of a Trace. Tags hold the span's attributes, and span.kind its kind
// ("server", "client", "internal", ...).
type Span struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	References    []Reference `json:"references"`
	StartTime     int64       `json:"startTime"` // microseconds since the epoch
	Duration      int64       `json:"duration"`  // microseconds
	Tags          []KeyValue  `json:"tags"`
	ProcessID     string      `json:"processID"`
	Warnings      []string    `json:"warnings"`
}

// Reference links a span to another, its parent for refType CHILD_OF.
type Reference struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

// Process is the resource of the spans that name it; ServiceName is service.name.
type Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []KeyValue `json:"tags"`
}

// KeyValue is a tag. Value is a string, bool or float64 (numbers come as JSON numbers).
type KeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Tag returns the value of the span's tag key, formatted with %v ("" and false when the
// span has no such tag).
func (s Span) Tag(key string) (string, bool) {
	for _, kv := range s.Tags {
		if kv.Key == key {
			return fmt.Sprint(kv.Value), true
		}
	}
	return "", false
}

// Kind is the span's kind: "server", "client", "internal", "producer" or "consumer".
func (s Span) Kind() string {
	k, _ := s.Tag("span.kind")
	return k
}

// Parent returns the span id of the span's CHILD_OF reference ("" for a root).
func (s Span) Parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// Service returns the service.name of span s.
func (t Trace) Service(s Span) string { return t.Processes[s.ProcessID].ServiceName }

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

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
