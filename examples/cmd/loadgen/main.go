// Command loadgen runs open-loop, constant-arrival-rate checkout flows (browse, put
// an item in a fresh cart, check out with a fresh Idempotency-Key) against the shop's
// gateway and reports successes, failures by status and latency percentiles measured
// from each flow's intended start. The last line of output is the report as JSON.
//
//	go run ./cmd/loadgen -target http://127.0.0.1:8080 -rate 50 -duration 20s
//
// With -rates it runs a ramp instead: each rate for -duration, one after the other, and
// prints a line per rate (with its goodput: the flows that succeeded per second of the run)
// and the capacity, the highest rate at which at least -ok of the flows succeeded with a p99
// of at most -p99 (a JSON line per rate with -json):
//
//	go run ./cmd/loadgen -rates 20,40,60,80,100 -duration 15s
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
	"strconv"
	"strings"
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
	rates := fs.String("rates", "", "a ramp: comma-separated rates, each run for -duration (replaces -rate)")
	minOK := fs.Float64("ok", 0.999, "with -rates: the share of flows that must succeed for a rate to count as sustained")
	maxP99 := fs.Duration("p99", 100*time.Millisecond, "with -rates: the p99 a sustained rate must keep")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *rates != "" {
		return ramp(ctx, cfg, *rates, *minOK, *maxP99, *jsonOnly, stdout)
	}
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

// ramp runs cfg at each of rates (comma-separated) in turn and prints what each measured
// and the highest rate that met minOK and maxP99.
func ramp(ctx context.Context, cfg loadgen.Config, rates string, minOK float64, maxP99 time.Duration, jsonOnly bool, stdout io.Writer) error {
	var list []float64
	for f := range strings.SplitSeq(rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return fmt.Errorf("%w: -rates %q: %q is not a positive number", loadgen.ErrConfig, rates, f)
		}
		list = append(list, r)
	}
	if minOK < 0 || minOK > 1 || maxP99 <= 0 {
		return fmt.Errorf("%w: -ok must be within 0-1 and -p99 positive", loadgen.ErrConfig)
	}
	if !jsonOnly {
		fmt.Fprintf(stdout, "%8s %9s %9s %8s %8s %10s %10s %10s %10s  %s\n", "rate", "scheduled", "succeeded", "failed", "dropped", "goodput/s", "p50", "p99", "max", "sustained")
	}
	capacity := 0.0
	for i, r := range list {
		c := cfg
		c.Rate = r
		if cfg.RunID != "" {
			c.RunID = cfg.RunID + "r" + strconv.Itoa(i)
		} else {
			c.RunID = ""
		}
		rep, err := loadgen.Run(ctx, c)
		if err != nil {
			return err
		}
		ok := rep.Meets(minOK, maxP99)
		if ok && r > capacity {
			capacity = r
		}
		if jsonOnly {
			line, err := json.Marshal(rep)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, string(line))
			continue
		}
		fmt.Fprintf(stdout, "%8.0f %9d %9d %8d %8d %10.1f %10v %10v %10v  %v\n", r, rep.Scheduled, rep.Succeeded, rep.Failed, rep.Dropped,
			float64(rep.Succeeded)/rep.Duration.Seconds(), rep.P50.Round(100*time.Microsecond), rep.P99.Round(100*time.Microsecond), rep.Max.Round(100*time.Microsecond), ok)
	}
	if !jsonOnly {
		fmt.Fprintf(stdout, "capacity: %.0f flows/s (the highest rate with >= %.1f%% ok and p99 <= %v; 0: none)\n", capacity, 100*minOK, maxP99)
	}
	return nil
}
