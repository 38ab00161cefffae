// Command starter is a whole Gantry service in one file, to copy as the start of your
// own: configuration from the environment, a public API with a per-client rate limit,
// a client that calls a peer through discovery with retries and a breaker, tracing
// and metrics, health probes and metrics on an admin port, registration in Consul
// (or a static peer list), and a shutdown that drops no request.
//
//	HTTP_ADDR=:8080 ADMIN_ADDR=:9090 DISCOVERY_STATIC='peer=http://127.0.0.1:8081' go run .
//
// GET /hello/{name} answers locally; GET /peer/{name} asks the peer's /hello/{name}.
// With CONSUL_HTTP_ADDR set it registers as DISCOVERY_SERVICE_NAME (default
// "starter") and finds its peer (STARTER_PEER, default "peer") in Consul.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// Config is everything the service reads from the environment.
type Config struct {
	Server    gantry.ServerSettings           // HTTP_ADDR, HTTP_*, DEADLINE_*
	Admin     gantry.AdminSettings            // ADMIN_ADDR
	Client    gantry.ClientSettings           // RETRY_*, BREAKER_*, CLIENT_*, BALANCER_*
	RateLimit resilience.RateLimitSettings    // RATELIMIT_KEY_RATE, RATELIMIT_KEY_BURST
	Log       observability.LogSettings       // LOG_*
	Telemetry observability.TelemetrySettings // OTEL_*
	Health    health.Settings                 // HEALTH_*
	Shutdown  gantry.Settings                 // SHUTDOWN_*
	Register  consul.Registration             // DISCOVERY_SERVICE_*, DISCOVERY_CHECK*
	Static    discovery.StaticSettings        // DISCOVERY_STATIC, without Consul
	Consul    string                          `env:"CONSUL_HTTP_ADDR" desc:"Consul agent address; empty: DISCOVERY_STATIC."`
	Peer      string                          `env:"STARTER_PEER" envDefault:"peer" desc:"Service name of the peer."`
}

func run(ctx context.Context) error {
	cfg, err := config.Load[Config]() // one error naming every bad variable
	if err != nil {
		return err
	}
	if cfg.RateLimit == (resilience.RateLimitSettings{}) {
		cfg.RateLimit = resilience.RateLimitSettings{KeyRate: 50, KeyBurst: 100} // per client IP
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
	checks := health.NewRegistry(cfg.Health)
	opts := gantry.Options{Logger: log, Components: []any{checks, tel}, Settings: cfg.Shutdown}

	// Discovery: register in Consul and watch the peer there, or list it statically.
	var peers discovery.Resolver
	if cfg.Consul != "" {
		c, err := api.NewClient(api.DefaultConfig()) // CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN(_FILE)
		if err != nil {
			return err
		}
		if cfg.Register.Name == "" {
			cfg.Register.Name = "starter"
		}
		if _, port, err := net.SplitHostPort(cfg.Server.HTTP.Addr); err == nil && cfg.Register.Port == 0 {
			cfg.Register.Port, _ = strconv.Atoi(port)
		}
		reg, err := consul.NewRegistrar(c, checks, cfg.Register)
		if err != nil {
			return err
		}
		watch, err := consul.NewResolver(c, consul.WatchSettings{Services: []string{cfg.Peer}, Logger: log})
		if err != nil {
			return err
		}
		peers, opts.Registrars, opts.Components = watch, []gantry.Runner{reg}, append(opts.Components, watch)
	} else {
		static, err := discovery.ParseStatic(cfg.Static.Services)
		if err != nil {
			return err
		}
		peers = discovery.NewStatic(static)
	}
	client, err := gantry.NewClient("starter", peers, cfg.Client, inst) // retry, budget, breaker, balancer
	if err != nil {
		return err
	}
	defer client.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		transport.WriteJSON(w, http.StatusOK, map[string]string{"hello": r.PathValue("name")})
	})
	mux.HandleFunc("GET /peer/{name}", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+cfg.Peer+"/hello/"+r.PathValue("name"), nil)
		resp, err := client.HTTP.Do(req)
		if err != nil { // peer down or breaker open: 503 with Retry-After; deadline: 504
			transport.WriteError(w, r, err)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	limiter := resilience.NewRateLimiter("clients", cfg.RateLimit, resilience.KeyByClientIP, inst)
	server, err := gantry.NewServer(mux, cfg.Server, inst, limiter.Server())
	if err != nil {
		return err
	}
	admin, err := gantry.NewAdmin(cfg.Admin, gantry.Admin{Name: "starter", Health: checks, Metrics: tel.MetricsHandler(),
		Debug: map[string]http.Handler{"resilience": resilience.DebugHandler(client, limiter)}}, inst)
	if err != nil {
		return err
	}
	opts.Servers = []gantry.Server{{Server: server}, {Server: admin}}
	return gantry.Run(ctx, opts) // until SIGTERM: drain, deregister, finish requests, flush
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}
