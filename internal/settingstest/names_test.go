package settingstest_test

import (
	"cmp"
	"errors"
	"strings"
	"testing"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul"
	"github.com/gantry-go/gantry/discovery/dns"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	gocmp "github.com/google/go-cmp/cmp"
)

// service is configured like a service of the example shop (examples/internal/platform
// plus the cart's and gateway's own settings), with a second client stack under an
// outer GATEWAY_ prefix, as a service calling two kinds of upstream would have.
type service struct {
	Server    gantry.ServerSettings // HTTP_*, DEADLINE_*
	Admin     gantry.AdminSettings  // ADMIN_ADDR
	Log       observability.LogSettings
	Telemetry observability.TelemetrySettings
	Health    health.Settings
	Shutdown  gantry.Settings
	Register  consul.Registration
	Watch     consul.WatchSettings
	Static    discovery.StaticSettings
	DNS       dns.Settings
	Client    gantry.ClientSettings // HTTP_CLIENT_*, RETRY_*, BREAKER_*, CLIENT_*, BALANCER_*
	Shed      resilience.ShedSettings
	RateLimit resilience.RateLimitSettings
	Bulkhead  resilience.BulkheadSettings
	Gateway   gantry.ClientSettings `envPrefix:"GATEWAY_"`
}

// TestEveryProblemNamesItsVariable sets one bad value at a time and checks that every
// problem Load reports is a *config.FieldError naming exactly that variable (or, for
// a cross-field check, the variable it blames), prefixes included, and that the other
// variables its message mentions carry the same prefixes.
func TestEveryProblemNamesItsVariable(t *testing.T) {
	tests := []struct {
		env    string // NAME=value
		prefix string // config.WithPrefix, if any
		want   string // the variable named; "" means NAME
		also   []string
	}{
		// resilience.ClientSettings nests its rate limit and bulkhead under CLIENT_.
		{env: "CLIENT_RATELIMIT_RATE=-1"},
		{env: "CLIENT_RATELIMIT_KEY_BURST=-1"},
		{env: "CLIENT_RATELIMIT_MAX_KEYS=-1"},
		{env: "CLIENT_BULKHEAD_MAX_CONCURRENT=-1"},
		{env: "CLIENT_BULKHEAD_QUEUE_TIMEOUT=-1s"},
		{env: "CLIENT_ATTEMPT_TIMEOUT=3s", also: []string{"exceeds CLIENT_REQUEST_TIMEOUT (2s)"}},
		{env: "RETRY_BASE_DELAY=-1s"},
		{env: "RETRY_BASE_DELAY=1s", also: []string{"must not exceed RETRY_MAX_DELAY (250ms, the default)"}},
		{env: "RETRY_MAX_DELAY=-1s"},
		{env: "RETRY_MAX_ATTEMPTS=11", also: []string{"at most 10", "11 x CLIENT_ATTEMPT_TIMEOUT (500ms)"}},
		{env: "RETRY_BUDGET_RATIO=2"},
		{env: "RETRY_BUDGET_DISABLED=true", also: []string{"with RETRY_MAX_ATTEMPTS > 1"}},
		{env: "BREAKER_FAILURE_RATIO=2"},
		{env: "BREAKER_OPEN_TIMEOUT=-1s"},
		{env: "HTTP_CLIENT_MAX_IDLE_CONNS_PER_HOST=-1"},
		{env: "BALANCER_POLICY=random"},
		{env: "BALANCER_EJECT_MAX=1s", also: []string{"below BALANCER_EJECT_BASE 30s"}},
		// The same structs under an outer prefix: every name in the message gets it.
		{env: "GATEWAY_CLIENT_RATELIMIT_RATE=-1"},
		{env: "GATEWAY_CLIENT_BULKHEAD_MAX_KEYS=-1"},
		{env: "GATEWAY_CLIENT_ATTEMPT_TIMEOUT=3s", also: []string{"exceeds GATEWAY_CLIENT_REQUEST_TIMEOUT (2s)"}},
		{env: "GATEWAY_CLIENT_ATTEMPT_TIMEOUT=1s", want: "GATEWAY_RETRY_MAX_ATTEMPTS", also: []string{"GATEWAY_RETRY_MAX_ATTEMPTS: 3 x GATEWAY_CLIENT_ATTEMPT_TIMEOUT (1s) + backoff up to GATEWAY_RETRY_MAX_DELAY (250ms)", "exceeds GATEWAY_CLIENT_REQUEST_TIMEOUT (2s)"}},
		{env: "GATEWAY_RETRY_MAX_ATTEMPTS=-1"},
		{env: "GATEWAY_RETRY_BUDGET_DISABLED=true", also: []string{"with GATEWAY_RETRY_MAX_ATTEMPTS > 1"}},
		{env: "GATEWAY_BREAKER_WINDOW=-1s"},
		{env: "GATEWAY_HTTP_CLIENT_MAX_IDLE_CONNS=-1"},
		{env: "GATEWAY_BALANCER_MAX_EJECTED_PERCENT=101"},
		// Server side.
		{env: "RATELIMIT_KEY_RATE=-1"},
		{env: "RATELIMIT_BURST=-1"},
		{env: "BULKHEAD_MAX_CONCURRENT=-1"},
		{env: "SHED_SMOOTHING=2"},
		{env: "SHED_MIN_LIMIT=300", also: []string{"must not exceed SHED_MAX_LIMIT (200)"}},
		{env: "SHED_RTT_TOLERANCE=0.5"},
		{env: "DEADLINE_DEFAULT=-1s"},
		{env: "HTTP_ADDR=8080"},
		{env: "HTTP_MAX_BODY_BYTES=-1"},
		{env: "HTTP_READ_HEADER_TIMEOUT=1m", also: []string{"longer than HTTP_READ_TIMEOUT 30s"}},
		{env: "ADMIN_ADDR=9090"},
		{env: "OTEL_EXPORTER_OTLP_PROTOCOL=udp"},
		{env: "OTEL_TRACES_SAMPLER_ARG=2"},
		{env: "LOG_FORMAT=xml"},
		{env: "HEALTH_CHECK_TIMEOUT=-1s"},
		{env: "SHUTDOWN_TIMEOUT=-1s"},
		{env: "SHUTDOWN_DRAIN_DELAY=30s", also: []string{"leaves nothing of SHUTDOWN_TIMEOUT 20s"}},
		// Discovery: the Consul registration and watch, DNS and static lists.
		{env: "DISCOVERY_SERVICE_PORT=70000"},
		{env: "DISCOVERY_CHECK=tcp"},
		{env: "DISCOVERY_DEREGISTER_CRITICAL_AFTER=30s"},
		{env: "DISCOVERY_CONSUL_EMPTY=drop"},
		{env: "DISCOVERY_CONSUL_WAIT=11m"},
		{env: "DISCOVERY_CONSUL_RETRY_MAX=100ms", also: []string{"below DISCOVERY_CONSUL_RETRY_MIN 500ms"}},
		{env: "DISCOVERY_DNS=catalog"},
		{env: "DISCOVERY_DNS_INTERVAL=-1s"},
		{env: "DISCOVERY_STATIC=catalog"},
		// A whole service under an outer prefix (config.WithPrefix).
		{env: "CART_CLIENT_RATELIMIT_RATE=-1", prefix: "CART_"},
		{env: "CART_GATEWAY_CLIENT_ATTEMPT_TIMEOUT=3s", prefix: "CART_", also: []string{"exceeds CART_GATEWAY_CLIENT_REQUEST_TIMEOUT (2s)"}},
		{env: "CART_DISCOVERY_DNS_TIMEOUT=-1s", prefix: "CART_"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			name, value, _ := strings.Cut(tt.env, "=")
			want := cmp.Or(tt.want, name)
			_, err := config.Load[service](config.WithPrefix(tt.prefix), config.WithEnvironment(map[string]string{name: value}))
			var cerr *config.Error
			if !errors.Is(err, config.ErrInvalid) || !errors.As(err, &cerr) {
				t.Fatalf("Load(%s) error = %v, want a *config.Error", tt.env, err)
			}
			for _, p := range cerr.Problems {
				if fe, ok := p.(*config.FieldError); !ok || fe.Var != want {
					t.Errorf("Load(%s) problem %q (%T) does not name %s", tt.env, p, p, want)
				}
			}
			msg := err.Error()
			for _, s := range tt.also {
				if !strings.Contains(msg, s) {
					t.Errorf("Load(%s) error = %q, want it to contain %q", tt.env, msg, s)
				}
			}
		})
	}
}

