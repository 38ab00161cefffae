package consul

import (
	"testing"

	"github.com/gantry-go/gantry/internal/envdoc"
)

// TestDocumentedDefaults proves that the default each field comment states (and
// docs/config.md shows) is the one the code applies to the zero field.
func TestDocumentedDefaults(t *testing.T) {
	t.Run("Registration", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(r Registration) any { return r.withDefaults() })
	})
	t.Run("WatchSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s WatchSettings) any { return s.withDefaults() })
	})
}
