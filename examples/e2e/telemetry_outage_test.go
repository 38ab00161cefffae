package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/jaegertest"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
)

// outageQueue is OTEL_BSP_MAX_QUEUE_SIZE in the outage test: each service holds at
// most this many ended spans for export, so the four hold a few hundred KiB at most.
const outageQueue = 64

// startOutageShop runs the one-process shop exporting every span over OTLP/HTTP to j,
// like startJaegerShop, with each service's batch span processor bounded to
// outageQueue spans (in batches of 16) and exports bounded by exportTimeout. The
// stock is topped up as it sells and the per-client rate limit is out of the way, so
// that only telemetry could fail a checkout.
func startOutageShop(t *testing.T, j *jaegertest.Jaeger, exportTimeout time.Duration) *jaegerShop {
	t.Helper()
	js := &jaegerShop{tels: map[string]*observability.Telemetry{}}
	o := shop.Options{DataDir: t.TempDir(), Restock: true,
		RateLimit: resilience.RateLimitSettings{KeyRate: 100000, KeyBurst: 100000}}
	o.Instrument = func(service string) observability.Instrumentation {
		env := map[string]string{
			"OTEL_SERVICE_NAME":              service,
			"OTEL_EXPORTER_OTLP_ENDPOINT":    j.OTLPEndpoint(),
			"OTEL_EXPORTER_OTLP_PROTOCOL":    observability.ProtocolHTTP,
			"OTEL_EXPORTER_OTLP_TIMEOUT":     strconv.Itoa(int(exportTimeout / time.Millisecond)),
			"OTEL_TRACES_SAMPLER":            observability.SamplerAlwaysOn,
			"OTEL_BSP_MAX_QUEUE_SIZE":        strconv.Itoa(outageQueue),
			"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
		}
		s, err := config.Load[observability.TelemetrySettings](config.WithEnvironment(env))
		if err != nil {
			t.Fatalf("config.Load(%v) = %v", env, err)
		}
		tel, err := observability.NewTelemetry(context.Background(), s)
		if err != nil {
			t.Fatalf("NewTelemetry(%+v) = %v", s, err)
		}
		js.tels[service] = tel
		return tel.Instrumentation(nil)
	}
	s, err := shop.New(context.Background(), o)
	if err != nil {
		t.Fatalf("shop.New() = %v", err)
	}
	js.Shop = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	js.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Shop.Run() = %v", err)
			}
		})
	}
	t.Cleanup(func() {
		js.stop()
		_ = js.shutdownTelemetry(2 * time.Second) // Jaeger is down: the flush fails
	})
	return js
}

// spanCounts are one service's span counters, as its /metrics shows them (the
// semantic conventions' SDK self-observability metrics, see docs/observability.md).
type spanCounts struct {
	processed, queueFull float64 // otel_sdk_processor_span_processed_total without and with error_type="queue_full"
	exported, failed     float64 // otel_sdk_exporter_span_exported_total without and with an error_type
	queued, capacity     float64 // otel_sdk_processor_span_queue_size and _capacity
}

// dropped is every span that never reached the collector: dropped at a full queue or
// lost in a failed export.
func (c spanCounts) dropped() float64 { return c.queueFull + c.failed }

