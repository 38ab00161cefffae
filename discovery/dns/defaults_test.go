package dns

import (
	"testing"

	"github.com/gantry-go/gantry/internal/envdoc"
)

// TestDocumentedDefaults proves that the default each field comment states (and
// docs/config.md shows) is the one the code applies to the zero field.
func TestDocumentedDefaults(t *testing.T) {
	envdoc.CheckDefaults(t, nil, func(s Settings) any {
		r, err := NewResolverTargets(nil, nil, s)
		if err != nil {
			return err
		}
		return r.s
	})
}
