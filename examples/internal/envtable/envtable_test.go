package envtable_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/examples/internal/envtable"
)

var update = flag.Bool("update", false, "rewrite docs/examples-config.md and the read-by block of docs/config.md from the source")

const (
	regenerate = "cd examples && go test ./internal/envtable -update"

	examplesBegin = "<!-- BEGIN GENERATED: " + regenerate + " -->\n"
	examplesEnd   = "<!-- END GENERATED -->\n"
	readByBegin   = "<!-- BEGIN GENERATED READ-BY: " + regenerate + " -->\n"
	readByEnd     = "<!-- END GENERATED READ-BY -->\n"
)

// unread is the allow-list of library variables that docs/config.md documents and
// no shipped service reads, each with the reason it stays documented. The test
// fails when a documented variable is neither read nor listed here, and when an
// entry here is read by a service or no longer documented.
func unread() map[string]string {
	const bulkhead = "resilience.NewBulkhead's own settings, for a service that puts a bulkhead in front of its API; " +
		"no shipped service does (their client stacks' bulkhead is CLIENT_BULKHEAD_ENABLED and CLIENT_BULKHEAD_*)"
	m := map[string]string{
		"BULKHEAD_MAX_CONCURRENT": bulkhead,
		"BULKHEAD_MAX_QUEUE":      bulkhead,
		"BULKHEAD_QUEUE_TIMEOUT":  bulkhead,
		"BULKHEAD_MAX_KEYS":       bulkhead,
		"BULKHEAD_IDLE_TIMEOUT":   bulkhead,
	}
	return m
}

// notShipped lists the main packages with a Config loaded by config.Load that are
// not shipped services, and why.
func notShipped() map[string]string {
	return map[string]string{
		"cmd/quickstart": "the README's quick start; no compose or Kubernetes manifest runs it",
	}
}

type fixture struct {
	roots    envtable.Roots
	services []envtable.Service
	library  []envtable.LibraryVar
	config   string // docs/config.md
}

func load(t *testing.T) fixture {
	t.Helper()
	roots, err := envtable.FindRoots(".")
	if err != nil {
		t.Fatal(err)
	}
	services, err := envtable.ScanAll(roots)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(roots.Library, "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	library, err := envtable.ParseLibrary(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{roots: roots, services: services, library: library, config: string(b)}
}

// checkBlock compares the block of file between begin and end with gen, or rewrites
// it under -update.
func checkBlock(t *testing.T, path, begin, end, gen string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(b), begin)
	old, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the generated-section markers %q and %q", path, begin, end)
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+begin+gen+end+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if old != gen {
		t.Errorf("%s is stale; run `%s`. First difference:\n%s", filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), regenerate, firstDiff(gen, old))
	}
}

func firstDiff(gen, old string) string {
	g, o := strings.Split(gen, "\n"), strings.Split(old, "\n")
	for i := range max(len(g), len(o)) {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(o) {
			b = o[i]
		}
		if a != b {
			return "\tgenerated: " + a + "\n\tfile:      " + b
		}
	}
	return ""
}

// TestExamplesConfigDocIsUpToDate fails when docs/examples-config.md does not show
// exactly the variables each shipped service's Config reads, with its defaults.
func TestExamplesConfigDocIsUpToDate(t *testing.T) {
	f := load(t)
	checkBlock(t, filepath.Join(f.roots.Library, "docs", "examples-config.md"), examplesBegin, examplesEnd, envtable.Markdown(f.services))
}

// TestConfigDocReadByIsUpToDate fails when the read-by block of docs/config.md does
// not say which shipped services read each library variable.
func TestConfigDocReadByIsUpToDate(t *testing.T) {
	f := load(t)
	checkBlock(t, filepath.Join(f.roots.Library, "docs", "config.md"), readByBegin, readByEnd, envtable.ReadByMarkdown(f.library, f.services, unread()))
}

