package transport

import (
	"net/http"
)

// Test-only access to what the package keeps unexported.
var (
	TimeoutFromHeader = timeoutFromHeader
	ValidRequestID    = validRequestID
	RetryAfterSeconds = retryAfterSeconds
)

const (
	MaxRequestIDLen  = maxRequestIDLen
	MaxTimeoutMillis = maxTimeoutMillis
)

func UnmarshalJSON[T any](data []byte) (T, error) { return unmarshalJSON[T](data) }

// NewClient is the plain client the tests use: NewRoundTripper(s) wrapped in mw, with
// s.ExchangeTimeout(). Services use gantry.NewClient.
func NewClient(s ClientSettings, mw ...func(http.RoundTripper) http.RoundTripper) *http.Client {
	return &http.Client{Transport: ClientChain(mw...)(NewRoundTripper(s)), Timeout: s.ExchangeTimeout()}
}
