package transport

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gantry-go/gantry/config"
)

// ConnLimitSettings configures LimitListener. The zero value limits nothing. It is a
// plain value, read once by LimitListener.
type ConnLimitSettings struct {
	// MaxConns bounds the connections open at once; one more is closed as soon as it
	// is accepted. Default 0: no limit.
	MaxConns int `env:"HTTP_MAX_CONNS"`
	// MaxConnsPerClient bounds the connections open at once from one client address
	// (an IPv6 client by its /64), so one client cannot hold them all. Default 0: no
	// limit.
	MaxConnsPerClient int `env:"HTTP_MAX_CONNS_PER_CLIENT"`
	// MeterProvider counts the refused connections (http.server.connections.refused,
	// by reason); nil means no metrics.
	MeterProvider metric.MeterProvider `env:"-"`
}

// Validate reports negative limits, naming their variables.
func (s ConnLimitSettings) Validate() error {
	switch {
	case s.MaxConns < 0:
		return config.Invalid("HTTP_MAX_CONNS", "must not be negative, got %d", s.MaxConns)
	case s.MaxConnsPerClient < 0:
		return config.Invalid("HTTP_MAX_CONNS_PER_CLIENT", "must not be negative, got %d", s.MaxConnsPerClient)
	}
	return nil
}

// LimitListener returns ln limited by s: a connection over MaxConns, or over
// MaxConnsPerClient for its client, is closed at once instead of being handed to the
// server, so a flood of idle connections costs the server nothing past the limits and
// other clients are still served. With no limit set it returns ln. The listener is
// safe for concurrent use; its method Refused() uint64 counts the connections it
// closed.
func LimitListener(ln net.Listener, s ConnLimitSettings) net.Listener {
	if s.MaxConns <= 0 && s.MaxConnsPerClient <= 0 {
		return ln
	}
	l := &limitedListener{Listener: ln, s: s, perClient: map[netip.Prefix]int{}}
	if s.MeterProvider != nil {
		c, err := s.MeterProvider.Meter("github.com/gantry-go/gantry/transport").Int64Counter("http.server.connections.refused",
			metric.WithDescription("Connections closed at accept because a connection limit was reached."), metric.WithUnit("{connection}"))
		if err == nil {
			l.counter = c
		}
	}
	return l
}

// limitedListener is the listener LimitListener returns.
type limitedListener struct {
	net.Listener
	s         ConnLimitSettings
	mu        sync.Mutex
	open      int
	perClient map[netip.Prefix]int
	refused   atomic.Uint64
	counter   metric.Int64Counter
}

// Refused reports how many connections the listener closed at accept.
func (l *limitedListener) Refused() uint64 { return l.refused.Load() }

// Accept returns the next connection within the limits, closing those over them.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientPrefix(c.RemoteAddr())
		if reason := l.admit(key); reason != "" {
			_ = c.Close()
			l.refused.Add(1)
			if l.counter != nil {
				l.counter.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", reason))) // no request yet
			}
			continue
		}
		return &limitedConn{Conn: c, l: l, key: key}, nil
	}
}

// admit takes a place for a connection from key, or says which limit refused it.
func (l *limitedListener) admit(key netip.Prefix) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s.MaxConns > 0 && l.open >= l.s.MaxConns {
		return "total"
	}
	if l.s.MaxConnsPerClient > 0 && l.perClient[key] >= l.s.MaxConnsPerClient {
		return "per_client"
	}
	l.open++
	l.perClient[key]++
	return ""
}

func (l *limitedListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perClient[key]--; l.perClient[key] <= 0 {
		delete(l.perClient, key)
	}
}

// clientPrefix is the client of a connection: its IPv4 address, or its IPv6 /64.
func clientPrefix(a net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// limitedConn gives its place back once, when closed.
type limitedConn struct {
	net.Conn
	l    *limitedListener
	key  netip.Prefix
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
