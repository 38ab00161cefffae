package gantry

import (
	"testing"

	"github.com/gantry-go/gantry/internal/envdoc"
)

// TestAdminDocumentedDefaults proves that the defaults the AdminSettings field
// comments state (and docs/config.md shows) are the ones NewAdmin applies.
func TestAdminDocumentedDefaults(t *testing.T) {
	envdoc.CheckDefaults(t, nil, func(s AdminSettings) any { return s.withDefaults() })
}
