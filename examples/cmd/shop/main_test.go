package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestTour runs `shop -tour` in-process: every step of the walk-through must check
// out, and the story must report what it observed.
func TestTour(t *testing.T) {
	if testing.Short() {
		t.Skip("the tour waits for breakers to half-open (about 5s)")
	}
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"-tour", "-data", t.TempDir()}, &out, &errs); err != nil {
		t.Fatalf("run(-tour) = %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errs.String())
	}
	for _, want := range []string{
		"24 products", "PUT answers 401 with WWW-Authenticate: Bearer", "404, as for ones that do not exist",
		"Idempotent-Replayed: true", "holds 1 payment", "with the operator's token; alice's gets 403",
		"A breaker opened after checkout", "failed fast", "both closed again", "no double charge",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tour output lacks %q:\n%s", want, out.String())
		}
	}
}
