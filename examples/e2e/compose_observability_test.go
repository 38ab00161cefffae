//go:build e2e

package e2e_test

// The compose end-to-end test's observability checks: docker-compose.yml's observability
// profile (Jaeger and Prometheus) runs with the shop, every service exports OTLP over HTTP
// straight to Jaeger (OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318, set by
// scripts/e2e-compose.sh), and Prometheus finds every instance through Consul and loads the
// shipped rules (examples/deploy/prometheus/rules.yml). The test reads both through their
// published loopback ports, as a user of their APIs or UIs would.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/gantry-go/gantry/examples/internal/jaegertest"
)

// composeProfiles are the compose profiles the test runs with (scripts/e2e-compose.sh
// passes the same).
var composeProfiles = []string{"observability"}

// The checkout route whose latency the test reads from Prometheus: the cart's server
// route (http_route, as the ServeMux pattern names it) for POST.
const (
	composeCheckoutService = "cart"
	composeCheckoutRoute   = "/carts/{cart_id}/checkout"
)

// jaegerGet decodes the data member of Jaeger's query API answer to path.
func (s *composeStack) jaegerGet(ctx context.Context, path string, v any) error {
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		} `json:"errors"`
	}
	if err := s.apiGet(ctx, s.port("jaeger", "16686")+path, &env); err != nil {
		return err
	}
	if len(env.Errors) > 0 {
		return fmt.Errorf("jaeger GET %s: errors %+v", path, env.Errors)
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil
	}
	return json.Unmarshal(env.Data, v)
}

