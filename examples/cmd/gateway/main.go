// Command gateway runs the shop's single entry point: /api/products goes to catalog,
// /api/carts and /api/orders to cart, and, for users with the operator role,
// /api/inventory to catalog and /api/payments to payment, through discovery and the
// resilience client stack, with per-client rate limiting (429 + Retry-After), adaptive load shedding
// (503 + Retry-After; browsing first, checkouts last) and, with GATEWAY_AUTH=oidc,
// OIDC bearer tokens required for carts and orders. It faces the internet, so
// it removes internal Gantry-* headers first (gantry.ServerSettings.Edge). It reads its
// configuration from the environment (see docs/examples-shop.md):
//
//	HTTP_ADDR=:8080 ADMIN_ADDR=:9080 DISCOVERY_STATIC='catalog=http://127.0.0.1:8081;cart=http://127.0.0.1:8082' \
//	go run ./cmd/gateway
//
// With -healthcheck it probes its own /readyz on ADMIN_ADDR and exits 0 or 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/examples/gateway"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// Config is the gateway's whole configuration, loaded from the environment.
type Config struct {
	platform.Settings
	Upstreams gateway.Upstreams            // GATEWAY_CATALOG_URL, GATEWAY_CART_URL, GATEWAY_PAYMENT_URL
	Auth      gateway.AuthSettings         // GATEWAY_AUTH, AUTH_*
	Client    gantry.ClientSettings        // HTTP_CLIENT_*, RETRY_*, BREAKER_*, CLIENT_*, BALANCER_*
	RateLimit resilience.RateLimitSettings // RATELIMIT_* (per client IP: RATELIMIT_KEY_RATE, RATELIMIT_KEY_BURST)
	Limits    gateway.LimitSettings        // GATEWAY_USER_*, GATEWAY_CHECKOUT_* (per user, per route)
	Conns     transport.ConnLimitSettings  // HTTP_MAX_CONNS, HTTP_MAX_CONNS_PER_CLIENT
	Shed      resilience.ShedSettings      // SHED_*
	// ShedDisabled turns off adaptive load shedding of the API.
	ShedDisabled bool `env:"SHED_DISABLED" envDefault:"false" desc:"Turn off adaptive load shedding of the API."`
	// TrustedProxies lists the CIDRs of the proxies in front of the gateway (an
	// ingress, a load balancer) whose X-Forwarded-For names the client; empty means the
	// peer address is the client.
	TrustedProxies []string `env:"GATEWAY_TRUSTED_PROXIES" envSeparator:"," desc:"CIDRs of the proxies in front of the gateway whose X-Forwarded-For names the client."`
}

// Validate reports a GATEWAY_TRUSTED_PROXIES entry that is not a CIDR.
func (c Config) Validate() error {
	_, err := trustedProxies(c.TrustedProxies)
	return err
}

