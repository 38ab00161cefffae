// Command cart runs the shop's cart service: carts, and the checkout saga that
// reserves stock at catalog, charges at payment and confirms, compensating on failure.
// It reads its configuration from the environment (see docs/examples-shop.md):
//
//	HTTP_ADDR=:8082 DATA_DIR=data \
//	DISCOVERY_STATIC='catalog=http://127.0.0.1:8081;payment=http://127.0.0.1:8083' \
//	go run ./cmd/cart
//
// With -healthcheck it probes its own /readyz and exits 0 or 1 (for FROM-scratch
// container health checks).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/examples/internal/upstream"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// Config is the cart's whole configuration, loaded from the environment.
type Config struct {
	platform.Settings
	Cart     cart.Settings         // CART_RETRY_AFTER, CART_CANCEL_AFTER
	Recovery cart.RecoverySettings // CART_RECOVERY_*
	Upstream upstream.Settings     // HTTP_CLIENT_*, RETRY_*, BREAKER_*, CLIENT_*, BALANCER_*
	// CatalogURL and PaymentURL name the upstreams; the host is a discovery name.
	CatalogURL string `env:"CART_CATALOG_URL" envDefault:"http://catalog" desc:"Base URL of the catalog service (host = discovery name)."`
	PaymentURL string `env:"CART_PAYMENT_URL" envDefault:"http://payment" desc:"Base URL of the payment service (host = discovery name)."`
}

var defaults = map[string]string{"HTTP_ADDR": ":8082", "OTEL_SERVICE_NAME": "cart"}

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
		fmt.Fprintln(os.Stderr, "cart:", err)
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
	logger, err := platform.NewLogger(os.Stderr, "cart", cfg.Settings)
	if err != nil {
		return err
	}
	tel, err := observability.NewTelemetry(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}

	// Construct: store, upstream client, domain.
	db, err := platform.OpenDB(ctx, cfg.Settings, "cart.db")
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := cart.NewStore(ctx, db, nil)
	if err != nil {
		return err
	}
	consulClient, err := platform.ConsulClient(cfg.Discovery)
	if err != nil {
		return err
	}
	resolver, watch, err := platform.NewResolver(consulClient, []string{"catalog", "payment"}, cfg.Discovery, tel.MeterProvider(), logger)
	if err != nil {
		return err
	}
	stack, err := upstream.New("cart", cfg.Upstream, resolver, tel.Instrumentation(nil), logger)
	if err != nil {
		return err
	}
	defer stack.Close()
	cfg.Cart.MeterProvider = tel.MeterProvider() // cart.checkouts, cart.orders on /metrics
	shop := cart.NewShop(store, cart.NewCatalogClient(stack.Client, cfg.CatalogURL), cart.NewPaymentClient(stack.Client, cfg.PaymentURL), cfg.Cart)
	recoverer := cart.NewRecoverer(shop, cfg.Recovery, logger)

	// Wire: health, API + operational endpoints, server middleware, registration.
	hreg := health.NewRegistry(cfg.Health, platform.DBCheck(db))
	mux := platform.Mount(cart.NewHTTPHandler(cart.MakeEndpoints(shop), logger), platform.Ops{
		Health:     hreg,
		Metrics:    tel.MetricsHandler(),
		Discovery:  discovery.DebugHandler(resolver, stack.Discovery),
		Resilience: resilience.DebugHandler(stack),
	})
	srv := transport.NewServer(platform.ServerChain(logger, tel.Instrumentation(nil), cfg.Settings, resilience.MarkRetryExhausted())(mux), cfg.HTTP)
	registrar, err := platform.NewRegistrar(consulClient, hreg, "cart", cfg.HTTP.Addr, cfg.Discovery, logger)
	if err != nil {
		return err
	}

	// Run until SIGTERM/SIGINT, then shut down in order.
	opts := gantry.Options{
		Logger:     logger,
		Servers:    []gantry.Server{{Server: srv}},
		Drainers:   []gantry.Drainer{hreg},
		Background: []gantry.Runner{hreg, recoverer},
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