// promGet decodes the data member of Prometheus's API answer to path.
func (s *composeStack) promGet(ctx context.Context, path string, v any) error {
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := s.apiGet(ctx, s.port("prometheus", "9090")+path, &env); err != nil {
		return err
	}
	if env.Status != "success" {
		return fmt.Errorf("prometheus GET %s: status %q: %s", path, env.Status, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

// apiGet GETs url (a published loopback port) and decodes a 200 JSON answer into v.
func (s *composeStack) apiGet(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s = %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (p promSample) float() float64 {
	str, _ := p.Value[1].(string)
	var f float64
	if _, err := fmt.Sscan(str, &f); err != nil {
		return math.NaN()
	}
	return f
}

// promQuery evaluates q now (GET /api/v1/query) and returns its instant vector.
func (s *composeStack) promQuery(ctx context.Context, q string) ([]promSample, error) {
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	if err := s.promGet(ctx, "/api/v1/query?"+url.Values{"query": {q}}.Encode(), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", q, data.ResultType)
	}
	return data.Result, nil
}

// promAlert is one active alert of GET /api/v1/alerts (pending or firing).
type promAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
}

func (s *composeStack) promAlerts(ctx context.Context) ([]promAlert, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	err := s.promGet(ctx, "/api/v1/alerts", &data)
	return data.Alerts, err
}

// await polls cond every second until it reports done, and fails t when it has not
// within d, with what cond last said. Jaeger stores and Prometheus scrapes and evaluates
// on their own clocks: polling their APIs is the only way to see a state from outside.
func (s *composeStack) await(t *testing.T, d time.Duration, what string, cond func(context.Context) (bool, string)) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	last := "nothing yet"
	for {
		done, state := cond(ctx)
		if done {
			return time.Since(start)
		}
		if ctx.Err() == nil { // a poll cut short by the deadline says only that
			last = state
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v; last seen: %s", what, d, last)
		case <-time.After(time.Second):
		}
	}
}

// tracedCheckout checks out one new cart through the gateway (one PUT, one POST, no
// replay, so the gateway sees that checkout path once) and returns the cart id.
func (s *composeStack) tracedCheckout(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cartID := fmt.Sprintf("e2e-trace-%d", time.Now().UnixNano())
	product := s.productsFor(t, 1)[0]
	if st, body, err := s.do(ctx, http.MethodPut, "/api/carts/"+cartID+"/items/"+product, `{"quantity":1}`, ""); err != nil || st != http.StatusOK {
		t.Fatalf("PUT /api/carts/%s/items/%s = %d %s (%v), want 200", cartID, product, st, body, err)
	}
	st, body, err := s.do(ctx, http.MethodPost, "/api/carts/"+cartID+"/checkout", "", "e2e-trace-key-"+cartID)
	if err != nil || st != http.StatusCreated || !strings.Contains(string(body), `"status":"paid"`) {
		t.Fatalf("POST /api/carts/%s/checkout = %d %s (%v), want 201 paid", cartID, st, body, err)
	}
	return cartID
}

// checkTrace finds the checkout of cart cartID in Jaeger (GET /api/traces by the
// gateway's service and the request's url.path), reads it by its id
// (GET /api/traces/<id>) and checks it as TestJaegerShowsACheckoutAsOneTrace checks the
// one-process shop's: one trace, rooted at the gateway's server span, every parent in it,
// server spans from gateway, cart, catalog and payment named by their routes, the saga
// under the cart's checkout.
func (s *composeStack) checkTrace(t *testing.T, cartID string) {
	t.Helper()
	path := "/api/carts/" + cartID + "/checkout"
	q := url.Values{"service": {"gateway"}, "tags": {`{"url.path":"` + path + `"}`}, "limit": {"20"}, "lookback": {"1h"}}
	var tr jaegertest.Trace
	waited := s.await(t, time.Minute, "the trace of POST "+path+" in Jaeger with spans of every service", func(ctx context.Context) (bool, string) {
		var traces []jaegertest.Trace
		if err := s.jaegerGet(ctx, "/api/traces?"+q.Encode(), &traces); err != nil {
			return false, err.Error()
		}
		var ids []string
		for _, c := range traces {
			for _, sp := range c.Spans {
				if p, _ := sp.Tag("url.path"); p == path && sp.Kind() == "server" && c.Service(sp) == "gateway" {
					ids = append(ids, c.TraceID)
				}
			}
		}
		if len(ids) != 1 {
			return false, fmt.Sprintf("%d traces with the gateway's server span for POST %s: %v", len(ids), path, ids)
		}
		var byID []jaegertest.Trace
		if err := s.jaegerGet(ctx, "/api/traces/"+url.PathEscape(ids[0]), &byID); err != nil {
			return false, err.Error()
		}
		if len(byID) != 1 {
			return false, fmt.Sprintf("GET /api/traces/%s returned %d traces, want 1", ids[0], len(byID))
		}
		tr = byID[0]
		seen := servicesOf(tr)
		return len(seen) == 4, fmt.Sprintf("trace %s has spans of %v, %d spans", tr.TraceID, seen, len(tr.Spans))
	})
	if len(traceIDsOf(tr)) != 1 {
		t.Errorf("trace %s holds spans of traces %v, want only its own", tr.TraceID, traceIDsOf(tr))
	}
	checkOneTrace(t, tr, cartID)
	checkGatewayRoute(t, tr)
	if !t.Failed() {
		t.Logf("jaeger: the checkout of %s is one trace (%s) of %d spans from %v, every parent present, server spans named by route; found %v after the checkout",
			cartID, tr.TraceID, len(tr.Spans), servicesOf(tr), waited.Round(100*time.Millisecond))
	}
}

func traceIDsOf(tr jaegertest.Trace) []string {
	var out []string
	for _, sp := range tr.Spans {
		if !slices.Contains(out, sp.TraceID) {
			out = append(out, sp.TraceID)
		}
	}
	return out
}

// consulScrapeTargets returns, from Consul's catalog (read with the management token),
// the admin address (host:admin_port from the service metadata) and service name of
// every instance of the shop's services. Every instance must advertise its admin port.
func (s *composeStack) consulScrapeTargets(t *testing.T) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]string{}
	want := 0
	for name, n := range composeConsulWant {
		want += n
		var entries []struct {
			ServiceName    string            `json:"ServiceName"`
			ServiceAddress string            `json:"ServiceAddress"`
			ServiceMeta    map[string]string `json:"ServiceMeta"`
		}
		if err := s.getJSON(ctx, s.consul+"/v1/catalog/service/"+name, &entries); err != nil {
			t.Fatalf("consul catalog of %s: %v", name, err)
		}
		for _, e := range entries {
			p := e.ServiceMeta["admin_port"]
			if p == "" {
				t.Errorf("consul: instance %s of %s has no admin_port in its metadata (DISCOVERY_SERVICE_META), so Prometheus does not scrape it", e.ServiceAddress, name)
				continue
			}
			out[net.JoinHostPort(e.ServiceAddress, p)] = e.ServiceName
		}
	}
	if len(out) != want {
		t.Fatalf("consul lists %v with an admin port, want %d instances (%v)", out, want, composeConsulWant)
	}
	return out
}

