package examples_test

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeQuickStart keeps the README's quick start identical to the program that
// compiles: examples/cmd/quickstart/main.go. Run scripts/readme-quickstart.sh to update it.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("cmd/quickstart/main.go")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- quickstart:begin -->\n```go\n", "```\n<!-- quickstart:end -->"
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no quickstart block between %q and %q", begin, end)
	}
	if got := s[i+len(begin) : j]; got != string(src) {
		t.Errorf("README.md quick start differs from cmd/quickstart/main.go; run scripts/readme-quickstart.sh")
	}
}
