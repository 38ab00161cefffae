package observability

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/gantry-go/gantry/config"
	"go.opentelemetry.io/otel/trace"
)

// ErrLogFormat is returned by [NewLogger] for a LOG_FORMAT other than json or text.
var ErrLogFormat = errors.New("observability: unknown log format")

// LogSettings configure [NewLogger]. The zero value logs JSON at level info. It is a
// plain value.
type LogSettings struct {
	// Level is the minimum level logged: debug, info, warn or error, optionally with
	// an offset such as warn+2. Default info.
	Level slog.Level `env:"LOG_LEVEL" desc:"Minimum log level: debug, info, warn or error (offsets such as warn+2 allowed)."`
	// Format is json or text. Default json ("" means json).
	Format string `env:"LOG_FORMAT" desc:"Log format: json or text."`
	// AddSource adds the source file and line of the log call. Default false.
	AddSource bool `env:"LOG_ADD_SOURCE" desc:"Add the source file and line to each record."`
}

// Validate reports a LOG_FORMAT other than json or text.
func (s LogSettings) Validate() error {
	switch s.Format {
	case "", "json", "text":
		return nil
	}
	return config.Invalid("LOG_FORMAT", "%w %q (want json or text)", ErrLogFormat, s.Format)
}

// NewLogger returns a logger writing to w in the format and at the level of s, whose
// records carry trace_id and span_id when the context passed to the logger (e.g.
// logger.InfoContext(ctx, ...)) holds a valid span (see [NewTraceHandler]). It fails
// only when s is invalid. The logger is safe for concurrent use when w is (an
// *os.File is).
func NewLogger(w io.Writer, s LogSettings) (*slog.Logger, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: s.Level, AddSource: s.AddSource}
	var h slog.Handler
	if s.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(NewTraceHandler(h)), nil
}

// NewTraceHandler wraps h so that each record logged with a context holding a valid
// span context gets the attributes trace_id and span_id (lowercase hex, as in W3C
// traceparent). Records without one are passed through unchanged. After WithGroup the
// ids land inside the group, like any other attribute. The result is safe
// for concurrent use when h is.
func NewTraceHandler(h slog.Handler) slog.Handler {
	if th, ok := h.(traceHandler); ok {
		return th
	}
	return traceHandler{h}
}

type traceHandler struct{ next slog.Handler }

func (t traceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return t.next.Enabled(ctx, l)
}

func (t traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return t.next.Handle(ctx, r)
}

func (t traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{t.next.WithAttrs(as)}
}

func (t traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{t.next.WithGroup(name)}
}
