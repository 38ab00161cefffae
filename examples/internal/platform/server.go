package platform

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// NewLogger returns the service's logger: the format and level of s.Log, trace ids
// from the context, and a "service" attribute on every record.
func NewLogger(w io.Writer, service string, s Settings) (*slog.Logger, error) {
	logger, err := observability.NewLogger(w, s.Log)
	if err != nil {
		return nil, err
	}
	return logger.With("service", service), nil
}

// ServerChain returns the server middleware in the documented order (see
// transport.Chain):
//
//	Recover → RequestID → tracing and metrics → AccessLog → extra... → BodyLimit →
//	Deadline → handler
//
// extra is where a service puts its load shedding or rate limiting (the gateway's
// per-client limiter); nil entries are skipped.
func ServerChain(logger *slog.Logger, inst observability.Instrumentation, s Settings, extra ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	mw := []func(http.Handler) http.Handler{
		transport.RequestID(),
		observability.Server(inst),
		transport.AccessLog(logger),
	}
	mw = append(mw, extra...)
	mw = append(mw, transport.BodyLimit(s.HTTP.BodyLimit()), resilience.Deadline(s.Deadline))
	return transport.Chain(transport.Recover(logger), mw...)
}

// Ops are the operational handlers mounted beside a service's API. Nil handlers are
// not mounted.
type Ops struct {
	Health     *health.Registry // /livez /readyz /startupz
	Metrics    http.Handler     // /metrics (observability.Telemetry.MetricsHandler)
	Discovery  http.Handler     // /debug/discovery (discovery.DebugHandler)
	Resilience http.Handler     // /debug/resilience (resilience.DebugHandler)
}

// Mount returns a mux serving api at "/" and ops at their paths. Wrap the result in
// ServerChain.
func Mount(api http.Handler, ops Ops) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	if ops.Health != nil {
		ops.Health.Mount(mux)
	}
	for path, h := range map[string]http.Handler{
		"GET /metrics":          ops.Metrics,
		"GET /debug/discovery":  ops.Discovery,
		"GET /debug/resilience": ops.Resilience,
	} {
		if h != nil {
			mux.Handle(path, h)
		}
	}
	return mux
}

// Healthcheck probes http://127.0.0.1:<port of addr>/readyz (or addr's host when it
// names a specific one) and returns nil if it answers 200 within 2s. It is the
// -healthcheck mode of the service binaries, which a container health check runs
// because FROM-scratch images have no shell or curl.
func Healthcheck(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: HTTP_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", req.URL, resp.StatusCode)
	}
	return nil
}
