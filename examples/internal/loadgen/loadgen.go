// Package loadgen provides an open-loop, constant-arrival-rate load generator that
// runs full checkout flows against the shop's gateway.
//
// Open loop means the schedule is fixed before the run: flow i starts at
// start + i/Rate whether or not earlier flows have finished, and each flow's latency
// is measured from that intended start, not from when a goroutine got round to it.
// A closed-loop tool (N workers, each waiting for its last answer) slows down exactly
// when the system does and so hides the slowness it should measure ("coordinated
// omission"). When MaxInFlight flows are already running, a due flow is not started
// and is counted as dropped: the cap protects the generator, and the report says how
// often it bit.
//
// The target must be a loopback address: this tool is for the local demo and tests.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrNotLoopback is returned by Run for a target that is not a loopback address.
var ErrNotLoopback = errors.New("loadgen: target must be a loopback address (127.0.0.0/8, ::1 or localhost)")

// ErrConfig is returned by Run for settings that cannot work.
var ErrConfig = errors.New("loadgen: invalid config")

// Config configures Run. The zero value, with Target set, runs 10 flows per second
// for 10 seconds.
type Config struct {
	// Target is the gateway's base URL, such as "http://127.0.0.1:8080". Required;
	// only loopback hosts are accepted.
	Target string
	// Rate is the number of checkout flows started per second. Default 10.
	Rate float64
	// Duration is how long new flows are started. Default 10s.
	Duration time.Duration
	// MaxInFlight caps concurrently running flows; a flow due while the cap is
	// reached is dropped (counted, not delayed). Default 256.
	MaxInFlight int
	// Timeout bounds one whole flow. Default 10s.
	Timeout time.Duration
	// Products restricts the products bought; empty means the products the catalog
	// lists with at least 100 in stock (or any stock, if none has that much), except
	// those whose price ends in 13 cents (the simulated processor declines those).
	Products []string
	// Client sends the requests; nil means a client with a pool sized for
	// MaxInFlight.
	Client *http.Client
	// RunID prefixes cart ids and Idempotency-Keys; empty means a time-based id.
	RunID string
	// Token is a bearer token sent with every request, for a gateway that
	// authenticates users (GATEWAY_AUTH=oidc); empty sends none.
	Token string
}

func (c Config) withDefaults() Config {
	if c.Rate == 0 {
		c.Rate = 10
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 256
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.RunID == "" {
		c.RunID = "lg" + time.Now().UTC().Format("150405.000")
		c.RunID = strings.ReplaceAll(c.RunID, ".", "")
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: c.MaxInFlight, MaxIdleConns: c.MaxInFlight, IdleConnTimeout: 30 * time.Second,
		}}
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Rate < 0 || c.Rate > 100000 {
		errs = append(errs, fmt.Errorf("%w: rate %v is not within 0-100000 per second", ErrConfig, c.Rate))
	}
	if c.Duration < 0 || c.MaxInFlight < 0 || c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%w: duration, max in flight and timeout must not be negative", ErrConfig))
	}
	if err := CheckLoopback(c.Target); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CheckLoopback returns nil when target is an http(s) URL whose host is a loopback
// IP or "localhost", and an error wrapping ErrNotLoopback otherwise. It never
// resolves names.
func CheckLoopback(target string) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %q is not an http(s) URL", ErrNotLoopback, target)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: got %q", ErrNotLoopback, host)
}

// Report is the outcome of a run. Latencies are measured from each flow's intended
// start to its end, over every flow that ran (not the dropped ones).
type Report struct {
	Target    string        `json:"target"`
	Rate      float64       `json:"rate"`
	Duration  time.Duration `json:"-"`
	Scheduled int           `json:"scheduled"`
	Succeeded int           `json:"succeeded"`
	Failed    int           `json:"failed"`
	// Dropped flows were due while MaxInFlight flows were running.
	Dropped int `json:"dropped"`
	// FailuresByStatus counts failed flows by the status of the failing step
	// ("503", "409", ...) or the kind of error ("timeout", "connection").
	FailuresByStatus map[string]int `json:"failures_by_status"`
	// FailuresByStep counts failed flows by step: browse, put, checkout.
	FailuresByStep map[string]int `json:"failures_by_step"`
	// Failures lists every failed flow, as its client saw it, in the order they ended:
	// enough to retry each one with its cart and Idempotency-Key.
	Failures []Failure     `json:"-"`
	P50      time.Duration `json:"-"`
	P95      time.Duration `json:"-"`
	P99      time.Duration `json:"-"`
	Max      time.Duration `json:"-"`
	// Elapsed is the wall time from the first scheduled start to the last flow's end.
	Elapsed time.Duration `json:"-"`
}

