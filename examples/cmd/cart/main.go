// Command cart runs the shop's cart service: carts, and the checkout saga that
// reserves stock at catalog, charges at payment and confirms, compensating on failure.
// It reads its configuration from the environment (see docs/examples-shop.md):
//
//	HTTP_ADDR=:8082 ADMIN_ADDR=:9082 DATA_DIR=data \
//	DISCOVERY_STATIC='catalog=http://127.0.0.1:8081;payment=http://127.0.0.1:8083' \
//	go run ./cmd/cart
//
// With -healthcheck it probes its own /readyz on ADMIN_ADDR and exits 0 or 1 (for FROM-scratch
// container health checks).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
)

// Config is the cart's whole configuration, loaded from the environment.
type Config struct {
	platform.Settings
	Cart     cart.Settings         // CART_RETRY_AFTER, CART_CANCEL_AFTER
	Recovery cart.RecoverySettings // CART_RECOVERY_*
	Store    cart.StoreSettings    // DATABASE_URL (or DATABASE_URL_FILE): PostgreSQL, replicas allowed; unset, SQLite in DATA_DIR
	Client   gantry.ClientSettings // HTTP_CLIENT_*, RETRY_*, BREAKER_*, CLIENT_*, BALANCER_*
	Shed     resilience.ShedSettings
	// ShedDisabled turns off adaptive load shedding of the API.
	ShedDisabled bool `env:"SHED_DISABLED" envDefault:"false" desc:"Turn off adaptive load shedding of the API."`
	// CatalogURL and PaymentURL name the upstreams; the host is a discovery name.
	CatalogURL string `env:"CART_CATALOG_URL" envDefault:"http://catalog" desc:"Base URL of the catalog service (host = discovery name)."`
	PaymentURL string `env:"CART_PAYMENT_URL" envDefault:"http://payment" desc:"Base URL of the payment service (host = discovery name)."`
}

var defaults = map[string]string{"HTTP_ADDR": ":8082", "ADMIN_ADDR": ":9082", "OTEL_SERVICE_NAME": "cart"}

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
	inst := tel.Instrumentation(logger)

	// Construct: store, upstream client, domain.
	store, err := cart.OpenStore(ctx, cfg.Store.DatabaseURL, filepath.Join(cfg.DataDir, "cart.db"), cfg.SQLite, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	consulClient, err := platform.ConsulClient(cfg.Discovery)
	if err != nil {
		return err
	}
	resolver, watch, err := platform.NewResolver(consulClient, []string{"catalog", "payment"}, cfg.Discovery, inst)
	if err != nil {
		return err
	}
	// Identity: mTLS to catalog and payment, and from the gateway (TLS_MODE off: plain HTTP).
	ident, err := platform.NewIdentity(ctx, "cart", cfg.Settings, consulClient, inst)
	if err != nil {
		return err
	}
	cfg.Client.Identity, cfg.Server.Identity = ident.Source, ident.Source
	client, err := gantry.NewClient("cart", resolver, cfg.Client, inst)
	if err != nil {
		return err
	}
	defer client.Close()
	cfg.Cart.MeterProvider = tel.MeterProvider() // cart.checkouts, cart.orders on /metrics
	shop := cart.NewShop(store.Repository, cart.NewCatalogClient(client.HTTP, cfg.CatalogURL), cart.NewPaymentClient(client.HTTP, cfg.PaymentURL), cfg.Cart)
	recoverer := cart.NewRecoverer(shop, cfg.Recovery, logger)

	// Resilience: adaptive load shedding of the API (the admin server is never shed).
	var shed func(http.Handler) http.Handler
	policies := []resilience.Inspectable{client}
	if !cfg.ShedDisabled {
		s := resilience.NewShedder("cart", cfg.Shed, inst)
		shed = s.Server()
		policies = append(policies, s)
	}

	// Wire: API server, admin server, registration.
	api := cart.NewHTTPHandler(cart.MakeEndpoints(shop), logger)
	routes, unlisted := cart.Callers()
	authz, err := ident.Authorize(api, routes, unlisted, nil, inst)
	if err != nil {
		return err
	}
	server, err := gantry.NewServer(api, cfg.Server, inst, authz, shed)
	if err != nil {
		return err
	}
	checks := health.NewRegistry(cfg.Health, store.Check)
	admin, err := gantry.NewAdmin(cfg.Admin, gantry.Admin{Name: "cart", Health: checks, Metrics: tel.MetricsHandler(), Debug: map[string]http.Handler{
		"discovery":  discovery.DebugHandler(resolver, client.Router),
		"resilience": resilience.DebugHandler(policies...),
	}}, inst)
	if err != nil {
		return err
	}
	registrar, err := platform.NewRegistrar(consulClient, checks, "cart", cfg.Settings, inst)
	if err != nil {
		return err
	}

	// Run until SIGTERM/SIGINT, then shut down in order.
	return gantry.Run(ctx, gantry.Options{
		Logger:     logger,
		Servers:    []gantry.Server{{Server: server}, {Server: admin}},
		Registrars: []gantry.Runner{registrar},
		Components: []any{checks, recoverer, watch, ident.Reload, tel},
		Settings:   cfg.Shutdown,
	})
}
