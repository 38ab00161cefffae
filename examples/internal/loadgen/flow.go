package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

type flows struct {
	cfg      Config
	target   string
	products []string
}

type product struct {
	ID         string `json:"id"`
	PriceCents int64  `json:"price_cents"`
	Stock      int64  `json:"stock"`
}

// listProducts returns the ids of products in stock that the simulated processor
// does not decline.
func (f *flows) listProducts(ctx context.Context) ([]string, error) {
	var ps []product
	status, _, err := f.do(ctx, http.MethodGet, "/api/products", "", "", &ps)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("loadgen: list products at %s: status %d: %v", f.target, status, err)
	}
	// Prefer well-stocked products, so a long run does not turn into 409s.
	var ids, plenty []string
	for _, p := range ps {
		if p.Stock > 0 && p.PriceCents%100 != 13 {
			ids = append(ids, p.ID)
			if p.Stock >= 100 {
				plenty = append(plenty, p.ID)
			}
		}
	}
	if len(plenty) > 0 {
		ids = plenty
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("loadgen: no product in stock at %s", f.target)
	}
	return ids, nil
}

// run performs flow i: browse the products, put one in a fresh cart, check out with
// a fresh Idempotency-Key.
func (f *flows) run(ctx context.Context, i int) flowResult {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	id := f.cfg.RunID + "-" + strconv.Itoa(i)
	pid := f.products[i%len(f.products)]
	steps := []struct {
		name, method, path, body, key string
		want                          int
	}{
		{"browse", http.MethodGet, "/api/products/" + pid, "", "", http.StatusOK},
		{"put", http.MethodPut, "/api/carts/" + id + "/items/" + pid, `{"quantity":1}`, "", http.StatusOK},
		{"checkout", http.MethodPost, "/api/carts/" + id + "/checkout", "", id, http.StatusCreated},
	}
	for _, s := range steps {
		status, retryAfter, err := f.do(ctx, s.method, s.path, s.body, s.key, nil)
		if err != nil {
			return flowResult{status: errorKind(ctx, err), step: s.name, failure: Failure{Flow: i, CartID: id, Product: pid, Step: s.name, Status: errorKind(ctx, err)}}
		}
		if status != s.want {
			st := strconv.Itoa(status)
			return flowResult{status: st, step: s.name, failure: Failure{Flow: i, CartID: id, Product: pid, Step: s.name, Status: st, RetryAfter: retryAfter}}
		}
	}
	return flowResult{ok: true}
}

func errorKind(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return "timeout"
	case strings.Contains(err.Error(), "refused"):
		return "connection_refused"
	}
	return "connection_error"
}

// do sends one request and returns its status and Retry-After header.
func (f *flows) do(ctx context.Context, method, path, body, key string, out any) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.target+path, rd)
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if f.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+f.cfg.Token)
	}
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
			return resp.StatusCode, resp.Header.Get("Retry-After"), err
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MarshalJSON encodes the report on one line with durations in milliseconds
// (p50_ms, p95_ms, p99_ms, max_ms) and seconds (duration_s, elapsed_s).
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report // without this method
	return json.Marshal(struct {
		plain
		DurationS float64 `json:"duration_s"`
		P50Ms     float64 `json:"p50_ms"`
		P95Ms     float64 `json:"p95_ms"`
		P99Ms     float64 `json:"p99_ms"`
		MaxMs     float64 `json:"max_ms"`
		ElapsedS  float64 `json:"elapsed_s"`
	}{plain(r), r.Duration.Seconds(), ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max), r.Elapsed.Seconds()})
}

// String is a short human-readable summary.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "target %s, %.0f flows/s for %v: %d scheduled, %d succeeded, %d failed, %d dropped\n",
		r.Target, r.Rate, r.Duration, r.Scheduled, r.Succeeded, r.Failed, r.Dropped)
	fmt.Fprintf(&b, "latency from intended start: p50 %v  p95 %v  p99 %v  max %v\n",
		r.P50.Round(time.Microsecond*100), r.P95.Round(time.Microsecond*100), r.P99.Round(time.Microsecond*100), r.Max.Round(time.Microsecond*100))
	if len(r.FailuresByStatus) > 0 {
		keys := make([]string, 0, len(r.FailuresByStatus))
		for k := range r.FailuresByStatus {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("failures by status:")
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, r.FailuresByStatus[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}
