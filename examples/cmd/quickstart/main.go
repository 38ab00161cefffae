// Command quickstart is the README's quick start: a real service with env config, JSON
// logs with trace ids, OTel tracing and metrics, health probes on an admin port and an
// ordered shutdown.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/transport"
)

type Config struct {
	Server    gantry.ServerSettings // HTTP_ADDR, HTTP_*, DEADLINE_*
	Admin     gantry.AdminSettings  // ADMIN_ADDR
	Log       observability.LogSettings
	Telemetry observability.TelemetrySettings
	Shutdown  gantry.Settings
}

func run(ctx context.Context) error {
	cfg, err := config.Load[Config]() // one error naming every bad variable
	if err != nil {
		return err
	}
	log, err := observability.NewLogger(os.Stderr, cfg.Log)
	if err != nil {
		return err
	}
	tel, err := observability.NewTelemetry(ctx, cfg.Telemetry)
	if err != nil {
		return err
	}
	inst := tel.Instrumentation(log)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		transport.WriteJSON(w, http.StatusOK, map[string]string{"hello": r.PathValue("name")})
	})
	if err := transport.HandleUnmatched(mux); err != nil { // 404 and 405 as problem+json too
		return err
	}
	api, err := gantry.NewServer(mux, cfg.Server, inst) // recover, request id, tracing, access log, ...
	if err != nil {
		return err
	}
	checks := health.NewRegistry(health.Settings{})
	admin, err := gantry.NewAdmin(cfg.Admin, gantry.Admin{Name: "quickstart", Health: checks, Metrics: tel.MetricsHandler()}, inst)
	if err != nil {
		return err
	}

	return gantry.Run(ctx, gantry.Options{
		Logger:     log,
		Servers:    []gantry.Server{{Server: api}, {Server: admin}},
		Components: []any{checks, tel}, // /readyz turns 503 first on SIGTERM; telemetry flushes last
		Settings:   cfg.Shutdown,
	})
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}