// TestConstructorsCatchNestedProblems checks that constructors validating settings
// built in code (no Load) report nested problems with their variable names too.
func TestConstructorsCatchNestedProblems(t *testing.T) {
	s := resilience.ClientSettings{RateLimit: resilience.RateLimitSettings{Rate: -1}, Bulkhead: resilience.BulkheadSettings{MaxKeys: -1}}
	_, err := resilience.NewClientStack("x", s, observability.Instrumentation{})
	var cerr *config.Error
	if !errors.Is(err, config.ErrInvalid) || !errors.As(err, &cerr) ||
		!gocmp.Equal(cerr.Vars(), []string{"CLIENT_RATELIMIT_RATE", "CLIENT_BULKHEAD_MAX_KEYS"}) {
		t.Errorf("NewClientStack(bad nested) error = %v, want CLIENT_RATELIMIT_RATE and CLIENT_BULKHEAD_MAX_KEYS named", err)
	}
	_, err = dns.NewResolver(nil, dns.Settings{Targets: "catalog", Timeout: -1})
	if !errors.Is(err, config.ErrInvalid) || !errors.Is(err, dns.ErrInvalidTarget) || !errors.As(err, &cerr) ||
		!gocmp.Equal(cerr.Vars(), []string{"DISCOVERY_DNS", "DISCOVERY_DNS_TIMEOUT"}) {
		t.Errorf("dns.NewResolver(bad) error = %v, want DISCOVERY_DNS and DISCOVERY_DNS_TIMEOUT named", err)
	}
	_, err = consul.NewResolver(nil, consul.WatchSettings{})
	if !errors.Is(err, consul.ErrInvalidWatch) {
		t.Errorf("consul.NewResolver(nil client) error = %v, want ErrInvalidWatch", err)
	}
}
