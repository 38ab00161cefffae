package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// TestRampReportsTheHighestSustainedRate: with -rates, each rate runs in turn, and the
// capacity is the highest rate whose flows all succeeded in time; a gateway that starts
// refusing above 30 flows/s gives a capacity of 30, not 60.
func TestRampReportsTheHighestSustainedRate(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			// RunID "ramp" + "r<step>": step 2 (60/s) is refused.
			if strings.Contains(r.URL.Path, "rampr2-") {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusCreated)
		case r.URL.Path == "/api/products":
			_, _ = w.Write([]byte(`[{"id":"p01","price_cents":100,"stock":500}]`))
		default:
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	defer gw.Close()
	var out, errs bytes.Buffer
	cfg := loadgen.Config{Target: gw.URL, Duration: 200 * time.Millisecond, RunID: "ramp"}
	if err := ramp(t.Context(), cfg, "10,30,60", 0.999, 2*time.Second, false, &out); err != nil {
		t.Fatalf("ramp() = %v, stderr %s", err, errs.String())
	}
	if !strings.Contains(out.String(), "capacity: 30 flows/s") {
		t.Errorf("ramp() printed\n%s\nwant capacity: 30 flows/s", out.String())
	}
	// Goodput: at 30/s for 200 ms, 6 flows succeeded, 30 per second; at 60/s none did.
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 4 || strings.Fields(lines[2])[5] != "30.0" || strings.Fields(lines[3])[5] != "0.0" {
		t.Errorf("ramp() goodput columns of\n%s\nwant 30.0 at 30/s and 0.0 at 60/s", out.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 5 {
		t.Errorf("ramp() printed %d lines, want a header, 3 rates and the capacity:\n%s", n, out.String())
	}
	for _, bad := range []string{"10,x", "0", "10,-5"} {
		if err := ramp(t.Context(), cfg, bad, 0.999, time.Second, false, &out); !errors.Is(err, loadgen.ErrConfig) {
			t.Errorf("ramp(%q) = %v, want ErrConfig", bad, err)
		}
	}
}
