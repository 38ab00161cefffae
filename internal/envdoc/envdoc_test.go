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

// TestOneHomePerDefault fails when a library settings struct sets a default with an
// envDefault tag. The zero value of a field means its default, which lives in one
// unexported constant and is stated by the field comment, where docs/config.md reads
// it; a tag would be a second home that code-built settings never see. Each
// package's TestDocumentedDefaults checks that the comment and the code agree.
func TestOneHomePerDefault(t *testing.T) {
	owned := map[string]bool{} // settings allowed to keep tags: none
	sections, err := envdoc.Scan(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sections {
		switch {
		case len(s.Tagged) > 0 && !owned[s.String()]:
			t.Errorf("%s: envDefault tags on %v: drop them, let the zero value mean the default (one constant) and state it in the field comment (\"Default X.\")", s, s.Tagged)
		case len(s.Tagged) == 0 && owned[s.String()]:
			t.Errorf("%s has no envDefault tags any more: remove it from the exceptions", s)
		}
	}
}

func TestDocumentedDefault(t *testing.T) {
	for doc, want := range map[string]string{
		"Timeout bounds it. Default 30s.":                         "30s",
		`Addr is the address. Default ":8080".`:                   ":8080",
		"Default 3, the most the SRE book recommends.":            "3",
		"Default 0.1 (10%, the SRE book's budget).":               "0.1",
		"Burst is the size. Default 0: max(1, Rate).":             "0",
		"MaxHeaderBytes bounds it. Default 65536\n(64 KiB).":      "65536",
		"Format is json or text. Default json (\"\" means json).": "json",
		"Default is the deadline given to requests. Default 0s.":  "0s",
		"Defaults 500ms and 2s.":                                  "",
		"Empty (the default) means no exporter.":                  "",
		"NoDefault here.":                                         "",
	} {
		if got := envdoc.DocumentedDefault(doc); got != want {
			t.Errorf("DocumentedDefault(%q) = %q, want %q", doc, got, want)
		}
	}
}
