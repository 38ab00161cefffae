package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/examples/internal/loadgen"
)

func TestRunRefusesNonLoopbackTargets(t *testing.T) {
	var out, errs bytes.Buffer
	err := run([]string{"-target", "http://10.1.2.3:8080"}, &out, &errs)
	if !errors.Is(err, loadgen.ErrNotLoopback) {
		t.Errorf("run(-target 10.1.2.3) = %v, want ErrNotLoopback", err)
	}
}

func TestRunPrintsAJSONReportLine(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.URL.Path == "/api/products":
			_, _ = w.Write([]byte(`[{"id":"p01","price_cents":100,"stock":500}]`))
		default:
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	defer gw.Close()
	var out, errs bytes.Buffer
	if err := run([]string{"-target", gw.URL, "-rate", "20", "-duration", "200ms", "-json"}, &out, &errs); err != nil {
		t.Fatalf("run() = %v, stderr %s", err, errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rep) != nil {
		t.Fatalf("run(-json) printed %q, want one JSON line", out.String())
	}
	if rep["scheduled"] != 4.0 || rep["failed"] != 4.0 || rep["failures_by_status"].(map[string]any)["503"] != 4.0 {
		t.Errorf("report = %v, want 4 scheduled, 4 failed with 503", rep)
	}
}
