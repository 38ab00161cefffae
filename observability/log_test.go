package observability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/observability"
	"go.opentelemetry.io/otel/trace"
)

func spanCtx(t *testing.T) (context.Context, string, string) {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc), tid.String(), sid.String()
}

func TestLoggerFromEnvironment(t *testing.T) {
	ctx, tid, sid := spanCtx(t)
	tests := []struct {
		name      string
		env       map[string]string
		wantDebug bool
		wantJSON  bool
	}{
		{name: "defaults: json at info", env: map[string]string{}, wantJSON: true},
		{name: "text at debug", env: map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "text"}, wantDebug: true},
		{name: "json at warn", env: map[string]string{"LOG_LEVEL": "WARN"}, wantJSON: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := config.Load[observability.LogSettings](config.WithEnvironment(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			logger, err := observability.NewLogger(&buf, s)
			if err != nil {
				t.Fatalf("NewLogger(%+v) error = %v", s, err)
			}
			logger.DebugContext(ctx, "dbg")
			if got := strings.Contains(buf.String(), "dbg"); got != tt.wantDebug {
				t.Errorf("debug record logged = %v, want %v (output %q)", got, tt.wantDebug, buf.String())
			}
			buf.Reset()
			logger.ErrorContext(ctx, "boom", "k", "v")
			line := buf.String()
			if tt.wantJSON {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("output %q is not JSON: %v", line, err)
				}
				if m["trace_id"] != tid || m["span_id"] != sid || m["k"] != "v" {
					t.Errorf("record = %v, want trace_id=%s span_id=%s k=v", m, tid, sid)
				}
			} else if !strings.Contains(line, "trace_id="+tid) || !strings.Contains(line, "span_id="+sid) {
				t.Errorf("text record = %q, want trace_id and span_id", line)
			}
		})
	}
}

func TestLoggerWithoutSpanHasNoIDs(t *testing.T) {
	var buf bytes.Buffer
	logger, _ := observability.NewLogger(&buf, observability.LogSettings{})
	logger.With("a", 1).InfoContext(context.Background(), "hi")
	if strings.Contains(buf.String(), "trace_id") {
		t.Errorf("record = %q, want no trace_id without a span", buf.String())
	}
}

func TestLogSettingsErrorsNameVariable(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
	}
	for _, tt := range tests {
		_, err := config.Load[observability.LogSettings](config.WithEnvironment(tt.env))
		var cerr *config.Error
		if !errors.As(err, &cerr) || len(cerr.Vars()) != 1 || cerr.Vars()[0] != tt.wantVar {
			t.Errorf("Load(%v) error = %v, want one naming %s", tt.env, err, tt.wantVar)
		}
	}
	if _, err := observability.NewLogger(&bytes.Buffer{}, observability.LogSettings{Format: "xml"}); !errors.Is(err, observability.ErrLogFormat) {
		t.Errorf("NewLogger(Format=xml) error = %v, want ErrLogFormat", err)
	}
}
