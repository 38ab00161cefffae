// Command gateway runs the shop's single entry point: /api/products goes to catalog,
// /api/carts and /api/orders to cart, through discovery and the resilience client
// stack, with per-client rate limiting (429 + Retry-After). It reads its
// configuration from the environment (see docs/examples-shop.md):
//
//	HTTP_ADDR=:8080 DISCOVERY_STATIC='catalog=http://127.0.0.1:8081;cart=http://127.0.0.1:8082' \
//	go run ./cmd/gateway
//
// With -healthcheck it probes its own /readyz and exits 0 or 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/examples/gateway"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/examples/internal/upstream"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// Config is the gateway's whole configuration, loaded from the environment.
type Config struct {
	platform.Settings
	Upstreams gateway.Upstreams            // GATEWAY_CATALOG_URL, GATEWAY_CART_URL
	Upstream  upstream.Settings            // HTTP_CLIENT_*, RETRY_*, BREAKER_*, CLIENT_*, BALANCER_*
	RateLimit resilience.RateLimitSettings // RATELIMIT_* (per client IP: RATELIMIT_KEY_RATE, RATELIMIT_KEY_BURST)
}

// defaults give every client IP 100 requests per second with bursts of 200.
var defaults = map[string]string{
	"HTTP_ADDR": ":8080", "OTEL_SERVICE_NAME": "gateway",
	"RATELIMIT_KEY_RATE": "100", "RATELIMIT_KEY_BURST": "200",
	// A checkout is a saga of several upstream calls: give each attempt 3s.
	"CLIENT_ATTEMPT_TIMEOUT": "3s", "CLIENT_REQUEST_TIMEOUT": "10s",
}

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe this service's /readyz and exit 0 if ready")
	flag.Parse()
	ctx := context.Background()
	env := platform.Environ(defaults)
	if *healthcheck {
		cfg, err := config.Load[Config](config.WithEnvironment(env))
		if err == nil {
			err = platform.Healthcheck(ctx, cfg.HTTP.Addr)
		}
		if err != nil {
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

	consulClient, err := platform.ConsulClient(cfg.Discovery)
	if err != nil {
		return err
	}
	resolver, watch, err := platform.NewResolver(consulClient, []string{"catalog", "cart"}, cfg.Discovery, tel.MeterProvider(), logger)
	if err != nil {
		return err
	}
	cfg.Upstream.BreakerKey = gateway.BreakerKey // one breaker per upstream route
	stack, err := upstream.New("gateway", cfg.Upstream, resolver, tel.Instrumentation(nil), logger)
	if err != nil {
		return err
	}
	defer stack.Close()
	api, err := gateway.NewHandler(stack.Client.Transport, cfg.Upstreams, logger)
	if err != nil {
		return err
	}
	limiter := resilience.NewRateLimiter("gateway-clients", cfg.RateLimit, resilience.KeyByClientIP,
		observability.Instrumentation{Logger: logger, MeterProvider: tel.MeterProvider()})

	hreg := health.NewRegistry(cfg.Health)
	mux := platform.Mount(api, platform.Ops{
		Health:     hreg,
		Metrics:    tel.MetricsHandler(),
		Discovery:  discovery.DebugHandler(resolver, stack.Discovery),
		Resilience: resilience.DebugHandler(stack, limiter),
	})
	srv := transport.NewServer(platform.ServerChain(logger, tel.Instrumentation(nil), cfg.Settings, limiter.Server(), resilience.MarkRetryExhausted())(mux), cfg.HTTP)
	registrar, err := platform.NewRegistrar(consulClient, hreg, "gateway", cfg.HTTP.Addr, cfg.Discovery, logger)
	if err != nil {
		return err
	}

	opts := gantry.Options{
		Logger:     logger,
		Servers:    []gantry.Server{{Server: srv}},
		Drainers:   []gantry.Drainer{hreg},
		Background: []gantry.Runner{hreg},
		Telemetry:  []gantry.Shutdowner{tel},
		Settings:   cfg.Shutdown,
	}
	if registrar != nil {
		opts.Drainers = append(opts.Drainers, registrar)
		opts.Registrars = append(opts.Registrars, registrar)
	}
	if watch != nil {
		opts.Background = append(opts.Background, watch)
	}
	return gantry.Run(ctx, opts)
}