// Meets reports whether the run had flows and kept its promise: at least minOK of the
// scheduled flows succeeded (dropped ones count as not ok) and the p99 latency, from
// intended start, is at most maxP99. A capacity figure is the highest rate that meets it.
func (r Report) Meets(minOK float64, maxP99 time.Duration) bool {
	return r.Scheduled > 0 && float64(r.Succeeded) >= minOK*float64(r.Scheduled) && r.P99 <= maxP99
}

// Failure is one failed flow.
type Failure struct {
	Flow int // the flow's index in the schedule
	// CartID is the flow's cart, and also its checkout's Idempotency-Key.
	CartID  string
	Product string // the product it put in the cart, one unit
	Step    string // browse, put or checkout
	// Status is the failing response's status ("503") or the kind of error ("timeout").
	Status string
	// RetryAfter is the failing response's Retry-After header, empty if it had none.
	RetryAfter string
}

// flowResult is one flow's outcome.
type flowResult struct {
	latency time.Duration
	ok      bool
	status  string
	step    string
	failure Failure
}

// Run starts flows at cfg.Rate for cfg.Duration, waits for the running ones to
// finish, and reports. Cancelling ctx stops scheduling; running flows are cancelled
// too, and the partial report is returned with ctx's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	target := strings.TrimRight(cfg.Target, "/")
	f := &flows{cfg: cfg, target: target}
	products := cfg.Products
	if len(products) == 0 {
		var err error
		if products, err = f.listProducts(ctx); err != nil {
			return Report{}, err
		}
	}
	f.products = products

	rep := Report{Target: target, Rate: cfg.Rate, Duration: cfg.Duration,
		FailuresByStatus: map[string]int{}, FailuresByStep: map[string]int{}}
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	n := int(cfg.Duration / interval)
	results := make(chan flowResult, cfg.MaxInFlight)
	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.MaxInFlight)
	var latencies []time.Duration
	done := make(chan struct{})
	go func() { // collect
		defer close(done)
		for r := range results {
			latencies = append(latencies, r.latency)
			if r.ok {
				rep.Succeeded++
				continue
			}
			rep.Failed++
			rep.FailuresByStatus[r.status]++
			rep.FailuresByStep[r.step]++
			rep.Failures = append(rep.Failures, r.failure)
		}
	}()

	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var runErr error
schedule:
	for i := 0; i < n; i++ {
		intended := start.Add(time.Duration(i) * interval)
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				runErr = ctx.Err()
				break schedule
			case <-timer.C:
			}
		}
		rep.Scheduled++
		select {
		case sem <- struct{}{}:
		default:
			rep.Dropped++
			continue
		}
		wg.Add(1)
		go func(i int, intended time.Time) {
			defer wg.Done()
			defer func() { <-sem }()
			r := f.run(ctx, i)
			r.latency = time.Since(intended)
			results <- r
		}(i, intended)
	}
	wg.Wait()
	close(results)
	<-done
	rep.Elapsed = time.Since(start)
	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	rep.P50, rep.P95, rep.P99 = percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99)
	if len(latencies) > 0 {
		rep.Max = latencies[len(latencies)-1]
	}
	return rep, runErr
}

// percentile returns the nearest-rank p-th percentile of sorted xs.
func percentile(xs []time.Duration, p int) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	rank := (p*len(xs) + 99) / 100 // ceil(p/100 * n)
	if rank < 1 {
		rank = 1
	}
	return xs[rank-1]
}
