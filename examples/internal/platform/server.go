package platform

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gantry-go/gantry/observability"
)

// NewLogger returns the service's logger: the format and level of s.Log, trace ids
// from the context, and a "service" attribute on every record.
func NewLogger(w io.Writer, service string, s Settings) (*slog.Logger, error) {
	logger, err := observability.NewLogger(w, s.Log)
	if err != nil {
		return nil, err
	}
	return logger.With("service", service), nil
}

// Healthcheck probes http://127.0.0.1:<port of addr>/readyz (or addr's host when it
// names a specific one) and returns nil if it answers 200 within 2s. addr is the
// admin listener's (ADMIN_ADDR). It is the -healthcheck mode of the service binaries,
// which a container health check runs because FROM-scratch images have no shell or
// curl.
func Healthcheck(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: ADMIN_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", req.URL, resp.StatusCode)
	}
	return nil
}
