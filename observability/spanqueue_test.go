package observability_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/observability"
	"github.com/google/go-cmp/cmp"
)

// scrape returns the samples of GET /metrics from tel's handler, served over
// loopback, as "name{labels}" -> value.
func scrape(t *testing.T, tel *observability.Telemetry) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("GET /metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds the samples of metric name whose labels contain every one of labels
// (like `error_type="queue_full"`); none is `!error_type` for samples without one.
func sum(samples map[string]float64, name string, labels ...string) float64 {
	var n float64
	for k, v := range samples {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			if strings.HasPrefix(l, "!") {
				ok = ok && !strings.Contains(k, l[1:]+"=")
			} else {
				ok = ok && strings.Contains(k, l)
			}
		}
		if ok {
			n += v
		}
	}
	return n
}

// The names the Prometheus exporter gives the SDK self-observability metrics of the
// OTel semantic conventions (otel.sdk.processor.span.processed and so on).
const (
	processedMetric = "otel_sdk_processor_span_processed_total"
	exportedMetric  = "otel_sdk_exporter_span_exported_total"
	queueSizeMetric = "otel_sdk_processor_span_queue_size"
	queueCapMetric  = "otel_sdk_processor_span_queue_capacity"
)

// TestSpanQueueDropsAndCountsWhenTheCollectorHangs runs a real OTLP/HTTP export to a
// collector on loopback that answers, then hangs. With OTEL_BSP_MAX_QUEUE_SIZE=4 and
// batches of 4, four spans fill the queue and hang in the export; the next six end
// at once (a request never waits for telemetry) and are dropped. /metrics counts
// all of it: 3 exported, 6 dropped at a full queue, 4 failed to export (timeout).
func TestSpanQueueDropsAndCountsWhenTheCollectorHangs(t *testing.T) {
	var hang atomic.Bool
	arrived := make(chan struct{}, 10)
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path != "/v1/traces" || !hang.Load() {
			return
		}
		arrived <- struct{}{}
		<-r.Context().Done() // the exporter's timeout
	}))
	defer col.Close()
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL, "OTEL_EXPORTER_OTLP_TIMEOUT": "300",
		"OTEL_BSP_MAX_QUEUE_SIZE": "4", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4",
	}
	s, err := config.Load[observability.TelemetrySettings](config.WithEnvironment(env))
	if err != nil {
		t.Fatal(err)
	}
	tel, err := observability.NewTelemetry(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	tracer := tel.TracerProvider().Tracer("test")
	end := func(n int) {
		for range n {
			_, span := tracer.Start(context.Background(), "op")
			span.End()
		}
	}
	flush := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tel.TracerProvider().(interface{ ForceFlush(context.Context) error }).ForceFlush(ctx); err != nil {
			t.Fatalf("ForceFlush() = %v", err)
		}
	}

	end(3)
	flush()
	got := scrape(t, tel)
	want := map[string]float64{"processed": 3, "queue_full": 0, "exported": 3, "failed": 0, "size": 0, "capacity": 4}
	check := func(phase string) {
		t.Helper()
		m := map[string]float64{
			"processed":  sum(got, processedMetric, "!error_type"),
			"queue_full": sum(got, processedMetric, `error_type="queue_full"`),
			"exported":   sum(got, exportedMetric, "!error_type", `otel_component_type="otlp_http_span_exporter"`, `server_address="127.0.0.1"`),
			"failed":     sum(got, exportedMetric, `error_type="timeout"`),
			"size":       sum(got, queueSizeMetric),
			"capacity":   sum(got, queueCapMetric, `otel_component_type="batching_span_processor"`),
		}
		if diff := cmp.Diff(want, m); diff != "" {
			t.Errorf("%s: span counts on /metrics (-want +got):\n%s", phase, diff)
		}
	}
	check("collector answers")

	hang.Store(true)
	end(4) // a full batch: exported at once, and held until the export returns
	<-arrived
	start := time.Now()
	end(6)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("ending 6 spans with the queue full took %v, want no wait", d)
	}
	got = scrape(t, tel)
	want = map[string]float64{"processed": 7, "queue_full": 6, "exported": 3, "failed": 0, "size": 4, "capacity": 4}
	check("collector hangs")

	flush() // returns once the hung export has timed out
	got = scrape(t, tel)
	want = map[string]float64{"processed": 7, "queue_full": 6, "exported": 3, "failed": 4, "size": 0, "capacity": 4}
	check("export timed out")
}

func TestSpanQueueSettings(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string // the bad variables
	}{
		{map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "100"}, nil},
		{map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "100"}, nil}, // batches of 100
		{map[string]string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2048"}, nil},
		{map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "101"}, []string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE"}},
		{map[string]string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2049"}, []string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE"}},
		{map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "-1", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "-1"}, []string{"OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"}},
	}
	for _, tt := range tests {
		_, err := config.Load[observability.TelemetrySettings](config.WithEnvironment(tt.env))
		var got []string
		var cerr *config.Error
		if errors.As(err, &cerr) {
			got = cerr.Vars()
		} else if err != nil {
			t.Fatalf("Load(%v) = %v, want nil or a *config.Error", tt.env, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Load(%v) bad variables (-want +got):\n%s\n%v", tt.env, diff, err)
		}
	}
}
