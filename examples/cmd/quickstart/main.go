// Command quickstart is the README's quick start: a real service with env config, JSON
// logs with trace ids, OTel tracing and metrics, health probes and an ordered shutdown.
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
	HTTP      transport.ServerSettings
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
	checks := health.NewRegistry(health.Settings{})

	mux := http.NewServeMux()
	checks.Mount(mux) // /livez /readyz /startupz
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		transport.WriteJSON(w, http.StatusOK, map[string]string{"hello": r.PathValue("name")})
	})
	if err := transport.HandleUnmatched(mux); err != nil { // 404 and 405 as problem+json too
		return err
	}
	handler := transport.Chain(transport.Recover(log), transport.RequestID(), // first = outermost
		observability.Server(tel.Instrumentation(nil)), transport.AccessLog(log),
		transport.BodyLimit(cfg.HTTP.BodyLimit()), transport.Deadline())(mux)

	return gantry.Run(ctx, gantry.Options{
		Logger:     log,
		Servers:    []gantry.Server{{Server: transport.NewServer(handler, cfg.HTTP)}},
		Drainers:   []gantry.Drainer{checks}, // /readyz turns 503 first on SIGTERM
		Background: []gantry.Runner{checks},
		Telemetry:  []gantry.Shutdowner{tel},
		Settings:   cfg.Shutdown,
	})
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}
