package platform

import (
	"maps"
	"os"
	"strings"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul"
	"github.com/gantry-go/gantry/discovery/dns"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/transport/identity"
)

// Settings is the configuration every example service shares. A service embeds it in
// its own config struct and loads the whole with config.Load, so that one start-up
// error names every bad variable.
type Settings struct {
	Server    gantry.ServerSettings           // HTTP_ADDR, HTTP_*_TIMEOUT, HTTP_MAX_*, DEADLINE_*
	Admin     gantry.AdminSettings            // ADMIN_ADDR
	Log       observability.LogSettings       // LOG_LEVEL, LOG_FORMAT, LOG_ADD_SOURCE
	Telemetry observability.TelemetrySettings // OTEL_*
	Health    health.Settings                 // HEALTH_CHECK_*
	Shutdown  gantry.Settings                 // SHUTDOWN_DRAIN_DELAY, SHUTDOWN_TIMEOUT
	SQLite    sqlitedb.Settings               // SQLITE_BUSY_TIMEOUT, SQLITE_MAX_OPEN_CONNS
	Discovery DiscoverySettings
	TLS       identity.Settings      // TLS_*: the service's certificate, for mTLS between services
	TLSConsul consul.ConnectSettings // TLS_CONSUL_*: Consul's CA and intentions, with TLS_MODE=consul

	// DataDir holds the service's SQLite database. Default "data" (relative to the
	// working directory).
	DataDir string `env:"DATA_DIR" envDefault:"data" desc:"Directory of the service's SQLite database."`
}

// DiscoverySettings chooses between Consul, DNS and static discovery.
type DiscoverySettings struct {
	// ConsulAddr is the Consul agent's HTTP address. When set, the service
	// registers there and finds its peers there; otherwise it uses DISCOVERY_DNS or
	// DISCOVERY_STATIC.
	ConsulAddr string `env:"CONSUL_HTTP_ADDR" desc:"Consul agent address (host:port or URL). Set: register in Consul and discover peers there."`
	// ConsulToken is the Consul ACL token, if the agent needs one.
	ConsulToken string `env:"CONSUL_HTTP_TOKEN" secret:"true" desc:"Consul ACL token."`
	// Register is this instance's Consul registration (DISCOVERY_SERVICE_*,
	// DISCOVERY_CHECK*). The name defaults to the service's, the port to HTTP_ADDR's,
	// and an HTTP check polls /readyz on the admin port.
	Register consul.Registration
	// Watch tunes the Consul resolver of the upstreams (DISCOVERY_CONSUL_*). The
	// services default to the ones the service calls.
	Watch consul.WatchSettings
	// Static lists peers when neither Consul nor DNS is used (DISCOVERY_STATIC).
	Static discovery.StaticSettings
	// DNS resolves peers from DNS names (A/AAAA or SRV) when Consul is not used, for
	// Kubernetes headless Services: DISCOVERY_DNS, DISCOVERY_DNS_INTERVAL, ...
	DNS dns.Settings
}

// Validate reports DISCOVERY_STATIC and DISCOVERY_DNS set together.
func (s DiscoverySettings) Validate() error {
	if s.Static.Services != "" && s.DNS.Targets != "" {
		return config.Invalid("DISCOVERY_DNS", "set either DISCOVERY_STATIC or DISCOVERY_DNS, not both")
	}
	return nil
}

// Environ returns the process environment with defaults added for the variables it
// does not set, to pass to config.Load with config.WithEnvironment. Services use it
// for their own defaults: HTTP_ADDR and ADMIN_ADDR (each has its own ports) and
// OTEL_SERVICE_NAME.
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
