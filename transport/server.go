package transport

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gantry-go/gantry/config"
)

// Default values of ServerSettings, used for zero fields.
const (
	defaultAddr              = ":8080"
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 60 * time.Second
	defaultIdleTimeout       = 120 * time.Second
	defaultMaxHeaderBytes    = 64 << 10
	defaultMaxBodyBytes      = 1 << 20
)

// ServerSettings configures NewServer. The zero value is safe: every zero field takes
// the default named in its comment. A negative duration disables that timeout (use it
// for servers that stream, where WriteTimeout would cut long responses).
//
// The env tags follow caarlos0/env/v11; a variable left unset stays zero, so
// config.Load and code get the same defaults. It is a plain value, read once by
// NewServer, and safe to share.
type ServerSettings struct {
	// Addr is the TCP address to listen on. Default ":8080".
	Addr string `env:"HTTP_ADDR"`
	// ReadHeaderTimeout bounds reading the request line and headers; it is the
	// Slowloris guard (gosec G112). Default 5s.
	ReadHeaderTimeout time.Duration `env:"HTTP_READ_HEADER_TIMEOUT"`
	// ReadTimeout bounds reading the whole request, body included. Default 30s.
	ReadTimeout time.Duration `env:"HTTP_READ_TIMEOUT"`
	// WriteTimeout bounds the time from the end of the request headers to the end of
	// the response. Default 60s.
	WriteTimeout time.Duration `env:"HTTP_WRITE_TIMEOUT"`
	// IdleTimeout bounds how long a keep-alive connection waits for its next request.
	// Default 120s.
	IdleTimeout time.Duration `env:"HTTP_IDLE_TIMEOUT"`
	// MaxHeaderBytes bounds the size of the request line and headers. Default 65536
	// (64 KiB).
	MaxHeaderBytes int `env:"HTTP_MAX_HEADER_BYTES"`
	// MaxBodyBytes is the request body limit that BodyLimit and DecodeJSON apply when
	// given this value; gantry.NewServer applies it to every request, NewServer does
	// not. Default 1048576 (1 MiB).
	MaxBodyBytes int64 `env:"HTTP_MAX_BODY_BYTES"`
}

// Validate reports every invalid field at once, each naming its environment variable.
// Zero values are valid (they mean the default).
func (s ServerSettings) Validate() error {
	var errs []error
	if s.Addr != "" {
		if _, port, err := net.SplitHostPort(s.Addr); err != nil || port == "" {
			errs = append(errs, config.Invalid("HTTP_ADDR", "%q is not a host:port address", s.Addr))
		}
	}
	if s.MaxHeaderBytes < 0 {
		errs = append(errs, config.Invalid("HTTP_MAX_HEADER_BYTES", "%d is negative", s.MaxHeaderBytes))
	}
	if s.MaxBodyBytes < 0 {
		errs = append(errs, config.Invalid("HTTP_MAX_BODY_BYTES", "%d is negative", s.MaxBodyBytes))
	}
	rh, r := s.readHeaderTimeout(), s.readTimeout()
	if rh > 0 && r > 0 && rh > r {
		errs = append(errs, config.Invalid("HTTP_READ_HEADER_TIMEOUT", "%v is longer than HTTP_READ_TIMEOUT %v", rh, r))
	}
	return errors.Join(errs...)
}

// BodyLimit returns MaxBodyBytes, or defaultMaxBodyBytes when it is zero.
func (s ServerSettings) BodyLimit() int64 { return orDefault(s.MaxBodyBytes, defaultMaxBodyBytes) }

func (s ServerSettings) readHeaderTimeout() time.Duration {
	return timeout(s.ReadHeaderTimeout, defaultReadHeaderTimeout)
}
func (s ServerSettings) readTimeout() time.Duration {
	return timeout(s.ReadTimeout, defaultReadTimeout)
}

// NewServer returns an *http.Server for h with the timeouts and header limit of s.
// It does not listen: pass it to gantry.Run, or call ListenAndServe yourself.
// BaseContext, ConnContext and ErrorLog are left for the caller (gantry.Run sets
// BaseContext so that shutdown can end long requests).
func NewServer(h http.Handler, s ServerSettings) *http.Server {
	addr := s.Addr
	if addr == "" {
		addr = defaultAddr
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: s.readHeaderTimeout(),
		ReadTimeout:       s.readTimeout(),
		WriteTimeout:      timeout(s.WriteTimeout, defaultWriteTimeout),
		IdleTimeout:       timeout(s.IdleTimeout, defaultIdleTimeout),
		MaxHeaderBytes:    orDefault(s.MaxHeaderBytes, defaultMaxHeaderBytes),
	}
}

// timeout maps zero to def and negative to 0 (no timeout in net/http terms).
func timeout(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

func orDefault[N int | int64](v, def N) N {
	if v == 0 {
		return def
	}
	return v
}
