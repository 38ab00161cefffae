// Package compose_test checks examples/docker-compose.yml and its files without a Docker
// engine: every container has a memory limit, and the Go runtime in it a GOMEMLIMIT of
// about 90% of it; the observability profile's prometheus.yml is the shipped one
// (examples/deploy/prometheus) with only the compose differences, and promtool accepts it.
package compose_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/gantry-go/gantry/examples/internal/promtest"
)

// service is the part of a compose service this test reads. Environment is a map or
// a list of NAME=value in compose files.
type service struct {
	Image       string `json:"image"`
	MemLimit    string `json:"mem_limit"`
	Environment any    `json:"environment"`
}

// notGo reports whether the service's program is not a Go binary, so that GOMEMLIMIT
// means nothing to it (PostgreSQL); it still needs a memory limit.
func (s service) notGo() bool { return strings.HasPrefix(s.Image, "postgres:") }

// env returns the service's environment as a map.
func (s service) env() map[string]string {
	out := map[string]string{}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			out[k] = fmt.Sprint(v)
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = v
		}
	}
	return out
}

// TestEveryContainerHasAMemoryLimitAndGOMEMLIMIT: each service of the compose file,
// profiles included, sets mem_limit and a GOMEMLIMIT between 85% and 95% of it.
func TestEveryContainerHasAMemoryLimitAndGOMEMLIMIT(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]service `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(f.Services) < 14 {
		t.Fatalf("docker-compose.yml has %d services, want the shop's 14", len(f.Services))
	}
	for _, err := range checkMemory(f.Services) {
		t.Error(err)
	}
}

// TestCheckMemoryCatches: the check fails a service without a limit, without
// GOMEMLIMIT, or with one that does not fit the limit.
func TestCheckMemoryCatches(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    service
	}{
		{"no mem_limit", service{Environment: map[string]any{"GOMEMLIMIT": "230MiB"}}},
		{"no GOMEMLIMIT", service{MemLimit: "256m"}},
		{"no GOMEMLIMIT, a Go image", service{Image: "gantry-examples/cart:dev", MemLimit: "256m"}},
		{"postgres without mem_limit", service{Image: "postgres:15"}},
		{"GOMEMLIMIT at the limit", service{MemLimit: "256m", Environment: map[string]any{"GOMEMLIMIT": "256MiB"}}},
		{"GOMEMLIMIT in bytes too low", service{MemLimit: "256m", Environment: []any{"GOMEMLIMIT=230"}}},
		{"unparsable", service{MemLimit: "lots", Environment: map[string]any{"GOMEMLIMIT": "230MiB"}}},
	} {
		if errs := checkMemory(map[string]service{"x": tc.s}); len(errs) == 0 {
			t.Errorf("checkMemory(%s) = no error, want one", tc.name)
		}
	}
	if errs := checkMemory(map[string]service{"x": {MemLimit: "1g", Environment: []any{"GOMEMLIMIT=921MiB"}},
		"db": {Image: "postgres:15", MemLimit: "512m"}}); len(errs) != 0 {
		t.Errorf("checkMemory(1g, 921MiB) = %v, want none", errs)
	}
}

func checkMemory(services map[string]service) []error {
	var names []string
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		s := services[n]
		limit, err := dockerBytes(s.MemLimit)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: mem_limit %q: %v", n, s.MemLimit, err))
			continue
		}
		v, ok := s.env()["GOMEMLIMIT"]
		if !ok && s.notGo() {
			continue
		}
		if !ok {
			errs = append(errs, fmt.Errorf("service %s: no GOMEMLIMIT (mem_limit %s)", n, s.MemLimit))
			continue
		}
		soft, err := goBytes(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: GOMEMLIMIT %q: %v", n, v, err))
			continue
		}
		if r := float64(soft) / float64(limit); r < 0.85 || r > 0.95 {
			errs = append(errs, fmt.Errorf("service %s: GOMEMLIMIT %s is %.0f%% of mem_limit %s, want 85-95%%", n, v, 100*r, s.MemLimit))
		}
	}
	return errs
}

// dockerBytes parses a compose memory size: a number with an optional b, k, m or g
// suffix (powers of 1024).
func dockerBytes(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("missing")
	}
	mult := int64(1)
	switch strings.ToLower(s[len(s)-1:]) {
	case "b":
		s = s[:len(s)-1]
	case "k":
		mult, s = 1<<10, s[:len(s)-1]
	case "m":
		mult, s = 1<<20, s[:len(s)-1]
	case "g":
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a size")
	}
	return n * mult, nil
}

// goBytes parses GOMEMLIMIT as the Go runtime does: a number of bytes with an
// optional B, KiB, MiB, GiB or TiB suffix.
func goBytes(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a size the Go runtime reads")
	}
	return n * mult, nil
}

// composeOnly is what examples/deploy/compose/prometheus.yml may add to or change in the
// shipped examples/deploy/prometheus/prometheus.yml: a token for Consul's ACLs and faster
// clocks. Everything else (jobs, relabelling, rule files) must be the shipped file's, so
// that the compose profile runs the configuration users deploy.
var composeOnly = struct {
	global        map[string]any // global settings replaced
	consulSDExtra map[string]any // keys added to every consul_sd_configs entry
}{
	global: map[string]any{"scrape_interval": "5s", "evaluation_interval": "5s"},
	consulSDExtra: map[string]any{
		"refresh_interval": "5s",
		"authorization":    map[string]any{"credentials_file": "/acl/prometheus.token"},
	},
}

// TestPrometheusConfigIsTheShippedOne: the compose prometheus.yml is the shipped one
// plus composeOnly, and nothing else.
func TestPrometheusConfigIsTheShippedOne(t *testing.T) {
	shipped := readYAML(t, filepath.Join("..", "prometheus", "prometheus.yml"))
	compose := readYAML(t, "prometheus.yml")
	if err := undoComposeOnly(compose, shipped); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if d := cmp.Diff(shipped, compose); d != "" {
		t.Errorf("examples/deploy/compose/prometheus.yml differs from examples/deploy/prometheus/prometheus.yml beyond the token and the intervals (-shipped +compose):\n%s", d)
	}
}

// TestUndoComposeOnlyCatches: a compose config missing the token, with another token
// file, or with a different relabelling is reported.
func TestUndoComposeOnlyCatches(t *testing.T) {
	shipped := readYAML(t, filepath.Join("..", "prometheus", "prometheus.yml"))
	for _, tc := range []struct {
		name   string
		mutate func(cfg map[string]any)
	}{
		{"no token", func(cfg map[string]any) { delete(consulSD(cfg)[0].(map[string]any), "authorization") }},
		{"another token file", func(cfg map[string]any) {
			consulSD(cfg)[0].(map[string]any)["authorization"] = map[string]any{"credentials_file": "/acl/gateway.token"}
		}},
		{"a relabelling changed", func(cfg map[string]any) {
			job := cfg["scrape_configs"].([]any)[0].(map[string]any)
			job["relabel_configs"].([]any)[0].(map[string]any)["regex"] = ".*"
		}},
		{"another rule file", func(cfg map[string]any) { cfg["rule_files"] = []any{"other.yml"} }},
	} {
		compose := readYAML(t, "prometheus.yml")
		tc.mutate(compose)
		err := undoComposeOnly(compose, shipped)
		if err == nil && cmp.Diff(shipped, compose) == "" {
			t.Errorf("%s: compose prometheus.yml accepted as the shipped one", tc.name)
		}
	}
}

// TestPromtoolChecksPrometheusConfig: promtool accepts the compose prometheus.yml with the
// shipped rules.yml beside it (as docker-compose.yml mounts them), linter included.
func TestPromtoolChecksPrometheusConfig(t *testing.T) {
	promtest.Dir(t) // skip (or fail under CI) without promtool
	dir := t.TempDir()
	for dst, src := range map[string]string{"prometheus.yml": "prometheus.yml", "rules.yml": filepath.Join("..", "prometheus", "rules.yml")} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := promtest.Promtool(t.Context(), t, dir, "check", "config", "--lint-fatal", "prometheus.yml"); err != nil {
		t.Errorf("promtool check config --lint-fatal prometheus.yml = %v, want success:\n%s", err, out)
	}
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

// consulSD returns the consul_sd_configs entries of every scrape config of cfg.
func consulSD(cfg map[string]any) []any {
	var out []any
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		sd, _ := job["consul_sd_configs"].([]any)
		out = append(out, sd...)
	}
	return out
}

// undoComposeOnly checks that compose has composeOnly's values and puts the shipped
// values back in their place, so that what is left compares equal to shipped exactly
// when nothing else differs.
func undoComposeOnly(compose, shipped map[string]any) error {
	g, _ := compose["global"].(map[string]any)
	sg, _ := shipped["global"].(map[string]any)
	for k, want := range composeOnly.global {
		if !cmp.Equal(g[k], want) {
			return fmt.Errorf("global.%s = %v, want %v", k, g[k], want)
		}
		g[k] = sg[k]
	}
	sd := consulSD(compose)
	if len(sd) == 0 {
		return fmt.Errorf("no consul_sd_configs")
	}
	for i, e := range sd {
		entry, _ := e.(map[string]any)
		for k, want := range composeOnly.consulSDExtra {
			if !cmp.Equal(entry[k], want) {
				return fmt.Errorf("consul_sd_configs entry %d: %s = %v, want %v", i, k, entry[k], want)
			}
			delete(entry, k)
		}
	}
	return nil
}
