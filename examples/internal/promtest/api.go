package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ErrBadResponse is wrapped by the query helpers' errors when Prometheus answers with an
// error status or a body they cannot read.
var ErrBadResponse = errors.New("promtest: bad response from prometheus")

// Sample is one element of an instant vector: the series' labels and its value.
type Sample struct {
	Labels map[string]string
	Time   time.Time
	Value  float64
}

// Query evaluates the PromQL expression q at the current time (GET /api/v1/query) and
// returns the instant vector it yields, empty when no series matches. A scalar result is
// returned as one Sample without labels; a range vector or a string is an error.
func (p *Prometheus) Query(ctx context.Context, q string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query?"+url.Values{"query": {q}}.Encode(), &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var raw []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &raw); err != nil {
			return nil, fmt.Errorf("%w: query %q: %v", ErrBadResponse, q, err)
		}
		out := make([]Sample, 0, len(raw))
		for _, r := range raw {
			s, err := sample(r.Metric, r.Value)
			if err != nil {
				return nil, fmt.Errorf("%w: query %q: %v", ErrBadResponse, q, err)
			}
			out = append(out, s)
		}
		return out, nil
	case "scalar":
		var raw [2]any
		if err := json.Unmarshal(data.Result, &raw); err != nil {
			return nil, fmt.Errorf("%w: query %q: %v", ErrBadResponse, q, err)
		}
		s, err := sample(nil, raw)
		if err != nil {
			return nil, fmt.Errorf("%w: query %q: %v", ErrBadResponse, q, err)
		}
		return []Sample{s}, nil
	default:
		return nil, fmt.Errorf("%w: query %q: result type %q, want vector or scalar", ErrBadResponse, q, data.ResultType)
	}
}

// sample decodes the API's [unix seconds, "value"] pair.
func sample(labels map[string]string, v [2]any) (Sample, error) {
	ts, ok := v[0].(float64)
	str, ok2 := v[1].(string)
	if !ok || !ok2 {
		return Sample{}, fmt.Errorf("value %v: want [seconds, \"number\"]", v)
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return Sample{}, err
	}
	if labels == nil {
		labels = map[string]string{}
	}
	return Sample{Labels: labels, Time: time.UnixMilli(int64(ts * 1000)), Value: f}, nil
}

// Target is one active scrape target, as GET /api/v1/targets lists it.
type Target struct {
	// DiscoveredLabels are the labels service discovery gave (the __meta_* ones among
	// them), before relabelling.
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	// Labels are the target's labels after relabelling (job, instance, ...).
	Labels     map[string]string `json:"labels"`
	ScrapePool string            `json:"scrapePool"`
	ScrapeURL  string            `json:"scrapeUrl"`
	// Health is "up", "down" or "unknown" (not scraped yet).
	Health     string    `json:"health"`
	LastError  string    `json:"lastError"`
	LastScrape time.Time `json:"lastScrape"`
}

// Targets returns the active scrape targets (GET /api/v1/targets?state=active).
func (p *Prometheus) Targets(ctx context.Context) ([]Target, error) {
	var data struct {
		ActiveTargets []Target `json:"activeTargets"`
	}
	err := p.get(ctx, "/api/v1/targets?state=active", &data)
	return data.ActiveTargets, err
}

// Alert is one active alert (pending or firing), as GET /api/v1/alerts lists it.
type Alert struct {
	// Labels hold alertname, the rule's labels and the labels of the series that fired.
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// State is "pending" (the expression holds, for not yet) or "firing".
	State    string    `json:"state"`
	ActiveAt time.Time `json:"activeAt"`
	Value    string    `json:"value"`
}

// Alerts returns the active alerts (GET /api/v1/alerts). A resolved alert is not listed.
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	err := p.get(ctx, "/api/v1/alerts", &data)
	return data.Alerts, err
}

// Rule is one recording or alerting rule, as GET /api/v1/rules lists it.
type Rule struct {
	Group string `json:"-"`
	Name  string `json:"name"`
	Query string `json:"query"`
	// Type is "recording" or "alerting".
	Type string `json:"type"`
	// Health is "ok", "err" (LastError says why) or "unknown" (not evaluated yet).
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// Rules returns every loaded rule of every group (GET /api/v1/rules).
func (p *Prometheus) Rules(ctx context.Context) ([]Rule, error) {
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", &data); err != nil {
		return nil, err
	}
	var out []Rule
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			r.Group = g.Name
			out = append(out, r)
		}
	}
	return out, nil
}

// get decodes the data member of the API's answer to path into v.
func (p *Prometheus) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+path, nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%w: GET %s = %s: %q", ErrBadResponse, path, resp.Status, bytes.TrimSpace(body))
	}
	if resp.StatusCode != http.StatusOK || env.Status != "success" {
		return fmt.Errorf("%w: GET %s = %s: %s: %s", ErrBadResponse, path, resp.Status, env.ErrorType, env.Error)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return fmt.Errorf("%w: GET %s: decoding data: %v", ErrBadResponse, path, err)
	}
	return nil
}
