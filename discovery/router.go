package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gantry-go/gantry/transport"
)

// Router is an http.RoundTripper that sends a request for http://<service>/path to an
// instance of <service>, picked by a Balancer over the Resolver's feed for it. A URL
// host with a dot, a colon or brackets, or "localhost", is not a service name: such
// requests pass through unchanged. Only the URL's host, and its scheme if the
// instance has one, change; the Host header stays the service name. Each call's
// outcome, by transport.Classify, is reported to the balancer.
//
// Place it innermost in a client chain, below retry and breaker, so that each attempt
// is balanced again and goes, when it can, to an instance not yet tried (see
// RememberAttempts). A Router is safe for concurrent use; Close releases its balancers.
type Router struct {
	r    Resolver
	next http.RoundTripper
	s    BalancerSettings

	mu   sync.Mutex
	bals atomic.Pointer[map[string]*Balancer]
}

var _ http.RoundTripper = (*Router)(nil)

// NewRouter returns a Router resolving through r and sending through next
// (nil means http.DefaultTransport). Each service gets its own Balancer with
// settings s, created on the first request to it.
func NewRouter(r Resolver, next http.RoundTripper, s BalancerSettings) *Router {
	if next == nil {
		next = http.DefaultTransport
	}
	t := &Router{r: r, next: next, s: s}
	t.bals.Store(&map[string]*Balancer{})
	return t
}

// Balancer returns the balancer of service, creating it if needed. It fails with an
// error wrapping ErrUnknownService if the resolver has no such service.
func (t *Router) Balancer(service string) (*Balancer, error) {
	if b, ok := (*t.bals.Load())[service]; ok {
		return b, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m := *t.bals.Load()
	if b, ok := m[service]; ok {
		return b, nil
	}
	f, err := t.r.Lookup(service)
	if err != nil {
		return nil, err
	}
	b := NewBalancer(f, t.s)
	next := make(map[string]*Balancer, len(m)+1)
	for k, v := range m {
		next[k] = v
	}
	next[service] = b
	t.bals.Store(&next)
	return b, nil
}

// Close stops every balancer following its feed.
func (t *Router) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range *t.bals.Load() {
		b.Close()
	}
}

// RoundTrip implements http.RoundTripper.
func (t *Router) RoundTrip(req *http.Request) (*http.Response, error) {
	service := req.URL.Host
	if !isServiceName(service) {
		return t.next.RoundTrip(req)
	}
	b, err := t.Balancer(service)
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("discovery: resolving %q: %w", service, err)
	}
	mem, _ := req.Context().Value(memoryKey{}).(*attemptMemory)
	var e *Endpoint
	switch {
	case mem != nil && mem.len() > 0:
		e, err = b.PickExcept(mem.tried)
	case mem == nil && retried(req):
		last := b.lastFailed.Load()
		e, err = b.PickExcept(func(x *Endpoint) bool { return x == last })
	default:
		e, err = b.Pick()
	}
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("discovery: service %q: %w", service, err)
	}
	if mem != nil {
		mem.add(e.inst.Address)
	}
	// One allocation for the outgoing request and its URL; req itself is not modified.
	out := &outgoing{req: *req, url: *req.URL}
	out.url.Host = e.inst.Address
	if e.inst.Scheme != "" {
		out.url.Scheme = e.inst.Scheme
	}
	out.req.URL = &out.url
	start := b.Begin(e)
	resp, err := t.next.RoundTrip(&out.req)
	b.End(e, start, transport.Classify(resp, err))
	return resp, err
}

type outgoing struct {
	req http.Request
	url url.URL
}

func isServiceName(host string) bool {
	return host != "" && host != "localhost" && !strings.ContainsAny(host, ".:[]")
}

func retried(req *http.Request) bool {
	v := req.Header.Get(transport.HeaderAttempt)
	if v == "" || v == "0" {
		return false // the common case, without strconv's error allocation
	}
	n, err := strconv.Atoi(v)
	return err == nil && n > 0
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// attemptMemory remembers the instances one logical request has tried.
type attemptMemory struct {
	mu    sync.Mutex
	addrs []string
}

type memoryKey struct{}

func (m *attemptMemory) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.addrs)
}

func (m *attemptMemory) add(addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.addrs, addr) {
		m.addrs = append(m.addrs, addr)
	}
}

func (m *attemptMemory) tried(e *Endpoint) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Contains(m.addrs, e.inst.Address)
}

// ContextWithAttemptMemory returns a context in which Router remembers the
// instances tried by one logical request, so that its retries go elsewhere. A ctx
// that already has one is returned as is.
func ContextWithAttemptMemory(ctx context.Context) context.Context {
	if _, ok := ctx.Value(memoryKey{}).(*attemptMemory); ok {
		return ctx
	}
	return context.WithValue(ctx, memoryKey{}, &attemptMemory{})
}

// RememberAttempts returns client middleware that gives each request an attempt
// memory (see ContextWithAttemptMemory), so that a Router sends each retry of it to
// an instance it has not tried, when one exists. Without one, a Router avoids only the
// service's most recently failed instance, for attempts whose transport.HeaderAttempt
// is above 0. Put it above the retry layer, as gantry.NewClient does (see the gantry
// package's ExampleNewClient).
func RememberAttempts() func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if _, ok := req.Context().Value(memoryKey{}).(*attemptMemory); ok {
				return next.RoundTrip(req)
			}
			return next.RoundTrip(req.WithContext(ContextWithAttemptMemory(req.Context())))
		})
	}
}

// IsResolveError reports whether err came from resolving a service name rather
// than from the call itself: an unknown service or no usable instance.
func IsResolveError(err error) bool {
	return errors.Is(err, ErrUnknownService) || errors.Is(err, ErrNoInstances)
}
