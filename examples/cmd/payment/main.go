// Command payment serves the example shop's simulated card processor (package
// payment) on HTTP_ADDR (default :8083), keeping its ledger in DATA_DIR/payment.db.
// Its probes, metrics and debug pages are on ADMIN_ADDR (default :9083).
// Replicas share one ledger by sharing DATA_DIR on one host (see package payment).
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
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/examples/payment"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Config is everything payment reads from the environment.
type Config struct {
	platform.Settings
	Processor payment.ProcessorSettings // PAYMENT_PROCESSOR_LATENCY, PAYMENT_PROCESSOR_FAILURE_RATE
	Payment   payment.Settings          // PAYMENT_IDEMPOTENCY_LEASE
	Store     payment.StoreSettings     // DATABASE_URL (or DATABASE_URL_FILE): PostgreSQL; unset, SQLite in DATA_DIR
	Shed      resilience.ShedSettings   // SHED_*
	// ShedDisabled turns off adaptive load shedding of the API.
	ShedDisabled bool `env:"SHED_DISABLED" envDefault:"false" desc:"Turn off adaptive load shedding of the API."`
}

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe /readyz on ADMIN_ADDR and exit 0 if ready, 1 if not")
	flag.Parse()
	env := platform.Environ(map[string]string{"HTTP_ADDR": ":8083", "ADMIN_ADDR": ":9083", "OTEL_SERVICE_NAME": "payment"})
	if *healthcheck {
		if err := platform.Healthcheck(context.Background(), env["ADMIN_ADDR"]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), env); err != nil {
		fmt.Fprintln(os.Stderr, "payment:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, env map[string]string) error {
	// Config: one error naming every bad variable.
	cfg, err := config.Load[Config](config.WithEnvironment(env))
	if err != nil {
		return err
	}
	logger, err := platform.NewLogger(os.Stderr, "payment", cfg.Settings)
	if err != nil {
		return err
	}
	tel, err := observability.NewTelemetry(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	inst := tel.Instrumentation(logger)

	// Construct: ledger, simulated processor, service, HTTP API.
	ledger, err := payment.OpenStore(ctx, cfg.Store.DatabaseURL, filepath.Join(cfg.DataDir, "payment.db"), cfg.SQLite)
	if err != nil {
		return err
	}
	defer ledger.Close()
	processor := payment.NewSimulatedProcessor(cfg.Processor, nil)
	api := payment.NewHTTPHandler(payment.NewService(ledger.Repository, processor, cfg.Payment), logger)

	// Resilience: adaptive load shedding of the API (the admin server is never shed).
	var shed func(http.Handler) http.Handler
	var policies []resilience.Inspectable
	if !cfg.ShedDisabled {
		s := resilience.NewShedder("payment", cfg.Shed, inst)
		shed = s.Server()
		policies = append(policies, s)
	}

	// Wire: API server, admin server, discovery.
	// Identity: mTLS with the callers payment.Callers allows (TLS_MODE off: plain HTTP).
	consul, err := platform.ConsulClient(cfg.Discovery)
	if err != nil {
		return err
	}
	ident, err := platform.NewIdentity(ctx, "payment", cfg.Settings, consul, inst)
	if err != nil {
		return err
	}
	routes, unlisted := payment.Callers()
	authz, err := ident.Authorize(api, routes, unlisted, payment.EdgeRoles(), inst)
	if err != nil {
		return err
	}
	cfg.Server.Identity = ident.Source
	server, err := gantry.NewServer(api, cfg.Server, inst, authz, shed)
	if err != nil {
		return err
	}
	checks := health.NewRegistry(cfg.Health, ledger.Check)
	registrar, err := platform.NewRegistrar(consul, checks, "payment", cfg.Settings, inst)
	if err != nil {
		return err
	}
	admin, err := gantry.NewAdmin(cfg.Admin, gantry.Admin{Name: "payment", Health: checks, Metrics: tel.MetricsHandler(), Debug: map[string]http.Handler{
		"resilience": resilience.DebugHandler(policies...),
	}}, inst)
	if err != nil {
		return err
	}

	// Run until SIGTERM, then shut down in order.
	dump, _ := config.Describe(cfg)
	logger.Info("payment starting", "version", version, "config", dump)
	return gantry.Run(ctx, gantry.Options{
		Logger:     logger,
		Servers:    []gantry.Server{{Server: server}, {Server: admin}},
		Registrars: []gantry.Runner{registrar},
		Components: []any{checks, ident.Reload, tel},
		Settings:   cfg.Shutdown,
	})
}
