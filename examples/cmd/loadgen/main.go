// Command loadgen runs open-loop, constant-arrival-rate checkout flows (browse, put
// an item in a fresh cart, check out with a fresh Idempotency-Key) against the shop's
// gateway and reports successes, failures by status and latency percentiles measured
// from each flow's intended start. The last line of output is the report as JSON.
//
//	go run ./cmd/loadgen -target http://127.0.0.1:8080 -rate 50 -duration 20s
//
// Only loopback targets are accepted.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gantry-go/gantry/examples/internal/loadgen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "gateway base URL (loopback only)")
	fs.Float64Var(&cfg.Rate, "rate", 10, "checkout flows started per second")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to start flows")
	fs.IntVar(&cfg.MaxInFlight, "concurrency", 256, "most flows running at once; flows due beyond it are dropped and counted")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "timeout of one whole flow")
	fs.StringVar(&cfg.Token, "token", "", "bearer token for a gateway that authenticates users (the one-process shop prints one)")
	jsonOnly := fs.Bool("json", false, "print only the JSON report line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil && rep.Scheduled == 0 {
		return err
	}
	if !*jsonOnly {
		fmt.Fprint(stdout, rep.String())
	}
	line, jerr := json.Marshal(rep)
	if jerr != nil {
		return jerr
	}
	fmt.Fprintln(stdout, string(line))
	return err
}
