package transport

import (
	"testing"

	"github.com/gantry-go/gantry/internal/envdoc"
)

// TestDocumentedDefaults proves that the default each field comment states (and
// docs/config.md shows) is the one the code applies to the zero field.
func TestDocumentedDefaults(t *testing.T) {
	t.Run("ServerSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s ServerSettings) any {
			srv := NewServer(nil, s)
			return []any{srv.Addr, srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes, s.BodyLimit()}
		})
	})
	t.Run("ClientSettings", func(t *testing.T) {
		envdoc.CheckDefaults(t, nil, func(s ClientSettings) any {
			rt := NewRoundTripper(s)
			// The dialer hides in rt.DialContext; its timeouts are computed as here.
			return []any{timeout(s.DialTimeout, defaultDialTimeout), timeout(s.KeepAlive, defaultKeepAlive),
				rt.TLSHandshakeTimeout, rt.ResponseHeaderTimeout, rt.IdleConnTimeout, rt.MaxIdleConns,
				rt.MaxIdleConnsPerHost, rt.MaxConnsPerHost, NewClient(s).Timeout}
		})
	})
}
