package platform

import (
	"errors"
	"maps"
	"os"
	"strings"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/dns"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// Settings is the configuration every example service shares. A service embeds it in
// its own config struct and loads the whole with config.Load, so that one start-up
// error names every bad variable.
type Settings struct {
	HTTP      transport.ServerSettings        // HTTP_ADDR, HTTP_*_TIMEOUT, HTTP_MAX_*
	Deadline  resilience.DeadlineSettings     // DEADLINE_FLOOR, DEADLINE_DEFAULT
	Log       observability.LogSettings       // LOG_LEVEL, LOG_FORMAT, LOG_ADD_SOURCE
	Telemetry observability.TelemetrySettings // OTEL_*
	Health    health.Settings                 // HEALTH_CHECK_*
	Shutdown  gantry.Settings                 // SHUTDOWN_DRAIN_DELAY, SHUTDOWN_TIMEOUT
	SQLite    sqlitedb.Settings               // SQLITE_BUSY_TIMEOUT, SQLITE_MAX_OPEN_CONNS
	Discovery DiscoverySettings

	// DataDir holds the service's SQLite database. Default "data" (relative to the
	// working directory).
	DataDir string `env:"DATA_DIR" envDefault:"data" desc:"Directory of the service's SQLite database."`
}

// DiscoverySettings chooses between Consul and static discovery.
type DiscoverySettings struct {
	// ConsulAddr is the Consul agent's HTTP address. When set, the service
	// registers there and finds its peers there; otherwise it uses DISCOVERY_STATIC.
	ConsulAddr string `env:"CONSUL_HTTP_ADDR" desc:"Consul agent address (host:port or URL). Set: register in Consul and discover peers there."`
	// ConsulToken is the Consul ACL token, if the agent needs one.
	ConsulToken string `env:"CONSUL_HTTP_TOKEN" secret:"true" desc:"Consul ACL token."`
	// ServiceAddress is the address advertised in Consul: "host" or "host:port". The
	// port defaults to HTTP_ADDR's; the host to the agent's address.
	ServiceAddress string `env:"SERVICE_ADDRESS" desc:"Address to advertise in Consul (host or host:port)."`
	// Static lists peers when Consul is not used.
	Static discovery.StaticSettings // DISCOVERY_STATIC
	// DNS resolves peers from DNS names (A/AAAA or SRV) when Consul is not used, for
	// Kubernetes headless Services: DISCOVERY_DNS, DISCOVERY_DNS_INTERVAL, ...
	DNS dns.Settings
}

// Validate reports a SERVICE_ADDRESS that is not a host or host:port.
func (s DiscoverySettings) Validate() error {
	var errs []error
	if strings.ContainsAny(s.ServiceAddress, "/ ") {
		errs = append(errs, config.Invalid("SERVICE_ADDRESS", "want host or host:port, got %q", s.ServiceAddress))
	}
	if s.Static.Services != "" && s.DNS.Targets != "" {
		errs = append(errs, config.Invalid("DISCOVERY_DNS", "set either DISCOVERY_STATIC or DISCOVERY_DNS, not both"))
	}
	return errors.Join(errs...)
}

// Environ returns the process environment with defaults added for the variables it
// does not set, to pass to config.Load with config.WithEnvironment. Services use it
// for their own defaults: HTTP_ADDR (each has its own port) and OTEL_SERVICE_NAME.
func Environ(defaults map[string]string) map[string]string {
	out := maps.Clone(defaults)
	if out == nil {
		out = map[string]string{}
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}
