package envdoc_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/internal/envdoc"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the source")

const (
	begin = "<!-- BEGIN GENERATED: go test ./internal/envdoc -update -->\n"
	end   = "<!-- END GENERATED -->\n"
)

// TestConfigDocIsUpToDate fails when docs/config.md does not list exactly the
// variables the library's settings structs declare.
func TestConfigDocIsUpToDate(t *testing.T) {
	root := filepath.Join("..", "..")
	sections, err := envdoc.Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	gen := envdoc.Markdown(sections)
	path := filepath.Join(root, "docs", "config.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), begin)
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
	if diff := cmp.Diff(gen, old); diff != "" {
		t.Errorf("docs/config.md is stale; run `go test ./internal/envdoc -update` (-generated +file):\n%s", diff)
	}
}

func TestScanFindsKnownSettings(t *testing.T) {
	sections, err := envdoc.Scan(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, s := range sections {
		for _, v := range s.Vars {
			found[v.Name] = s.Package + "." + s.Type
		}
	}
	for name, where := range map[string]string{
		"OTEL_SERVICE_NAME":     "observability.TelemetrySettings",
		"LOG_LEVEL":             "observability.LogSettings",
		"HEALTH_CHECK_INTERVAL": "observability/health.Settings",
	} {
		if found[name] != where {
			t.Errorf("Scan: %s found in %q, want %q", name, found[name], where)
		}
	}
}