// TestEveryLibraryVariableIsReadOrAllowListed fails when docs/config.md documents a
// variable that no shipped service reads and that the allow-list does not explain,
// and when the allow-list names a variable that a service reads or that is no longer
// documented.
func TestEveryLibraryVariableIsReadOrAllowListed(t *testing.T) {
	f := load(t)
	allow := unread()
	documented := map[string]bool{}
	for _, l := range f.library {
		documented[l.Name] = true
		by := envtable.ReadBy(l, f.services)
		_, listed := allow[l.Name]
		switch {
		case len(by) == 0 && !listed:
			t.Errorf("docs/config.md documents %s (%s), which no shipped service reads: read it in a service's Config, drop it from the library, or add it with its reason to unread() in %s",
				l.Name, l.Section, "examples/internal/envtable/envtable_test.go")
		case len(by) > 0 && listed:
			t.Errorf("unread() lists %s, but %v read it: remove it from the allow-list", l.Name, by)
		}
	}
	for name := range allow {
		if !documented[name] {
			t.Errorf("unread() lists %s, which docs/config.md no longer documents: remove it", name)
		}
	}
}

// TestLibraryVariablesAgreeWithConfigDoc fails when a library variable a service
// reads has, in the examples' tables, another default or description than in
// docs/config.md (envtable reads comments as internal/envdoc does, and this is
// where the two would part).
func TestLibraryVariablesAgreeWithConfigDoc(t *testing.T) {
	f := load(t)
	rows := map[[2]string]envtable.LibraryVar{}
	for _, l := range f.library {
		rows[[2]string{l.Section, l.Name}] = l
	}
	checked := 0
	for _, svc := range f.services {
		for _, v := range svc.Vars {
			if !v.Library() {
				continue
			}
			l, ok := rows[[2]string{v.Section(), v.Key}]
			if !ok {
				t.Errorf("%s reads %s of %s, which docs/config.md does not document", svc.Name, v.Name, v.Section())
				continue
			}
			doc := config.Var{Name: v.Key, Description: v.Description, Secret: v.Secret, Required: v.Required}.Doc()
			if l.Default != v.Default || l.Doc != strings.ReplaceAll(doc, "\n", " ") {
				t.Errorf("%s: %s of %s: envtable gives default %q and %q, docs/config.md %q and %q",
					svc.Name, v.Name, v.Section(), v.Default, doc, l.Default, l.Doc)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no library variable checked")
	}
}

// TestEnvironDefaultsAreVariables fails when a main.go gives a default to a variable
// its Config does not read: a typo there would silently do nothing.
func TestEnvironDefaultsAreVariables(t *testing.T) {
	f := load(t)
	for _, svc := range f.services {
		for name := range svc.Defaults {
			if !slices.ContainsFunc(svc.Vars, func(v envtable.Var) bool { return v.Name == name }) {
				t.Errorf("%s: main.go passes a default for %s to platform.Environ, but its Config does not read %s", svc.Name, name, name)
			}
		}
	}
}

// TestEveryServiceHasATable fails when a main package of the examples loads a
// Config with config.Load and is neither a shipped service nor explained in
// notShipped.
func TestEveryServiceHasATable(t *testing.T) {
	f := load(t)
	shipped := map[string]bool{}
	for _, s := range envtable.Shipped() {
		shipped[s.Dir] = true
	}
	mains, err := filepath.Glob(filepath.Join(f.roots.Examples, "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(f.roots.Examples, "cmd", "*", "main.go"))
	skip := notShipped()
	for _, m := range append(mains, more...) {
		src, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		dir, _ := filepath.Rel(f.roots.Examples, filepath.Dir(m))
		dir = filepath.ToSlash(dir)
		loads := strings.Contains(string(src), "type Config struct") && strings.Contains(string(src), "config.Load[Config]")
		switch _, excused := skip[dir]; {
		case loads && !shipped[dir] && !excused:
			t.Errorf("examples/%s loads a Config but has no table: add it to envtable.Shipped (and a CheckLoaded test), or to notShipped with the reason", dir)
		case excused && shipped[dir]:
			t.Errorf("examples/%s is both shipped and in notShipped", dir)
		}
	}
}
