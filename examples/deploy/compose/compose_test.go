// Package compose_test checks examples/docker-compose.yml without a Docker engine: every
// container has a memory limit, and the Go runtime in it a GOMEMLIMIT of about 90% of it.
package compose_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// service is the part of a compose service this test reads. Environment is a map or
// a list of NAME=value in compose files.
type service struct {
	MemLimit    string `json:"mem_limit"`
	Environment any    `json:"environment"`
}

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
	if len(f.Services) < 10 {
		t.Fatalf("docker-compose.yml has %d services, want the shop's 12", len(f.Services))
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
		{"GOMEMLIMIT at the limit", service{MemLimit: "256m", Environment: map[string]any{"GOMEMLIMIT": "256MiB"}}},
		{"GOMEMLIMIT in bytes too low", service{MemLimit: "256m", Environment: []any{"GOMEMLIMIT=230"}}},
		{"unparsable", service{MemLimit: "lots", Environment: map[string]any{"GOMEMLIMIT": "230MiB"}}},
	} {
		if errs := checkMemory(map[string]service{"x": tc.s}); len(errs) == 0 {
			t.Errorf("checkMemory(%s) = no error, want one", tc.name)
		}
	}
	if errs := checkMemory(map[string]service{"x": {MemLimit: "1g", Environment: []any{"GOMEMLIMIT=921MiB"}}}); len(errs) != 0 {
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
