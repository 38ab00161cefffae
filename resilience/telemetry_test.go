package resilience

import (
	"context"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestRetrySpanPerAttempt(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	r := NewRetry("catalog", RetrySettings{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, BudgetDisabled: true},
		observability.Instrumentation{TracerProvider: tp, Propagator: propagation.TraceContext{}})
	var parents []trace.SpanID
	var headers []string
	calls := 0
	rt := r.Client()(transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		parents = append(parents, trace.SpanContextFromContext(req.Context()).SpanID())
		headers = append(headers, req.Header.Get("Traceparent"))
		calls++
		if calls == 1 {
			return status(503, nil), nil
		}
		return status(200, nil), nil
	}))
	resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://catalog/items", nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("RoundTrip() = %v, %v", resp, err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("ended spans = %d, want one per attempt (2)", len(spans))
	}
	for i, s := range spans {
		if s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %d kind = %v, want client", i, s.SpanKind())
		}
		if parents[i] != s.SpanContext().SpanID() {
			t.Errorf("attempt %d ran outside its span", i)
		}
		if want := s.SpanContext().SpanID().String(); !strings.Contains(headers[i], want) {
			t.Errorf("attempt %d traceparent = %q, want span %s", i, headers[i], want)
		}
		var resend attribute.Value
		for _, a := range s.Attributes() {
			if a.Key == "http.request.resend_count" {
				resend = a.Value
			}
		}
		if i == 0 && resend.Type() != attribute.INVALID {
			t.Errorf("first attempt has http.request.resend_count = %v, want none", resend.Emit())
		}
		if i == 1 && resend.AsInt64() != 1 {
			t.Errorf("retry has http.request.resend_count = %v, want 1", resend.Emit())
		}
	}
}

func TestBreakerTransitionsMetric(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		b := NewBreaker("payment", BreakerSettings{ConsecutiveFailures: 1}, observability.Instrumentation{MeterProvider: mp})
		_ = b.Do(func() error { return errors.New("refused") })
		_ = b.Do(func() error { return nil }) // rejected
		synctest.Wait()                       // the hand-off goroutine has recorded
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if gauge, ok := m.Data.(metricdata.Gauge[int64]); ok {
					for _, dp := range gauge.DataPoints {
						got[m.Name] = dp.Value
					}
				}
				sum, ok := m.Data.(metricdata.Sum[int64])
				if !ok {
					continue
				}
				for _, dp := range sum.DataPoints {
					to, _ := dp.Attributes.Value("resilience.breaker.to")
					got[m.Name+"/"+to.Emit()] += dp.Value
				}
			}
		}
		if got["resilience.breaker.transitions/open"] != 1 || got["resilience.rejections/"] != 1 || got["resilience.breaker.state"] != 2 {
			t.Fatalf("metrics = %v, want 1 transition to open, 1 rejection and state 2 (open)", got)
		}
	})
}