// checkScrapeTargets: Prometheus reports up == 1 for exactly the instances Consul lists,
// in both jobs of the shipped configuration, labelled with their Consul service name,
// and the readiness job sees each as passing.
func (s *composeStack) checkScrapeTargets(t *testing.T) {
	t.Helper()
	want := s.consulScrapeTargets(t)
	for _, q := range []string{`up{job="gantry"}`, `up{job="gantry-readiness", consul_health="passing"}`} {
		waited := s.await(t, 90*time.Second, q+" == 1 for every instance in Consul", func(ctx context.Context) (bool, string) {
			samples, err := s.promQuery(ctx, q)
			if err != nil {
				return false, err.Error()
			}
			got := map[string]string{}
			for _, sm := range samples {
				if sm.float() == 1 {
					got[sm.Metric["instance"]] = sm.Metric["service"]
				}
			}
			d := cmp.Diff(want, got)
			return d == "", "instances with up == 1 (-Consul +Prometheus):\n" + d
		})
		t.Logf("prometheus: %s == 1 for the %d instances Consul lists %v (after %v)", q, len(want), want, waited.Round(100*time.Millisecond))
	}
}

// checkRules: Prometheus loaded every rule of the shipped rules.yml, and each has been
// evaluated without error.
func (s *composeStack) checkRules(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.dir, "deploy", "prometheus", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Record string `json:"record"`
				Alert  string `json:"alert"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("rules.yml: %v", err)
	}
	var want []string
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			want = append(want, r.Record+r.Alert)
		}
	}
	sort.Strings(want)
	s.await(t, time.Minute, "every rule of rules.yml loaded and evaluated", func(ctx context.Context) (bool, string) {
		var data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := s.promGet(ctx, "/api/v1/rules", &data); err != nil {
			return false, err.Error()
		}
		var got, unhealthy []string
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				got = append(got, r.Name)
				if r.Health != "ok" {
					unhealthy = append(unhealthy, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
				}
			}
		}
		sort.Strings(got)
		if d := cmp.Diff(want, got); d != "" {
			return false, "rules loaded (-rules.yml +prometheus):\n" + d
		}
		return len(unhealthy) == 0, fmt.Sprintf("rules not healthy: %v", unhealthy)
	})
	t.Logf("prometheus: the %d rules of rules.yml loaded, each evaluated without error", len(want))
}

// checkCheckoutP99 reads the checkout route's p99 latency from Prometheus, as a PromQL
// p99 by http_route and as rules.yml's recording rule, right after a load phase: both must
// return a finite, positive number of seconds.
func (s *composeStack) checkCheckoutP99(t *testing.T) {
	t.Helper()
	sel := fmt.Sprintf(`service=%q, http_request_method="POST"`, composeCheckoutService)
	for _, q := range []string{
		`histogram_quantile(0.99, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{` + sel + `}[1m])))`,
		`service_route:http_server_request_duration_seconds:p99_1m{` + sel + `}`,
	} {
		s.await(t, 30*time.Second, q+" for "+composeCheckoutRoute, func(ctx context.Context) (bool, string) {
			samples, err := s.promQuery(ctx, q)
			if err != nil {
				return false, err.Error()
			}
			for _, sm := range samples {
				if v := sm.float(); sm.Metric["http_route"] == composeCheckoutRoute && v > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
					t.Logf("prometheus: %s: http_route=%s p99 %v", q, composeCheckoutRoute, time.Duration(v*float64(time.Second)).Round(time.Millisecond))
					return true, ""
				}
			}
			return false, fmt.Sprintf("samples %v", samples)
		})
	}
}

// composeAlert names an alert by its alertname and labels; each label value is a regular
// expression the alert's label must match in full, as a PromQL =~ matcher does.
type composeAlert map[string]string

func (a composeAlert) matches(labels map[string]string) bool {
	for k, re := range a {
		if ok, err := regexp.MatchString("^(?:"+re+")$", labels[k]); err != nil || !ok {
			return false
		}
	}
	return true
}

// composeReadinessAlert is the alert the kill of payment-1 raises, from the shipped
// rules.yml: Consul marks the replica's TTL check critical (DISCOVERY_CHECK_TTL, 10s),
// ReadinessFailing fires once that has held for its for: (30s), and resolves a minute
// (keep_firing_for) after the replica passes again.
//
// The breaker and ejection alerts do not fire in the test's phases: in the kill phase the
// cart's balancer steers calls to payment-2 (power of two choices, where a failure counts
// as a latency penalty) before payment-1 fails 5 in a row, so it ejects nothing (measured:
// 0 ejections), and the cart's retries keep its breaker closed; in the catalog phase the two breakers that open stay
// open a few seconds, against CircuitBreakerOpen's for: 1m. checkAlertInputs checks that
// their metrics reach Prometheus, so that they can fire.
var composeReadinessAlert = composeAlert{"alertname": "ReadinessFailing", "service": "payment", "instance": "payment-1:9083"}

// alertState returns the state of the active alert that want matches ("" when there is
// none).
func alertState(alerts []promAlert, want composeAlert) string {
	for _, a := range alerts {
		if want.matches(a.Labels) {
			return a.State
		}
	}
	return ""
}

// awaitAlerts polls Prometheus's active alerts until every one of want is in state
// ("firing", or "" for resolved: not active at all), within d, and returns how long each
// took to get there from since.
func (s *composeStack) awaitAlerts(t *testing.T, d time.Duration, since time.Time, state string, want ...composeAlert) []time.Duration {
	t.Helper()
	what := fmt.Sprintf("alerts %v %s", want, state)
	if state == "" {
		what = fmt.Sprintf("alerts %v resolved", want)
	}
	took := make([]time.Duration, len(want))
	s.await(t, d, what, func(ctx context.Context) (bool, string) {
		alerts, err := s.promAlerts(ctx)
		if err != nil {
			return false, err.Error()
		}
		done := true
		for i, w := range want {
			if took[i] == 0 && alertState(alerts, w) == state {
				took[i] = time.Since(since)
			}
			done = done && took[i] != 0
		}
		return done, fmt.Sprintf("active alerts %+v", alerts)
	})
	return took
}

// checkAlertInputs: the series the breaker and ejection alerts read are in Prometheus:
// the cart's breaker to payment (resilience_breaker_state, for CircuitBreakerOpen) and
// the cart's balancer's ejection counter of each payment instance
// (discovery_balancer_ejections_total, exported from 0, for InstanceEjected), closed and
// at 0 here.
func (s *composeStack) checkAlertInputs(t *testing.T) {
	t.Helper()
	for _, c := range []struct {
		q    string
		want int
	}{
		{`resilience_breaker_state{service="cart", resilience_name="cart/payment"} == 0`, composeConsulWant["cart"]},
		{`discovery_balancer_ejections_total{service="cart", exported_service="payment"} == 0`, composeConsulWant["cart"] * composeConsulWant["payment"]},
	} {
		s.await(t, 30*time.Second, c.q, func(ctx context.Context) (bool, string) {
			samples, err := s.promQuery(ctx, c.q)
			if err != nil {
				return false, err.Error()
			}
			return len(samples) == c.want, fmt.Sprintf("%d series %v, want %d", len(samples), samples, c.want)
		})
	}
	t.Logf("prometheus: each of the %d carts' breaker to payment (closed) and its ejection counters of the %d payment instances (0) are there for CircuitBreakerOpen and InstanceEjected", composeConsulWant["cart"], composeConsulWant["payment"])
}
