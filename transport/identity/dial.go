package identity

import (
	"context"
	"crypto/tls"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-go/gantry/transport"
)

type serviceKey struct{}

// WithService returns a copy of ctx that names the service a request is meant for.
// [Transport] reads it from the request's context and refuses a server whose SPIFFE
// ID names another service. An empty name removes the check.
func WithService(ctx context.Context, service string) context.Context {
	return context.WithValue(ctx, serviceKey{}, service)
}

// Transport is the http.RoundTripper of mTLS clients. It speaks only TLS: an
// http:// URL is sent over https, so a service moves to mTLS by configuration alone,
// without rewriting its upstream URLs. Every connection presents the Source's
// certificate and verifies the server as [ClientConfig] does, and the dial fails with
// a [*WrongIdentityError] (matching [ErrWrongIdentity]) unless the server's SPIFFE ID
// names the service the request is meant for, so a rogue server gets no request. That
// service is the one [WithService] put on the request's context or, without it, the
// request's Host when it is a bare service name ("payment", as a
// discovery.Router leaves it after picking an instance); a Host with a dot, a colon
// or brackets (an address or DNS name) is checked against the trust bundle only.
// Connections are pooled per named service, so a connection verified for one
// service never carries a request meant for another. It is safe for concurrent use.
type Transport struct {
	src   Source
	s     transport.ClientSettings
	mu    sync.Mutex // serializes adding a pool
	pools atomic.Pointer[map[string]*http.Transport]
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport whose pools are transport.NewRoundTripper(s)
// with the mTLS dialer: HTTP_CLIENT_TLS_HANDSHAKE_TIMEOUT bounds each handshake,
// and proxies from the environment are not used (a proxy would see the handshake,
// not the identity).
func NewTransport(src Source, s transport.ClientSettings) *Transport {
	t := &Transport{src: src, s: s}
	t.pools.Store(&map[string]*http.Transport{})
	return t
}

// RoundTrip sends r through the pool of the service it is meant for.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	service, named := r.Context().Value(serviceKey{}).(string)
	if !named && isServiceName(r.Host) {
		service = r.Host
	}
	if r.URL.Scheme == "http" {
		// One allocation for the request and its URL; r itself is not modified.
		up := &upgraded{req: *r, url: *r.URL}
		up.url.Scheme = "https"
		up.req.URL = &up.url
		r = &up.req
	}
	return t.pool(service).RoundTrip(r)
}

type upgraded struct {
	req http.Request
	url url.URL
}

// isServiceName reports whether host is a bare service name: not empty, no port, not
// an IP address or a DNS name with dots.
func isServiceName(host string) bool {
	return host != "" && host != "localhost" && !strings.ContainsAny(host, ".:[]")
}

// CloseIdleConnections closes the idle connections of every pool.
func (t *Transport) CloseIdleConnections() {
	for _, p := range *t.pools.Load() {
		p.CloseIdleConnections()
	}
}

func (t *Transport) pool(service string) *http.Transport {
	if p, ok := (*t.pools.Load())[service]; ok {
		return p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.pools.Load()
	if p, ok := old[service]; ok {
		return p
	}
	p := transport.NewRoundTripper(t.s)
	p.Proxy = nil
	p.TLSClientConfig = ClientConfig(t.src)
	d := dialer{dial: p.DialContext, cfg: p.TLSClientConfig, timeout: p.TLSHandshakeTimeout, service: service}
	p.DialTLSContext = d.dialTLS
	pools := make(map[string]*http.Transport, len(old)+1)
	maps.Copy(pools, old)
	pools[service] = p
	t.pools.Store(&pools)
	return p
}

type dialer struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	cfg     *tls.Config
	timeout time.Duration
	service string // "" means any service of the trust domain
}

// dialTLS dials addr, completes the handshake and checks the server's identity. A
// failed handshake or identity check is a *net.OpError with Op "dial", as a refused
// connection is: the request was never sent, so the client's retry layer may send
// it, idempotent or not, to another instance (transport.IsConnectionError), and the
// balancer counts a failure of this one.
func (d dialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, d.cfg)
	hctx := ctx
	if d.timeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	if err := conn.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raw.RemoteAddr(), Err: err}
	}
	if d.service == "" {
		return conn, nil
	}
	got, err := idOf(conn.ConnectionState().PeerCertificates[0]) // verified in the handshake
	if err == nil && got.svc != d.service {
		err = &WrongIdentityError{Want: d.service, Got: got}
	}
	if err != nil {
		_ = conn.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raw.RemoteAddr(), Err: err}
	}
	return conn, nil
}