func trustedProxies(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, config.Invalid("GATEWAY_TRUSTED_PROXIES", "%q is not a CIDR such as 10.0.0.0/8", c)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// defaults give every client IP 100 requests per second with bursts of 200, and ask
// a client rejected more than 10 times in a row to close its connection.
var defaults = map[string]string{
	"HTTP_ADDR": ":8080", "ADMIN_ADDR": ":9080", "OTEL_SERVICE_NAME": "gateway",
	"RATELIMIT_KEY_RATE": "100", "RATELIMIT_KEY_BURST": "200", "RATELIMIT_CLOSE_AFTER": "10",
	// The edge holds idle connections 30s at most, 64 per client and 4096 in all.
	"HTTP_IDLE_TIMEOUT": "30s", "HTTP_MAX_CONNS": "4096", "HTTP_MAX_CONNS_PER_CLIENT": "64",
	// A checkout is a saga of several upstream calls: give each attempt 3s.
	"CLIENT_ATTEMPT_TIMEOUT": "3s", "CLIENT_REQUEST_TIMEOUT": "10s",
}

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe this service's /readyz on ADMIN_ADDR and exit 0 if ready")
	flag.Parse()
	ctx := context.Background()
	env := platform.Environ(defaults)
	if *healthcheck {
		if err := platform.Healthcheck(ctx, env["ADMIN_ADDR"]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, env); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// run loads the configuration from env, builds the service and serves until a
// signal or ctx ends it.
func run(ctx context.Context, env map[string]string) error {
	// Config: one error names every bad variable.
	cfg, err := config.Load[Config](config.WithEnvironment(env))
	if err != nil {
		return err
	}
	logger, err := platform.NewLogger(os.Stderr, "gateway", cfg.Settings)
	if err != nil {
		return err
	}
	tel, err := observability.NewTelemetry(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	inst := tel.Instrumentation(logger)

	// Construct: discovery, the upstream client, the proxy.
	consulClient, err := platform.ConsulClient(cfg.Discovery)
	if err != nil {
		return err
	}
	resolver, watch, err := platform.NewResolver(consulClient, []string{"catalog", "cart", "payment"}, cfg.Discovery, inst)
	if err != nil {
		return err
	}
	cfg.Client.Resilience.BreakerKey = gateway.BreakerKey // one breaker per upstream route
	// Identity: mTLS to catalog, cart and payment (TLS_MODE off: plain HTTP). The public
	// listener stays plain HTTP, for an ingress or load balancer to terminate TLS.
	ident, err := platform.NewIdentity(ctx, "gateway", cfg.Settings, consulClient, inst)
	if err != nil {
		return err
	}
	cfg.Client.Identity = ident.Source
	client, err := gantry.NewClient("gateway", resolver, cfg.Client, inst)
	if err != nil {
		return err
	}
	defer client.Close()
	api, err := gateway.NewHandler(client.HTTP.Transport, cfg.Upstreams, logger)
	if err != nil {
		return err
	}
	trusted, err := trustedProxies(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	clientKey := resilience.KeyByForwardedClient(trusted)
	limiter := resilience.NewRateLimiter("gateway-clients", cfg.RateLimit, clientKey, inst)
	// Per user once authenticated, and checkouts stricter than browsing.
	limits, err := gateway.NewLimits(cfg.Limits, clientKey, inst)
	if err != nil {
		return err
	}
	// Users: GATEWAY_AUTH=oidc verifies bearer tokens of the AUTH_ISSUER provider
	// (read at start: an unreachable provider is a start-up error), off leaves every
	// route open. Inside the rate limit, so floods of bad tokens are limited too.
	cfg.Auth.OIDC.Logger = logger
	authn, verifier, err := gateway.NewAuthenticator(ctx, cfg.Auth, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}

	// Resilience: adaptive load shedding of the API (the admin server is never shed),
	// inside the per-client limit; checkouts are shed last, browsing first.
	var criticality, shed func(http.Handler) http.Handler
	inspect := []resilience.Inspectable{client, limiter, limits}
	if !cfg.ShedDisabled {
		s := resilience.NewShedder("gateway", cfg.Shed, inst)
		criticality, shed = gateway.Criticality(), s.Server()
		inspect = append(inspect, s)
	}

	// Wire: the public API server (edge), the admin server, registration.
	cfg.Server.Edge = true
	server, err := gantry.NewServer(api, cfg.Server, inst, limiter.Server(), criticality, shed, authn, limits.Server())
	if err != nil {
		return err
	}
	checks := health.NewRegistry(cfg.Health)
	admin, err := gantry.NewAdmin(cfg.Admin, gantry.Admin{Name: "gateway", Health: checks, Metrics: tel.MetricsHandler(), Debug: map[string]http.Handler{
		"discovery":  discovery.DebugHandler(resolver, client.Router),
		"resilience": resilience.DebugHandler(inspect...),
	}}, inst)
	if err != nil {
		return err
	}
	registrar, err := platform.NewRegistrar(consulClient, checks, "gateway", cfg.Settings, inst)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Server.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	cfg.Conns.MeterProvider = tel.MeterProvider()

	// Run until SIGTERM, then shut down in order.
	return gantry.Run(ctx, gantry.Options{
		Logger:     logger,
		Servers:    []gantry.Server{{Server: server, Listener: transport.LimitListener(ln, cfg.Conns)}, {Server: admin}},
		Registrars: []gantry.Runner{registrar},
		Components: []any{checks, watch, ident.Reload, verifier, tel},
		Settings:   cfg.Shutdown,
	})
}
