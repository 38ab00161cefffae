package transport

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gantry-go/gantry/config"
)

// ClientSettings configures NewRoundTripper. The zero value is safe:
// every zero field takes the default in its comment, and a negative duration
// disables that timeout. The env tags follow caarlos0/env/v11. It is a plain value,
// read once at construction, and safe to share.
type ClientSettings struct {
	// Timeout bounds a whole exchange, reading the response body included; it becomes
	// the request context's deadline, so PropagateDeadline sends it on. Prefer a
	// context deadline per call; this is the backstop. Default 30s.
	Timeout time.Duration `env:"HTTP_CLIENT_TIMEOUT"`
	// DialTimeout bounds establishing a TCP connection. Default 5s.
	DialTimeout time.Duration `env:"HTTP_CLIENT_DIAL_TIMEOUT"`
	// KeepAlive is the TCP keep-alive period of client connections. Default 30s.
	KeepAlive time.Duration `env:"HTTP_CLIENT_KEEP_ALIVE"`
	// TLSHandshakeTimeout bounds a TLS handshake. Default 5s.
	TLSHandshakeTimeout time.Duration `env:"HTTP_CLIENT_TLS_HANDSHAKE_TIMEOUT"`
	// ResponseHeaderTimeout bounds the wait for response headers after the request is
	// written. Default 0 (none: the context deadline and Timeout bound it).
	ResponseHeaderTimeout time.Duration `env:"HTTP_CLIENT_RESPONSE_HEADER_TIMEOUT"`
	// IdleConnTimeout closes keep-alive connections idle this long. Default 90s.
	IdleConnTimeout time.Duration `env:"HTTP_CLIENT_IDLE_CONN_TIMEOUT"`
	// MaxIdleConns bounds idle connections across all hosts. Default 256.
	MaxIdleConns int `env:"HTTP_CLIENT_MAX_IDLE_CONNS"`
	// MaxIdleConnsPerHost bounds idle connections per host. net/http's default of 2
	// makes a busy service open and close connections all the time. Default 64.
	MaxIdleConnsPerHost int `env:"HTTP_CLIENT_MAX_IDLE_CONNS_PER_HOST"`
	// MaxConnsPerHost bounds all connections per host, 0 meaning no limit. Default 0.
	MaxConnsPerHost int `env:"HTTP_CLIENT_MAX_CONNS_PER_HOST"`
}

// Default values of ClientSettings, used for zero fields.
const (
	defaultClientTimeout       = 30 * time.Second
	defaultDialTimeout         = 5 * time.Second
	defaultKeepAlive           = 30 * time.Second
	defaultTLSHandshakeTimeout = 5 * time.Second
	defaultIdleConnTimeout     = 90 * time.Second
	defaultMaxIdleConns        = 256
	defaultMaxIdleConnsPerHost = 64
)

// Validate reports every invalid field at once, each naming its environment variable.
func (s ClientSettings) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"HTTP_CLIENT_MAX_IDLE_CONNS", s.MaxIdleConns},
		{"HTTP_CLIENT_MAX_IDLE_CONNS_PER_HOST", s.MaxIdleConnsPerHost},
		{"HTTP_CLIENT_MAX_CONNS_PER_HOST", s.MaxConnsPerHost},
	} {
		if f.v < 0 {
			errs = append(errs, config.Invalid(f.name, "%d is negative", f.v))
		}
	}
	return errors.Join(errs...)
}

// NewRoundTripper returns a tuned *http.Transport for service-to-service calls: dial,
// TLS and idle timeouts, a larger idle pool per host, HTTP/2 attempted over TLS, and
// the proxy taken from the environment (HTTP_PROXY, NO_PROXY) as net/http does.
//
// The *http.Transport re-sends an idempotent request (GET, HEAD, OPTIONS, TRACE, or
// one with an Idempotency-Key or X-Idempotency-Key header; no body, or GetBody set)
// once by itself when a reused connection fails before any response byte arrives,
// so a server may see a keyed POST twice without any retry middleware: servers must
// deduplicate keys.
func NewRoundTripper(s ClientSettings) *http.Transport {
	d := &net.Dialer{
		Timeout:   timeout(s.DialTimeout, defaultDialTimeout),
		KeepAlive: timeout(s.KeepAlive, defaultKeepAlive),
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   timeout(s.TLSHandshakeTimeout, defaultTLSHandshakeTimeout),
		ResponseHeaderTimeout: timeout(s.ResponseHeaderTimeout, 0),
		IdleConnTimeout:       timeout(s.IdleConnTimeout, defaultIdleConnTimeout),
		MaxIdleConns:          orDefault(s.MaxIdleConns, defaultMaxIdleConns),
		MaxIdleConnsPerHost:   orDefault(s.MaxIdleConnsPerHost, defaultMaxIdleConnsPerHost),
		MaxConnsPerHost:       max(s.MaxConnsPerHost, 0),
		ExpectContinueTimeout: time.Second,
	}
}

// ExchangeTimeout returns the http.Client.Timeout that s asks for: Timeout, its
// default when zero, or 0 (none) when negative.
func (s ClientSettings) ExchangeTimeout() time.Duration {
	return timeout(s.Timeout, defaultClientTimeout)
}

// PropagateDeadline returns client middleware that writes the request context's
// remaining deadline as the Gantry-Timeout header (milliseconds, rounded up), which
// resilience.Deadline on the callee turns back into a deadline. Without a context
// deadline the request is sent unchanged. The request is copied, never modified. It
// is safe for concurrent use.
func PropagateDeadline() func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
			dl, ok := r.Context().Deadline()
			if !ok {
				return next.RoundTrip(r)
			}
			r2 := withHeaders(r)
			SetTimeoutHeader(r2.Header, time.Until(dl))
			return next.RoundTrip(r2)
		})
	}
}

// PropagateRequestID returns client middleware that sends the request id found in
// the request context (see RequestIDFrom) as X-Request-Id, unless the request already
// has one. The request is copied, never modified. It is safe for concurrent use.
func PropagateRequestID() func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
			id := RequestIDFrom(r.Context())
			if id == "" || r.Header.Get(HeaderRequestID) != "" {
				return next.RoundTrip(r)
			}
			r2 := withHeaders(r)
			r2.Header.Set(HeaderRequestID, id)
			return next.RoundTrip(r2)
		})
	}
}

// withHeaders returns a shallow copy of r with its own header map, so a RoundTripper
// can add headers without modifying the caller's request.
func withHeaders(r *http.Request) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	r2.Header = r.Header.Clone()
	if r2.Header == nil {
		r2.Header = make(http.Header, 1)
	}
	return r2
}
