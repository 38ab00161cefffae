// Command catalog serves the example shop's product catalog and stock (package
// catalog) on HTTP_ADDR (default :8081), keeping its data in DATA_DIR/catalog.db, or
// in PostgreSQL when DATABASE_URL is set (then several replicas may share it). Its
// probes, metrics and debug pages are on ADMIN_ADDR (default :9081).
//
// Run with -healthcheck to probe a running instance's /readyz instead: exit status 0
// when ready, 1 otherwise (the container health check of a FROM-scratch image).
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
	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Config is everything catalog reads from the environment.
type Config struct {
	platform.Settings
	Catalog      catalog.Settings        // CATALOG_HOLD_TTL, CATALOG_HOLD_SWEEP_INTERVAL
	Store        catalog.StoreSettings   // DATABASE_URL (or DATABASE_URL_FILE): PostgreSQL; unset, SQLite in DATA_DIR
	Shed         resilience.ShedSettings // SHED_*
	ShedDisabled bool                    `env:"SHED_DISABLED" envDefault:"false" desc:"Turn off adaptive load shedding of the API."`
}

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe /readyz on ADMIN_ADDR and exit 0 if ready, 1 if not")
	flag.Parse()
	env := platform.Environ(map[string]string{"HTTP_ADDR": ":8081", "ADMIN_ADDR": ":9081", "OTEL_SERVICE_NAME": "catalog"})
	if *healthcheck {
		if err := platform.Healthcheck(context.Background(), env["ADMIN_ADDR"]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), env); err != nil {
		fmt.Fprintln(os.Stderr, "catalog:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, env map[string]string) error {
	// Config: one error naming every bad variable.
	cfg, err := config.Load[Config](config.WithEnvironment(env))
	if err != nil {
		return err
	}
	logger, err := platform.NewLogger(os.Stderr, "catalog", cfg.Settings)
	if err != nil {
		return err
	}
	tel, err := observability.NewTelemetry(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	inst := tel.Instrumentation(logger)

	// Construct: database, store, service, HTTP API.
	store, err := catalog.OpenStore(ctx, cfg.Store.DatabaseURL, filepath.Join(cfg.DataDir, "catalog.db"), cfg.SQLite)
	if err != nil {
		return err
	}
	defer store.Close()
	api := catalog.NewHTTPHandler(catalog.NewServiceWith(store.Repository, cfg.Catalog), logger)
	sweeper := catalog.NewSweeper(store.Repository, cfg.Catalog, logger) // expired holds back on sale

	// Resilience: adaptive load shedding of the API (the admin server is never shed).
	var shed func(http.Handler) http.Handler
	var policies []resilience.Inspectable
	if !cfg.ShedDisabled {
		s := resilience.NewShedder("catalog", cfg.Shed, inst)
		shed = s.Server()
		policies = append(policies, s)
	}

	// Wire: API server, admin server, discovery.
	// Identity: mTLS with the callers catalog.Callers allows (TLS_MODE off: plain HTTP).
	consul, err := platform.ConsulClient(cfg.Discovery)
	if err != nil {
		return err
	}
	ident, err := platform.NewIdentity(ctx, "catalog", cfg.Settings, consul, inst)
	if err != nil {
		return err
	}
	routes, unlisted := catalog.Callers()
	authz, err := ident.Authorize(api, routes, unlisted, catalog.EdgeRoles(), inst)
	if err != nil {
		return err
	}
	cfg.Server.Identity = ident.Source
	server, err := gantry.NewServer(api, cfg.Server, inst, authz, shed)
	if err != nil {
		return err
	}
	checks := health.NewRegistry(cfg.Health, store.Check)
	registrar, err := platform.NewRegistrar(consul, checks, "catalog", cfg.Settings, inst)
	if err != nil {
		return err
	}
	admin, err := gantry.NewAdmin(cfg.Admin, gantry.Admin{Name: "catalog", Health: checks, Metrics: tel.MetricsHandler(), Debug: map[string]http.Handler{
		"resilience": resilience.DebugHandler(policies...),
	}}, inst)
	if err != nil {
		return err
	}

	// Run until SIGTERM, then shut down in order.
	dump, _ := config.Describe(cfg)
	logger.Info("catalog starting", "version", version, "config", dump)
	return gantry.Run(ctx, gantry.Options{
		Logger:     logger,
		Servers:    []gantry.Server{{Server: server}, {Server: admin}},
		Registrars: []gantry.Runner{registrar},
		Components: []any{checks, sweeper, ident.Reload, tel},
		Settings:   cfg.Shutdown,
	})
}
