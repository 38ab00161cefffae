// Command catalog serves the example shop's product catalog and stock (package
// catalog) on HTTP_ADDR (default :8081), keeping its data in DATA_DIR/catalog.db.
//
// Run with -healthcheck to probe a running instance's /readyz instead: exit status 0
// when ready, 1 otherwise (the container health check of a FROM-scratch image).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Config is everything catalog reads from the environment.
type Config struct {
	platform.Settings
	Shed         resilience.ShedSettings // SHED_*
	ShedDisabled bool                    `env:"SHED_DISABLED" envDefault:"false" desc:"Turn off adaptive load shedding of the API."`
}

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe /readyz on HTTP_ADDR and exit 0 if ready, 1 if not")
	flag.Parse()
	env := platform.Environ(map[string]string{"HTTP_ADDR": ":8081", "OTEL_SERVICE_NAME": "catalog"})
	if *healthcheck {
		if err := platform.Healthcheck(context.Background(), env["HTTP_ADDR"]); err != nil {
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

	// Construct: database, store, service, HTTP API.
	db, err := platform.OpenDB(ctx, cfg.Settings, "catalog.db")
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := catalog.NewStore(ctx, db)
	if err != nil {
		return err
	}
	api := catalog.NewHTTPHandler(catalog.NewService(store), logger)

	// Resilience: adaptive load shedding of the API (never of the health probes).
	var policies []resilience.Inspectable
	if !cfg.ShedDisabled {
		shed := resilience.NewShedder("catalog", cfg.Shed, observability.Instrumentation{Logger: logger, MeterProvider: tel.MeterProvider()})
		api = shed.Server()(api)
		policies = append(policies, shed)
	}

	// Wire: health, discovery, operational endpoints, middleware, server.
	checks := health.NewRegistry(cfg.Health, platform.DBCheck(db))
	consul, err := platform.ConsulClient(cfg.Discovery)
	if err != nil {
		return err
	}
	registrar, err := platform.NewRegistrar(consul, checks, "catalog", cfg.HTTP.Addr, cfg.Discovery, logger)
	if err != nil {
		return err
	}
	resolver, watch, err := platform.NewResolver(consul, nil, cfg.Discovery, tel.MeterProvider(), logger)
	if err != nil {
		return err
	}
	mux := platform.Mount(api, platform.Ops{
		Health:     checks,
		Metrics:    tel.MetricsHandler(),
		Discovery:  discovery.DebugHandler(resolver, nil),
		Resilience: resilience.DebugHandler(policies...),
	})
	server := transport.NewServer(platform.ServerChain(logger, tel.Instrumentation(nil), cfg.Settings)(mux), cfg.HTTP)

	// Run until SIGTERM, then shut down in order.
	opts := gantry.Options{
		Logger:     logger,
		Servers:    []gantry.Server{{Server: server}},
		Drainers:   []gantry.Drainer{checks},
		Background: []gantry.Runner{checks},
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
	dump, _ := config.Describe(cfg)
	logger.Info("catalog starting", "version", version, "config", dump)
	return gantry.Run(ctx, opts)
}
