package gantry

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/internal/dashboard"

	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/transport"
)

// Defaults of AdminSettings, used for zero fields.
const (
	defaultAdminAddr        = ":9090"
	defaultDashboardTimeout = 2 * time.Second
)

// AdminSettings configures NewAdmin. The zero value works. It is a plain value.
type AdminSettings struct {
	// Addr is the admin listener's TCP address. Keep it off the public network: it
	// serves internal addresses and state. Default ":9090".
	Addr string `env:"ADMIN_ADDR"`
	// DashboardPeers are other services' admin servers, name=base URL pairs separated
	// by commas (catalog=http://catalog:9090,cart=http://cart:9090), that the
	// dashboard at /debug/ shows beside this one: the admin server fetches their
	// state for the page, so the browser talks to this port only. Empty (the default)
	// means none.
	DashboardPeers map[string]string `env:"ADMIN_DASHBOARD_PEERS" envKeyValSeparator:"=" desc:"Other admin servers the dashboard shows (name=http://host:port,...), fetched by this one."`
	// DashboardPeerTimeout bounds fetching one peer's state; a peer that does not
	// answer in time shows the error in its section. Default 2s.
	DashboardPeerTimeout time.Duration `env:"ADMIN_DASHBOARD_PEER_TIMEOUT" desc:"Time to fetch one dashboard peer's state."`
}

// Validate reports an Addr that is not host:port, a peer that is not name=URL of an
// http or https base URL and a negative peer timeout, naming the variables.
func (s AdminSettings) Validate() error {
	var errs []error
	if s.Addr != "" {
		if _, port, err := net.SplitHostPort(s.Addr); err != nil || port == "" {
			errs = append(errs, config.Invalid("ADMIN_ADDR", "%q is not a host:port address", s.Addr))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.DashboardPeers)) {
		raw := s.DashboardPeers[name]
		u, err := url.Parse(strings.TrimSpace(raw))
		switch {
		case !validName(strings.TrimSpace(name)):
			errs = append(errs, config.Invalid("ADMIN_DASHBOARD_PEERS", "peer name %q is not a single path segment", name))
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, config.Invalid("ADMIN_DASHBOARD_PEERS", "peer %s: want a base URL such as http://%s:9090, got %q", name, name, raw))
		}
	}
	if s.DashboardPeerTimeout < 0 {
		errs = append(errs, config.Invalid("ADMIN_DASHBOARD_PEER_TIMEOUT", "must not be negative, got %v", s.DashboardPeerTimeout))
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero fields that have a default.
func (s AdminSettings) withDefaults() AdminSettings {
	if s.Addr == "" {
		s.Addr = defaultAdminAddr
	}
	if s.DashboardPeerTimeout == 0 {
		s.DashboardPeerTimeout = defaultDashboardTimeout
	}
	return s
}

// validName reports whether name is a single path segment other than "_".
func validName(name string) bool {
	return name != "" && name != "_" && name != "." && name != ".." && !strings.ContainsAny(name, "/{}%?# ")
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
	// PeerClient fetches AdminSettings.DashboardPeers. Nil means a client of the
	// server's own (transport.NewRoundTripper's defaults), whose idle connections
	// close when the server shuts down.
	PeerClient *http.Client
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
// that allows the admin server's own origin only. With s.DashboardPeers it shows
// other services' admin servers too: GET /debug/_/peers/{name} fetches a peer's
// state within s.DashboardPeerTimeout, and answers with what it got and the errors.
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
		if !validName(name) {
			return nil, fmt.Errorf("%w: Admin.Debug name %q is not a single path segment other than \"_\"", ErrInvalidOptions, name)
		}
		mux.Handle("GET /debug/"+name, h)
		names = append(names, name)
	}
	s = s.withDefaults()
	page := dashboard.Page{Title: a.Name, Sources: names, Health: a.Health != nil, Client: a.PeerClient, Timeout: s.DashboardPeerTimeout}
	for name, u := range s.DashboardPeers {
		page.Peers = append(page.Peers, dashboard.Peer{Name: strings.TrimSpace(name), URL: strings.TrimSpace(u)})
	}
	var own *http.Transport
	if len(page.Peers) > 0 && page.Client == nil {
		own = transport.NewRoundTripper(transport.ClientSettings{})
		page.Client = &http.Client{Transport: own}
	}
	if len(names) > 0 || a.Health != nil || len(page.Peers) > 0 {
		if page.Title == "" {
			page.Title = "admin"
		}
		if err := dashboard.Mount(mux, page); err != nil {
			return nil, err
		}
	}
	if err := transport.HandleUnmatched(mux); err != nil {
		return nil, err
	}
	srv := transport.NewServer(transport.Recover(inst.Logger)(mux), transport.ServerSettings{Addr: s.Addr})
	if own != nil {
		srv.RegisterOnShutdown(own.CloseIdleConnections)
	}
	return srv, nil
}
