package resilience

import (
	"context"
	"github.com/gantry-go/gantry/observability"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// instrumentationName is the OTel scope of every meter and tracer of this package.
const instrumentationName = "github.com/gantry-go/gantry/resilience"

// meterOf returns this package's meter from i, a no-op one when i has no
// MeterProvider.
func meterOf(i observability.Instrumentation) metric.Meter {
	if i.MeterProvider == nil {
		return noop.NewMeterProvider().Meter(instrumentationName)
	}
	return i.MeterProvider.Meter(instrumentationName)
}

// rejectCounter counts one policy's rejections. Add is only called on the rejection
// path, with a prebuilt attribute option, so the accept path never touches it.
type rejectCounter struct {
	c    metric.Int64Counter
	opts []metric.AddOption
	on   bool
}

func newRejectCounter(t observability.Instrumentation, policy, name string) rejectCounter {
	if t.MeterProvider == nil {
		return rejectCounter{}
	}
	c, err := meterOf(t).Int64Counter("resilience.rejections",
		metric.WithDescription("Calls rejected locally by a resilience policy."),
		metric.WithUnit("{call}"))
	if err != nil {
		return rejectCounter{}
	}
	set := attribute.NewSet(attribute.String("resilience.policy", policy), attribute.String("resilience.name", name))
	return rejectCounter{c: c, opts: []metric.AddOption{metric.WithAttributeSet(set)}, on: true}
}

// newCloseCounter counts the rate limiter name's 429s that closed the connection.
func newCloseCounter(t observability.Instrumentation, name string) rejectCounter {
	if t.MeterProvider == nil {
		return rejectCounter{}
	}
	c, err := meterOf(t).Int64Counter("resilience.ratelimit.closes",
		metric.WithDescription("Rate-limit rejections that asked the client to close its connection."),
		metric.WithUnit("{connection}"))
	if err != nil {
		return rejectCounter{}
	}
	set := attribute.NewSet(attribute.String("resilience.name", name))
	return rejectCounter{c: c, opts: []metric.AddOption{metric.WithAttributeSet(set)}, on: true}
}

func (r rejectCounter) add(ctx context.Context) {
	if r.on {
		r.c.Add(ctx, 1, r.opts...)
	}
}

// handoff runs callbacks outside the caller's locks. gobreaker calls OnStateChange
// while holding the breaker's mutex; logging or exporting there could block the
// breaker or deadlock if the logger calls back into it. push only appends to a
// queue under handoff's own short mutex; one goroutine, started when the queue goes
// from empty to non-empty and exiting when it is empty again, runs the callbacks in
// order. It is safe for concurrent use.
type handoff struct {
	mu      sync.Mutex
	queue   []func()
	running bool
}

func (h *handoff) push(f func()) {
	h.mu.Lock()
	h.queue = append(h.queue, f)
	start := !h.running
	h.running = true
	h.mu.Unlock()
	if start {
		go h.drain()
	}
}

func (h *handoff) drain() {
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			h.running = false
			h.queue = nil
			h.mu.Unlock()
			return
		}
		batch := h.queue
		h.queue = nil
		h.mu.Unlock()
		for _, f := range batch {
			f()
		}
	}
}
