package observability

import (
	"fmt"
	"io"
	"testing"

	"github.com/gantry-go/gantry/internal/envdoc"
)

// TestDocumentedDefaults proves that the default each field comment states (and
// docs/config.md shows) is the one the code applies to the zero field.
func TestDocumentedDefaults(t *testing.T) {
	t.Run("TelemetrySettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s TelemetrySettings) any {
			ratio, err := s.ratio()
			s = s.withDefaults()
			s.SamplerArg = ""
			return []any{s, ratio, err}
		})
	})
	t.Run("LogSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s LogSettings) any {
			l, err := NewLogger(io.Discard, s)
			if err != nil {
				return err
			}
			return []any{fmt.Sprintf("%T", l.Handler().(traceHandler).next), s.Level, s.AddSource}
		})
	})
}
