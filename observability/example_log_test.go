package observability_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/gantry-go/gantry/observability"
	"go.opentelemetry.io/otel/trace"
)

func ExampleNewLogger() {
	// In main: settings from config.Load[observability.LogSettings]() and os.Stderr.
	logger, err := observability.NewLogger(os.Stdout, observability.LogSettings{Format: "text", Level: slog.LevelInfo})
	if err != nil {
		panic(err)
	}
	logger = slog.New(dropTime{logger.Handler()}) // only to make the output stable

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	logger.InfoContext(ctx, "order placed", "order", 42)
	logger.DebugContext(ctx, "not shown at info")
	// Output:
	// level=INFO msg="order placed" order=42 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
}

func ExampleNewTraceHandler() {
	h := observability.NewTraceHandler(slog.NewJSONHandler(os.Stdout, nil))
	logger := slog.New(dropTime{h})
	logger.InfoContext(context.Background(), "no span, no ids")
	// Output:
	// {"level":"INFO","msg":"no span, no ids"}
}

// dropTime zeroes the record time so that the handler omits it.
type dropTime struct{ slog.Handler }

func (d dropTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return d.Handler.Handle(ctx, r)
}
