package gantry_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/gantry-go/gantry"

// layers ranks the library's top-level packages (docs/architecture.md, "Layers:
// imports only point down"). A package may depend, directly or through any chain of
// imports, only on packages of a lower rank and on its own subtree. Packages under
// internal/ have no rank: they may be imported from anywhere, and what they import
// counts against the packages that use them, because the check follows the
// transitive dependencies.
var layers = map[string]int{
	"config":        0,
	"transport":     1,
	"observability": 1,
	"resilience":    2,
	"discovery":     2,
	"":              3, // the root package gantry
}

// component returns the top-level directory of a module package ("" for the root)
// and whether the package belongs to the module at all.
func component(pkg string) (string, bool) {
	if pkg == module {
		return "", true
	}
	rest, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return "", false
	}
	top, _, _ := strings.Cut(rest, "/")
	return top, true
}

// violation says why pkg may not depend on dep, or returns "" when it may. test
// reports whether the dependency comes from test files only, which are held to the
// examples/bench rule alone.
func violation(pkg, dep string, test bool) string {
	if strings.HasPrefix(dep, module+"/examples") || strings.HasPrefix(dep, module+"/bench") {
		return "the library never imports the examples or bench modules"
	}
	top, _ := component(pkg)
	dtop, inModule := component(dep)
	if test || top == "internal" || !inModule || dtop == "internal" || dtop == top {
		return ""
	}
	rank, ok := layers[top]
	if !ok {
		return "top-level directory " + strconv.Quote(top) + " has no layer: add it to the layers table"
	}
	drank, ok := layers[dtop]
	if !ok {
		return "top-level directory " + strconv.Quote(dtop) + " has no layer: add it to the layers table"
	}
	if drank >= rank {
		return fmt.Sprintf("layer %d may only depend on lower layers, not on layer %d", rank, drank)
	}
	return ""
}

// TestLayering fails if a library package imports (transitively) a package at its
// own layer or above, or anything from the examples and bench modules. Test files
// are held to the second rule only.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-e",
		"-f", "{{.ImportPath}}|{{join .Deps \" \"}}|{{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	checked := 0
	for sc.Scan() {
		pkg, rest, _ := strings.Cut(sc.Text(), "|")
		deps, testImports, _ := strings.Cut(rest, "|")
		checked++
		for _, d := range strings.Fields(deps) {
			if why := violation(pkg, d, false); why != "" {
				t.Errorf("%s depends on %s: %s", pkg, d, why)
			}
		}
		for _, d := range strings.Fields(testImports) {
			if why := violation(pkg, d, true); why != "" {
				t.Errorf("tests of %s import %s: %s", pkg, d, why)
			}
		}
	}
	if checked < 3 {
		t.Errorf("checked only %d packages; is go list working?", checked)
	}
}

func TestViolation(t *testing.T) {
	m := module + "/"
	tests := []struct {
		pkg, dep string
		test     bool
		bad      bool
	}{
		{m + "resilience", m + "transport", false, false},
		{m + "discovery/consul", m + "discovery", false, false},
		{m + "discovery/consul", m + "observability/health", false, false},
		{module, m + "resilience", false, false},
		{m + "transport", m + "internal/httpx", false, false},
		{m + "transport", m + "config", false, false},
		{m + "transport", "net/http", false, false},
		{m + "transport", m + "observability", false, true},
		{m + "observability/health", m + "transport", false, true},
		{m + "transport", m + "resilience", false, true},
		{m + "discovery", m + "resilience/retry", false, true},
		{m + "resilience", module, false, true},
		{m + "config", m + "transport", false, true},
		{m + "newthing", m + "config", false, true},
		{m + "transport", m + "examples/catalog", false, true},
		{m + "transport", m + "bench", true, true},
		{m + "transport", m + "observability", true, false},
	}
	for _, tt := range tests {
		if got := violation(tt.pkg, tt.dep, tt.test) != ""; got != tt.bad {
			t.Errorf("violation(%s, %s, test=%v) = %v, want %v", tt.pkg, tt.dep, tt.test, got, tt.bad)
		}
	}
}
func TestComponent(t *testing.T) {
	tests := []struct {
		in     string
		top    string
		module bool
	}{
		{module, "", true},
		{module + "/transport", "transport", true},
		{module + "/discovery/consul", "discovery", true},
		{module + "/internal/httpx", "internal", true},
		{module + "x/other", "", false},
		{"net/http", "", false},
	}
	for _, tt := range tests {
		top, ok := component(tt.in)
		if top != tt.top || ok != tt.module {
			t.Errorf("component(%q) = %q, %v, want %q, %v", tt.in, top, ok, tt.top, tt.module)
		}
	}
}
