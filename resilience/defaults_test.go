package resilience

import (
	"testing"
	"time"

	"github.com/gantry-go/gantry/internal/envdoc"
)

// TestDocumentedDefaults proves that the default each field comment states (and
// docs/config.md shows) is the one the code applies to the zero field.
func TestDocumentedDefaults(t *testing.T) {
	keys := func(maxKeys int, idle time.Duration) (int, time.Duration) {
		k := newKeyed[int](maxKeys, idle, nil)
		return k.max, time.Duration(k.idle)
	}
	t.Run("RetrySettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s RetrySettings) any { return s.withDefaults() })
	})
	t.Run("BreakerSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s BreakerSettings) any { return s.withDefaults() })
	})
	t.Run("BulkheadSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s BulkheadSettings) any {
			s = s.withDefaults()
			s.MaxKeys, s.IdleTimeout = keys(s.MaxKeys, s.IdleTimeout)
			return s
		})
	})
	t.Run("RateLimitSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s RateLimitSettings) any {
			maxKeys, idle := keys(s.MaxKeys, s.IdleTimeout)
			return []any{s.Rate, burstFor(s.Rate, s.Burst), s.KeyRate, burstFor(s.KeyRate, s.KeyBurst), maxKeys, idle}
		})
	})
	t.Run("ShedSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s ShedSettings) any { return s.withDefaults() })
	})
	t.Run("ClientSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s ClientSettings) any {
			attempt, request := s.timeouts()
			return []any{attempt, request, s.BulkheadEnabled}
		})
	})
	t.Run("DeadlineSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s DeadlineSettings) any { return []any{s.floor(), s.allowance(), s.Default} })
	})
}