// scrapeSpans reads tel's GET /metrics (served on loopback, as the service's admin
// server mounts it) and returns its span counters.
func scrapeSpans(t *testing.T, tel *observability.Telemetry) spanCounts {
	t.Helper()
	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c spanCounts
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series, errType := line[:i], strings.Contains(line, "error_type=")
		switch {
		case strings.HasPrefix(series, "otel_sdk_processor_span_processed_total{") && strings.Contains(series, `error_type="queue_full"`):
			c.queueFull += v
		case strings.HasPrefix(series, "otel_sdk_processor_span_processed_total{") && !errType:
			c.processed += v
		case strings.HasPrefix(series, "otel_sdk_exporter_span_exported_total{") && errType:
			c.failed += v
		case strings.HasPrefix(series, "otel_sdk_exporter_span_exported_total{"):
			c.exported += v
		case strings.HasPrefix(series, "otel_sdk_processor_span_queue_size{"):
			c.queued += v
		case strings.HasPrefix(series, "otel_sdk_processor_span_queue_capacity{"):
			c.capacity += v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

// tryCheckout puts one item in cart id through the gateway and checks it out, and
// says what went wrong unless the order is paid.
func tryCheckout(client *http.Client, gw, bearer, id string) error {
	do := func(method, path, body string) (int, []byte, error) {
		req, _ := http.NewRequest(method, gw+path, strings.NewReader(body))
		req.Header.Set("Authorization", bearer)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if method == http.MethodPost {
			req.Header.Set("Idempotency-Key", id+"-key")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	if st, b, err := do("PUT", "/api/carts/"+id+"/items/p01", `{"quantity":1}`); err != nil || st != http.StatusOK {
		return fmt.Errorf("PUT /api/carts/%s/items/p01 = %d %s (%v), want 200", id, st, b, err)
	}
	st, b, err := do("POST", "/api/carts/"+id+"/checkout", "")
	var co cart.CheckoutBody
	if err != nil || st != http.StatusCreated || json.Unmarshal(b, &co) != nil || co.Status != "paid" {
		return fmt.Errorf("POST /api/carts/%s/checkout = %d %s (%v), want 201 paid", id, st, b, err)
	}
	return nil
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestTelemetryOutageDropsSpansNotCheckouts exports the shop's spans to a real Jaeger,
// then stops Jaeger, killed (connections refused) or frozen (connections accepted,
// never answered), and runs outageCheckouts checkouts through the gateway, four at a
// time. What a user of the shop notices: every checkout is paid. What an operator
// notices: each service's /metrics counts the spans that never reached Jaeger (above
// 0: failed exports when killed, a full queue when frozen), no service holds more
// than OTEL_BSP_MAX_QUEUE_SIZE spans, and the process's live heap after the outage
// is within heapBound of the heap before it. The four queues hold 256 spans, about
// 0.25 MiB; the outage's spans (about 23 a checkout, 0.9 KiB each) would be about
// 12 MiB if they were all kept: with the admission bound taken out of
// observability's span queue, the frozen case grew the heap by 7.9 MiB in 400
// checkouts.
func TestTelemetryOutageDropsSpansNotCheckouts(t *testing.T) {
	const outageCheckouts, workers, heapBound = 600, 4, 4 << 20
	for _, tc := range []struct {
		name string
		stop func(*jaegertest.Jaeger) error
		// lost says which count shows the drops: failed exports when Jaeger refuses
		// connections at once, a full queue when every export hangs for its timeout.
		lost func(spanCounts) float64
	}{
		{"killed", func(j *jaegertest.Jaeger) error { j.Stop(); return nil }, func(c spanCounts) float64 { return c.failed }},
		{"frozen", (*jaegertest.Jaeger).Freeze, func(c spanCounts) float64 { return c.queueFull }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := jaegertest.Start(t)
			s := startOutageShop(t, j, 5*time.Second)
			gw := s.URLs["gateway"]
			bearer := "Bearer " + token(t, s.Shop, "alice")
			client := &http.Client{Timeout: 30 * time.Second}
			defer client.CloseIdleConnections()

			// Export works while Jaeger runs: a checkout's trace reaches it, and
			// nothing is dropped.
			for i := range 20 { // warm the shop up: connections, caches, pools
				if err := tryCheckout(client, gw, bearer, "outage-warm-"+strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
			s.forceFlush(t)
			awaitCheckoutTrace(t, j, "outage-warm-0")
			for svc, tel := range s.tels {
				if c := scrapeSpans(t, tel); c.dropped() != 0 || c.exported == 0 || c.capacity != outageQueue {
					t.Fatalf("%s span counts with Jaeger up = %+v, want some exported, none dropped, capacity %d", svc, c, outageQueue)
				}
			}
			before := liveHeap()

			if err := tc.stop(j); err != nil {
				t.Fatalf("stopping Jaeger: %v", err)
			}
			start := time.Now()
			errs := make(chan error, outageCheckouts)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := w; i < outageCheckouts; i += workers {
						if err := tryCheckout(client, gw, bearer, "outage-"+strconv.Itoa(i)); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			took := time.Since(start)
			var failures []error
			for err := range errs {
				failures = append(failures, err)
			}
			if len(failures) > 0 {
				t.Errorf("%d of %d checkouts failed with Jaeger %s, want 0; first: %v", len(failures), outageCheckouts, tc.name, failures[0])
			}
			after := liveHeap()

			var dropped, lost, queued float64
			for _, svc := range shop.Services() {
				c := scrapeSpans(t, s.tels[svc])
				if c.queued > c.capacity || c.capacity != outageQueue {
					t.Errorf("%s holds %v spans for export, capacity %v; want at most OTEL_BSP_MAX_QUEUE_SIZE=%d", svc, c.queued, c.capacity, outageQueue)
				}
				t.Logf("%s: %v spans handed to the exporter, %v exported, %v dropped at a full queue, %v lost in failed exports, %v held now",
					svc, c.processed, c.exported, c.queueFull, c.failed, c.queued)
				dropped += c.dropped()
				lost += tc.lost(c)
				queued += c.queued
			}
			growth := int64(after) - int64(before)
			t.Logf("Jaeger %s: %d checkouts in %v (%d failed); %v spans dropped or lost in all (%v by the expected cause); live heap %.1f MiB before, %.1f MiB after (%+.1f MiB)",
				tc.name, outageCheckouts, took.Round(time.Millisecond), len(failures), dropped, lost,
				float64(before)/(1<<20), float64(after)/(1<<20), float64(growth)/(1<<20))
			if dropped <= 0 || lost <= 0 {
				t.Errorf("spans dropped or lost with Jaeger %s = %v (%v by the expected cause), want more than 0 on /metrics", tc.name, dropped, lost)
			}
			if growth > heapBound {
				t.Errorf("live heap grew by %.1f MiB during the outage (%d spans held for export), want at most %d MiB", float64(growth)/(1<<20), int(queued), heapBound>>20)
			}
			orders, err := s.CartStore.CountOrders(context.Background())
			if want := 20 + outageCheckouts; err != nil || orders["paid"] != want {
				t.Errorf("orders by status = %v (%v), want %d paid", orders, err, want)
			}
		})
	}
}
