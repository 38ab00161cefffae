// Command shop runs the whole example shop (catalog, payment, cart and gateway) in one
// process, with static discovery on loopback and SQLite files in a data directory:
//
//	cd examples && go run ./cmd/shop          # serve until Ctrl-C
//	cd examples && go run ./cmd/shop -tour    # a scripted walk-through, then exit
//	cd examples && go run ./cmd/shop -restock # stock topped up as it sells, for load runs
//
// Without -data the data lives in a temporary directory removed at exit. The
// services listen on 127.0.0.1:8080 (gateway), 8081 (catalog), 8082 (cart) and 8083
// (payment), or on random free ports with -random-ports (the tour's default). The
// gateway verifies OIDC tokens of a demo identity provider on a random loopback port
// (users alice, bob and operator); the start-up lines print a token for alice.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/demoidp"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/resilience"
)

// tokenTTL is the lifetime of the demo tokens, long enough for an afternoon of curl.
const tokenTTL = 12 * time.Hour

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "", "data directory for the SQLite files (default: a temporary directory, removed at exit)")
	tour := fs.Bool("tour", false, "run a scripted walk-through (browse, check out, replay, flaky payment, breaker) and exit")
	random := fs.Bool("random-ports", false, "listen on random free ports instead of 8080-8083 (always on with -tour)")
	verbose := fs.Bool("v", false, "log every request to stderr")
	restock := fs.Bool("restock", false, "top the stock up as it sells (every product back to 10000 units), so load runs measure capacity, not stock")
	clientRate := fs.Float64("client-rate", 100, "requests per second the gateway allows each client IP (bursts of twice that)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (all four services: one process) to this file, for go tool pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *dataDir == "" {
		dir, err := os.MkdirTemp("", "gantry-shop-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dataDir = dir
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	if *tour && !*verbose {
		level = slog.LevelError + 4 // the tour tells its own story
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	opts := shop.Options{DataDir: *dataDir, Logger: logger,
		RateLimit: resilience.RateLimitSettings{KeyRate: *clientRate, KeyBurst: int(2 * *clientRate)},
		IdP:       demoidp.Settings{TokenTTL: tokenTTL}, Restock: *restock}
	if !*random && !*tour {
		opts.Addrs = map[string]string{
			"gateway": "127.0.0.1:8080", "catalog": "127.0.0.1:8081", "cart": "127.0.0.1:8082", "payment": "127.0.0.1:8083",
		}
		opts.AdminAddrs = map[string]string{
			"gateway": "127.0.0.1:9080", "catalog": "127.0.0.1:9081", "cart": "127.0.0.1:9082", "payment": "127.0.0.1:9083",
		}
	}
	if *tour {
		// A shorter open state than the 5s default keeps the tour brisk.
		brisk := resilience.ClientSettings{Breaker: resilience.BreakerSettings{OpenTimeout: 2 * time.Second}}
		opts.Client = gantry.ClientSettings{Resilience: brisk}
		opts.GatewayClient = gantry.ClientSettings{Resilience: brisk}
		opts.Cart = cart.Settings{RetryAfter: time.Second}
	}
	s, err := shop.New(ctx, opts)
	if err != nil {
		if opts.Addrs != nil {
			return fmt.Errorf("%w (is something else on ports 8080-8083 or 9080-9083? try -random-ports)", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "Gantry shop, data in %s\n", *dataDir)
	for _, name := range shop.Services() {
		fmt.Fprintf(stdout, "  %-8s %s (admin %s)\n", name, s.URLs[name], s.AdminURLs[name])
	}
	if !*tour {
		gw := s.URLs["gateway"]
		tok, err := s.Token(ctx, "alice")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  idp      %s (demo OIDC provider: users alice, bob, operator)\n", s.IdP.Issuer())
		fmt.Fprintf(stdout, "\nTry (carts and orders need a login; this is alice's token, valid %v):\n", tokenTTL)
		fmt.Fprintf(stdout, "  export TOKEN=%s\n", tok)
		fmt.Fprintf(stdout, "  curl %s/api/products\n", gw)
		fmt.Fprintf(stdout, "  curl -X PUT -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{\"quantity\":2}' %s/api/carts/c1/items/p01\n", gw)
		fmt.Fprintf(stdout, "  curl -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Idempotency-Key: order-1' %s/api/carts/c1/checkout\n", gw)
		fmt.Fprintln(stdout, "Ctrl-C stops the shop.")
		return s.Run(ctx)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tourErr := make(chan error, 1)
	go func() {
		defer cancel()
		tourErr <- newTour(s, stdout).run(ctx)
	}()
	runErr := s.Run(ctx)
	terr := <-tourErr
	if terr != nil {
		return fmt.Errorf("shop: tour failed: %w", terr)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}

// startCPUProfile starts a CPU profile into path; the returned func stops it and closes
// the file (the profile is complete only then: stop the shop with Ctrl-C or SIGTERM).
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("shop: -cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("shop: -cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
