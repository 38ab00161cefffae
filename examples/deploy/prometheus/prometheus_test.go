package prometheus_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"
	"sigs.k8s.io/yaml"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery/consul/consultest"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/examples/internal/promtest"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
)

// TestPromtool checks the shipped files with promtool as CI would before deploying them:
// the configuration (and the rule files it names), the rules with their linter, and the
// unit tests of rules_test.yml.
func TestPromtool(t *testing.T) {
	for _, args := range [][]string{
		{"check", "config", "--lint-fatal", "prometheus.yml"},
		{"check", "rules", "--lint-fatal", "rules.yml"},
		{"test", "rules", "rules_test.yml"},
	} {
		out, err := promtest.Promtool(t.Context(), t, ".", args...)
		if err != nil {
			t.Errorf("promtool %s = %v, want success:\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusOverConsul runs the one-process shop, registers its four services in a real
// Consul agent with the registrar and the settings their binaries use (DISCOVERY_SERVICE_META
// advertising the admin port), and a real Prometheus with the shipped prometheus.yml and
// rules.yml, pointed at that agent, scraping and evaluating every second. It then checks
// what an operator would look at: every instance Consul knows is up, a per-route p99 is
// there, Consul's readiness reaches the ReadinessFailing rule, and the cart's breaker to a
// failing payment raises CircuitBreakerOpen after a minute and clears it after recovery.
func TestPrometheusOverConsul(t *testing.T) {
	promtest.Dir(t) // skip (or fail under CI) before starting anything
	r := startRig(t)

	t.Run("every instance in Consul is up", func(t *testing.T) {
		want := r.consulInstances(t)
		for _, job := range []string{"gantry", "gantry-readiness"} {
			r.await(t, 60*time.Second, "up == 1 for every instance in Consul, job "+job, func(ctx context.Context) (bool, string) {
				got := map[string]string{}
				samples, err := r.prom.Query(ctx, `up{job="`+job+`"}`)
				if err != nil {
					return false, err.Error()
				}
				for _, s := range samples {
					if s.Value == 1 {
						got[s.Labels["instance"]] = s.Labels["service"]
					}
				}
				d := cmp.Diff(want, got)
				return d == "", "instances with up == 1 (-Consul +Prometheus):\n" + d
			})
		}
		targets, err := r.prom.Targets(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range targets {
			if u, err := url.Parse(tg.ScrapeURL); err != nil || u.Path != "/metrics" || want[u.Host] == "" {
				t.Errorf("target %s of %s: scrape URL not /metrics on a registered admin address %v", tg.ScrapeURL, tg.ScrapePool, want)
			}
			if tg.ScrapePool == "gantry-readiness" && tg.Labels["consul_health"] != "passing" {
				t.Errorf("target %s of gantry-readiness: consul_health=%q, want passing", tg.ScrapeURL, tg.Labels["consul_health"])
			}
		}
	})

	t.Run("p99 latency per route and service", func(t *testing.T) {
		stop := r.load(t, 20*time.Millisecond, r.shopper.browse)
		defer stop()
		for _, q := range []string{
			`service_route:http_server_request_duration_seconds:p99_1m{service="catalog", http_request_method="GET", http_route="/products/{id}"}`,
			`histogram_quantile(0.99, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{service="catalog"}[1m])))`,
			`service_route:http_server_requests:rate1m{service="gateway"}`,
		} {
			r.await(t, 30*time.Second, q, func(ctx context.Context) (bool, string) {
				samples, err := r.prom.Query(ctx, q)
				if err != nil {
					return false, err.Error()
				}
				for _, s := range samples {
					if s.Value > 0 && !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
						t.Logf("%s: %v = %.4g", q, s.Labels, s.Value)
						return true, ""
					}
				}
				return false, fmt.Sprintf("samples %v", samples)
			})
		}
	})

	t.Run("readiness failing in Consul reaches ReadinessFailing", func(t *testing.T) {
		// health returns catalog's consul_health as the gantry-readiness job has it, once it
		// has one target there.
		const q = `up{job="gantry-readiness", service="catalog"}`
		health := func(ctx context.Context) (string, string) {
			samples, err := r.prom.Query(ctx, q)
			if err != nil || len(samples) != 1 || samples[0].Value != 1 {
				return "", fmt.Sprint(q, " = ", samples, err)
			}
			return samples[0].Labels["consul_health"], fmt.Sprint(samples)
		}
		r.ready["catalog"].failing.Store(true)
		r.await(t, 45*time.Second, "catalog critical in Prometheus", func(ctx context.Context) (bool, string) {
			h, state := health(ctx)
			return h == "critical", state
		})
		r.await(t, 15*time.Second, "ReadinessFailing for catalog pending or firing", func(ctx context.Context) (bool, string) {
			alerts, err := r.prom.Alerts(ctx)
			return len(find(alerts, "ReadinessFailing", "service", "catalog")) == 1, fmt.Sprint(alerts, err)
		})
		// The gantry job's series keep their labels whatever Consul says.
		if samples, err := r.prom.Query(t.Context(), `up{job="gantry", service="catalog"}`); err != nil || len(samples) != 1 ||
			samples[0].Value != 1 || samples[0].Labels["consul_health"] != "" {
			t.Errorf(`up{job="gantry", service="catalog"} = %v, %v, want one series, 1, without consul_health`, samples, err)
		}
		r.ready["catalog"].failing.Store(false)
		r.await(t, 45*time.Second, "catalog passing again in Prometheus", func(ctx context.Context) (bool, string) {
			h, state := health(ctx)
			return h == "passing", state
		})
	})

	t.Run("CircuitBreakerOpen fires after a minute open and resolves", func(t *testing.T) {
		r.shop.Processor.SetFailing(true)
		stop := r.load(t, 50*time.Millisecond, r.shopper.checkout)
		defer stop()
		const open = `resilience_breaker_state{service="cart", resilience_name="cart/payment"} == 2`
		r.await(t, 30*time.Second, open, func(ctx context.Context) (bool, string) {
			samples, err := r.prom.Query(ctx, open)
			return err == nil && len(samples) == 1, fmt.Sprint(samples, err)
		})
		opened := time.Now()
		const errs = `service_route:http_server_request_error_ratio:rate1m{service="gateway", http_request_method="POST", http_route="/api/carts/"} > 0`
		r.await(t, 10*time.Second, errs, func(ctx context.Context) (bool, string) {
			samples, err := r.prom.Query(ctx, errs)
			return err == nil && len(samples) > 0, fmt.Sprint(samples, err)
		})
		var fired promtest.Alert
		r.await(t, 90*time.Second, "CircuitBreakerOpen firing for cart/payment", func(ctx context.Context) (bool, string) {
			alerts, err := r.prom.Alerts(ctx)
			for _, a := range find(alerts, "CircuitBreakerOpen", "resilience_name", "cart/payment") {
				if a.State == "firing" {
					fired = a
					return true, ""
				}
			}
			return false, fmt.Sprint(alerts, err)
		})
		if d := time.Since(opened); d < 55*time.Second {
			t.Errorf("CircuitBreakerOpen fired %v after Prometheus saw the breaker open, want about a minute (for: 1m)", d.Round(time.Second))
		}
		if s := fired.Annotations["summary"]; !strings.Contains(s, "cart/payment") || fired.Labels["severity"] != "page" ||
			fired.Labels["service"] != "cart" {
			t.Errorf("firing alert = %+v, want service=cart, severity=page and a summary naming cart/payment", fired)
		}

		r.shop.Processor.SetFailing(false)
		r.await(t, 60*time.Second, "no CircuitBreakerOpen alert after payment recovered", func(ctx context.Context) (bool, string) {
			alerts, err := r.prom.Alerts(ctx)
			active := find(alerts, "CircuitBreakerOpen", "", "")
			return err == nil && len(active) == 0, fmt.Sprint(active, err)
		})
	})

	t.Run("rules evaluate and use exported metrics", func(t *testing.T) {
		rules, err := r.prom.Rules(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(rules) == 0 {
			t.Fatal("Prometheus loaded no rules from rules.yml")
		}
		for _, rule := range rules {
			if rule.Health != "ok" {
				t.Errorf("rule %s (group %s) health %q: %s", rule.Name, rule.Group, rule.Health, rule.LastError)
			}
		}
		samples, err := r.prom.Query(t.Context(), `group by (__name__) ({job="gantry"})`)
		if err != nil {
			t.Fatal(err)
		}
		exported := map[string]bool{"up": true} // up is Prometheus's own, per target
		for _, s := range samples {
			exported[s.Labels["__name__"]] = true
		}
		used, recorded := ruleMetrics(t)
		for _, name := range used {
			reason, gap := notExported[name]
			switch {
			case strings.Contains(name, ":"):
				if !recorded[name] {
					t.Errorf("rules.yml uses %s, which no rule records", name)
				}
			case gap && exported[name]:
				t.Errorf("rules.yml: %s is exported now: remove it from notExported (%s)", name, reason)
			case gap:
				t.Logf("rules.yml uses %s, which no service exports yet: %s", name, reason)
			case !exported[name]:
				t.Errorf("rules.yml uses %s, which the services do not export; they export %v", name, keys(exported))
			}
		}
	})
}

// notExported lists the metrics rules.yml uses that no example service exports yet, and
// why. The test fails when one appears, so that the list stays true.
var notExported = map[string]string{}

// rig is the running shop, Consul agent and Prometheus of TestPrometheusOverConsul.
type rig struct {
	prom    *promtest.Prometheus
	shop    *shop.Shop
	consul  *api.Client
	ready   map[string]*readiness
	shopper *shopper
}

func startRig(t *testing.T) *rig {
	t.Helper()
	agent := consultest.Start(t)
	r := &rig{consul: agent.Client(), ready: map[string]*readiness{}}

	s, err := shop.New(t.Context(), shop.Options{
		DataDir:   t.TempDir(),
		RateLimit: resilience.RateLimitSettings{KeyRate: 10000, KeyBurst: 10000},
		Restock:   true,
	})
	if err != nil {
		t.Fatalf("shop.New() = %v", err)
	}
	r.shop = s
	shopCtx, stopShop := context.WithCancel(context.Background())
	shopDone := make(chan error, 1)
	go func() { shopDone <- s.Run(shopCtx) }()
	t.Cleanup(func() {
		stopShop()
		if err := <-shopDone; err != nil {
			t.Errorf("Shop.Run() = %v", err)
		}
	})
	tok, err := s.Token(t.Context(), "alice")
	if err != nil {
		t.Fatalf("Shop.Token(alice) = %v", err)
	}
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{}}
	r.shopper = &shopper{gw: s.URLs["gateway"], bearer: "Bearer " + tok,
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{}}}
	t.Cleanup(func() { probe.CloseIdleConnections(); r.shopper.client.CloseIdleConnections() })

	// Register each service as its binary does: platform.Settings from the environment,
	// platform.NewRegistrar, readiness reported through a TTL check.
	regCtx, stopRegs := context.WithCancel(context.Background())
	var regs sync.WaitGroup
	t.Cleanup(func() { stopRegs(); regs.Wait() }) // deregisters before the agent stops
	for _, name := range shop.Services() {
		apiAddr, admin := hostPort(t, s.URLs[name]), hostPort(t, s.AdminURLs[name])
		_, adminPort, _ := net.SplitHostPort(admin)
		env := map[string]string{
			"CONSUL_HTTP_ADDR":          agent.HTTPAddr(),
			"HTTP_ADDR":                 apiAddr,
			"ADMIN_ADDR":                admin,
			"DISCOVERY_SERVICE_ADDRESS": "127.0.0.1",
			"DISCOVERY_SERVICE_META":    "admin_port:" + adminPort,
		}
		cfg, err := config.Load[platform.Settings](config.WithEnvironment(env))
		if err != nil {
			t.Fatalf("config.Load(%v) = %v", env, err)
		}
		c, err := platform.ConsulClient(cfg.Discovery)
		if err != nil {
			t.Fatalf("ConsulClient() = %v", err)
		}
		r.ready[name] = &readiness{url: s.AdminURLs[name] + "/readyz", client: probe}
		reg, err := platform.NewRegistrar(c, r.ready[name], name, cfg, observability.Instrumentation{})
		if err != nil {
			t.Fatalf("NewRegistrar(%s) = %v", name, err)
		}
		regs.Go(func() {
			if err := reg.Run(regCtx); err != nil {
				t.Errorf("%s registrar: %v", name, err)
			}
		})
	}
	// Prometheus asks Consul at start, then at most every refresh_interval: start it once
	// every instance is passing, so the first answer has them all.
	r.await(t, 30*time.Second, "every service passing in Consul", func(ctx context.Context) (bool, string) {
		for _, name := range shop.Services() {
			entries, _, err := r.consul.Health().Service(name, "", true, (&api.QueryOptions{}).WithContext(ctx))
			if err != nil || len(entries) != 1 {
				return false, fmt.Sprintf("%s: %d passing instances, %v", name, len(entries), err)
			}
		}
		return true, ""
	})

	rules, err := os.ReadFile("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	r.prom = promtest.Start(t, testConfig(t, agent.HTTPAddr()), map[string]string{"rules.yml": string(rules)})
	return r
}

// testConfig returns the shipped prometheus.yml pointed at the agent at consulAddr,
// asking it for changes every second, scraping and evaluating every second.
func testConfig(t *testing.T, consulAddr string) string {
	t.Helper()
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, e := range []struct {
		old, new string
		n        int
	}{
		{"server: consul:8500", "server: " + consulAddr + "\n        refresh_interval: 1s", 2},
		{"scrape_interval: 15s", "scrape_interval: 1s", 1},
		{"evaluation_interval: 15s", "evaluation_interval: 1s", 1},
	} {
		if n := strings.Count(cfg, e.old); n != e.n {
			t.Fatalf("prometheus.yml has %q %d times, want %d (the test rewrites it)", e.old, n, e.n)
		}
		cfg = strings.ReplaceAll(cfg, e.old, e.new)
	}
	return cfg
}

// consulInstances returns the admin address (host:admin_port) and service of every
// instance registered in Consul with an admin_port, as Consul's catalog lists them.
func (r *rig) consulInstances(t *testing.T) map[string]string {
	t.Helper()
	services, _, err := r.consul.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for name := range services {
		entries, _, err := r.consul.Catalog().Service(name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if p := e.ServiceMeta["admin_port"]; p != "" {
				out[net.JoinHostPort(e.ServiceAddress, p)] = e.ServiceName
			}
		}
	}
	if len(out) != len(shop.Services()) {
		t.Fatalf("Consul lists %v with an admin port, want the %d services %v", out, len(shop.Services()), shop.Services())
	}
	return out
}

// await polls cond every 250ms until it reports done, and fails t when it has not
// within d, with what cond last said. Prometheus scrapes and evaluates on its own clock:
// polling its API is the only way to see a state from outside.
func (r *rig) await(t *testing.T, d time.Duration, what string, cond func(context.Context) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	last := "nothing yet"
	for {
		done, state := cond(ctx)
		if done {
			t.Logf("%s: after %v", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if ctx.Err() == nil { // else state says only that the deadline passed
			last = state
		}
		select {
		case <-ctx.Done():
			out := ""
			if r.prom != nil {
				out = "\nprometheus output:\n" + r.prom.Output()
			}
			t.Fatalf("%s: not within %v; last: %s%s", what, d, last, out)
		case <-tick.C:
		}
	}
}

// load calls f every interval in a goroutine until the returned stop is called, which
// waits for it. Errors of f are counted, not fatal: the shop fails requests on purpose.
func (r *rig) load(t *testing.T, interval time.Duration, f func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var calls, failed atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if calls.Add(1); f(ctx) != nil {
				failed.Add(1)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			t.Logf("load: %d calls, %d failed", calls.Load(), failed.Load())
		})
	}
}

// readiness is the Readiness a service's registrar reports to Consul: its admin
// listener's /readyz (the health registry the binary would pass), unless failing is set.
type readiness struct {
	url     string
	client  *http.Client
	failing atomic.Bool
}

func (r *readiness) Ready() bool {
	if r.failing.Load() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return false
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// shopper drives the shop through the gateway as the demo user alice.
type shopper struct {
	gw, bearer string
	client     *http.Client
	n          atomic.Int64
}

// browse lists the products and reads one.
func (s *shopper) browse(ctx context.Context) error {
	for _, path := range []string{"/api/products", "/api/products/p01"} {
		if st, err := s.do(ctx, http.MethodGet, path, "", ""); err != nil || st != http.StatusOK {
			return fmt.Errorf("GET %s = %d, %v", path, st, err)
		}
	}
	return nil
}

// checkout puts one item in a new cart and checks it out; an error means it was not
// paid.
func (s *shopper) checkout(ctx context.Context) error {
	id := fmt.Sprintf("prom%d", s.n.Add(1))
	if st, err := s.do(ctx, http.MethodPut, "/api/carts/"+id+"/items/p01", `{"quantity":1}`, ""); err != nil || st != http.StatusOK {
		return fmt.Errorf("PUT item = %d, %v", st, err)
	}
	if st, err := s.do(ctx, http.MethodPost, "/api/carts/"+id+"/checkout", "", id+"-key"); err != nil || st != http.StatusCreated {
		return fmt.Errorf("checkout = %d, %v", st, err)
	}
	return nil
}

func (s *shopper) do(ctx context.Context, method, path, body, key string) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.gw+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", s.bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// find returns the alerts named name whose label key is value (any, when key is "").
func find(alerts []promtest.Alert, name, key, value string) []promtest.Alert {
	var out []promtest.Alert
	for _, a := range alerts {
		if a.Labels["alertname"] == name && (key == "" || a.Labels[key] == value) {
			out = append(out, a)
		}
	}
	return out
}

// ruleMetrics returns the metric names the expressions of rules.yml select, sorted, and
// the names its recording rules define.
func ruleMetrics(t *testing.T) (used []string, recorded map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Record string `json:"record"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("rules.yml: %v", err)
	}
	var (
		quoted   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
		matchers = regexp.MustCompile(`\{[^}]*\}`)
		grouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
		ranges   = regexp.MustCompile(`\[[^\]]*\]`)
		ident    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
		keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}
	)
	recorded = map[string]bool{}
	seen := map[string]bool{}
	for _, g := range file.Groups {
		for _, rule := range g.Rules {
			if rule.Record != "" {
				recorded[rule.Record] = true
			}
			e := quoted.ReplaceAllString(rule.Expr, "")
			e = matchers.ReplaceAllString(e, "")
			e = grouping.ReplaceAllString(e, "")
			e = ranges.ReplaceAllString(e, "")
			for _, m := range ident.FindAllString(e, -1) {
				if strings.HasSuffix(m, "(") || keywords[m] { // a function or a keyword
					continue
				}
				seen[m] = true
			}
		}
	}
	used = keys(seen)
	if len(used) == 0 {
		t.Fatal("found no metric names in rules.yml")
	}
	return used, recorded
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hostPort returns the host:port of a base URL.
func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("url.Parse(%q) = %v, %v", raw, u, err)
	}
	return u.Host
}
