package gantry

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/internal/dashboard"

	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/transport"
)

// defaultAdminAddr is where the admin server listens when AdminSettings.Addr is empty.
const defaultAdminAddr = ":9090"

// AdminSettings configures NewAdmin. The zero value works. It is a plain value.
type AdminSettings struct {
	// Addr is the admin listener's TCP address. Keep it off the public network: it
	// serves internal addresses and state. Default ":9090".
	Addr string `env:"ADMIN_ADDR"`
}

// Validate reports an Addr that is not host:port, naming ADMIN_ADDR.
func (s AdminSettings) Validate() error {
	if s.Addr == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(s.Addr); err != nil || port == "" {
		return config.Invalid("ADMIN_ADDR", "%q is not a host:port address", s.Addr)
	}
	return nil
}

// Admin is what the admin server serves. Nil fields are not mounted.
type Admin struct {
	// Name is the service's name, the title of the dashboard.
	Name string
	// Health serves GET /livez, /readyz and /startupz.
	Health *health.Registry
	// Metrics serves GET /metrics (observability.Telemetry.MetricsHandler).
	Metrics http.Handler
	// Debug maps a name to the handler of GET /debug/<name>, such as
	// "resilience": resilience.DebugHandler(...) and "discovery":
	// discovery.DebugHandler(...). A name is a single path segment, not "_".
	Debug map[string]http.Handler
}

// NewAdmin returns the admin server of a service, on its own listener (s.Addr): the
// health probes, the metrics scrape and the debug pages, for orchestrators, Prometheus
// and operators. It never shares the API's middleware, so API rate limits and load
// shedding never turn a probe into a 429, and its answers are not traced. Panics in
// its handlers become 500 problems logged to inst.Logger. Unknown paths get 404
// problem+json. NewAdmin fails when s is invalid. Hand the server to Run beside the
// API server.
//
// GET /debug/ is a live dashboard of the same state, for a person: breakers (with the
// time until an open one lets probes through), limiters, retry budgets, bulkheads,
// shedders, discovery and readiness, refreshed every second from the JSON endpoints
// above. It is read-only and self-contained (no CDN), with a Content-Security-Policy
// that allows the admin server's own origin only.
func NewAdmin(s AdminSettings, a Admin, inst observability.Instrumentation) (*http.Server, error) {
	if err := config.Validate(s); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	if a.Health != nil {
		a.Health.Mount(mux)
	}
	if a.Metrics != nil {
		mux.Handle("GET /metrics", a.Metrics)
	}
	var names []string
	for name, h := range a.Debug {
		if h == nil {
			continue
		}
		if name == "" || name == "_" || strings.ContainsAny(name, "/{} ") {
			return nil, fmt.Errorf("%w: Admin.Debug name %q is not a single path segment other than \"_\"", ErrInvalidOptions, name)
		}
		mux.Handle("GET /debug/"+name, h)
		names = append(names, name)
	}
	if len(names) > 0 || a.Health != nil {
		title := a.Name
		if title == "" {
			title = "admin"
		}
		if err := dashboard.Mount(mux, title, names, a.Health != nil); err != nil {
			return nil, err
		}
	}
	if err := transport.HandleUnmatched(mux); err != nil {
		return nil, err
	}
	addr := s.Addr
	if addr == "" {
		addr = defaultAdminAddr
	}
	return transport.NewServer(transport.Recover(inst.Logger)(mux), transport.ServerSettings{Addr: addr}), nil
}
