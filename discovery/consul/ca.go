package consul

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/transport/identity"
)

// Default values of ConnectSettings, used for zero fields.
const (
	defaultConnectWait = 5 * time.Minute
	defaultCacheTTL    = 10 * time.Second
	maxCachedVerdicts  = 1024
)

// ErrInvalidConnect matches the errors of NewCASource and NewIntentions for an
// empty service name or a certificate of Consul's CA that is not usable.
var ErrInvalidConnect = errors.New("consul: invalid connect certificate or service")

// ConnectSettings configures CASource and Intentions. The zero value works: every
// zero field takes the default documented on it. It is a plain value, read once.
type ConnectSettings struct {
	// Wait is the blocking queries' wait for a new leaf certificate or new roots;
	// an idle source makes two requests per Wait. Default 5m.
	Wait time.Duration `env:"TLS_CONSUL_WAIT"`
	// CacheTTL is how long Intentions keeps the agent's answer for a caller,
	// allowed or denied. Default 10s.
	CacheTTL time.Duration `env:"TLS_CONSUL_CACHE_TTL"`
	// Logger receives query failures and recoveries; nil discards them.
	Logger *slog.Logger `env:"-"`
}

// Validate reports settings out of range, each naming its variable.
func (s ConnectSettings) Validate() error {
	var errs []error
	if s.Wait < 0 || s.Wait > maxWait {
		errs = append(errs, config.Invalid("TLS_CONSUL_WAIT", "%v is not within 0-%v", s.Wait, maxWait))
	}
	if s.CacheTTL < 0 {
		errs = append(errs, config.Invalid("TLS_CONSUL_CACHE_TTL", "%v is negative", s.CacheTTL))
	}
	return errors.Join(errs...)
}

func (s ConnectSettings) withDefaults() ConnectSettings {
	if s.Wait == 0 {
		s.Wait = defaultConnectWait
	}
	if s.CacheTTL == 0 {
		s.CacheTTL = defaultCacheTTL
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// CASource is an identity.Source backed by Consul's built-in CA: the leaf
// certificate the local agent issues for a service (/v1/agent/connect/ca/leaf) and
// the CA roots (/v1/agent/connect/ca/roots). Run follows both with blocking queries,
// so a leaf the agent renews before it expires, or re-signs after a root rotation,
// is used by the next handshake. While the agent is unreachable the last
// certificate stays in use. It is safe for concurrent use.
type CASource struct {
	c       *api.Client
	service string
	s       ConnectSettings
	leaf    atomic.Pointer[tls.Certificate]
	roots   atomic.Pointer[x509.CertPool]
	indexes [2]uint64 // leaf, roots: where Run starts
}

var _ identity.Source = (*CASource)(nil)

// NewCASource fetches service's leaf certificate and the roots from the agent of c,
// so that the source is ready to serve, and returns it; call Run to keep them fresh.
// It fails when the agent cannot be reached or its certificate is unusable.
func NewCASource(ctx context.Context, c *api.Client, service string, s ConnectSettings) (*CASource, error) {
	if service == "" {
		return nil, fmt.Errorf("%w: empty service name", ErrInvalidConnect)
	}
	if err := config.Validate(s); err != nil {
		return nil, err
	}
	src := &CASource{c: c, service: service, s: s.withDefaults()}
	var err error
	if src.indexes[1], err = src.fetchRoots(ctx, 0); err != nil {
		return nil, err
	}
	if src.indexes[0], err = src.fetchLeaf(ctx, 0); err != nil {
		return nil, err
	}
	return src, nil
}

// Certificate returns the current leaf certificate.
func (s *CASource) Certificate() (*tls.Certificate, error) { return s.leaf.Load(), nil }

// Roots returns the current CA roots.
func (s *CASource) Roots() (*x509.CertPool, error) { return s.roots.Load(), nil }

// Run follows the leaf certificate and the roots until ctx ends, then returns nil
// after its goroutines have exited.
func (s *CASource) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.follow(ctx, "leaf", s.indexes[0], s.fetchLeaf) })
	wg.Go(func() { s.follow(ctx, "roots", s.indexes[1], s.fetchRoots) })
	wg.Wait()
	return nil
}

// follow repeats fetch, a blocking query, backing off while it fails.
func (s *CASource) follow(ctx context.Context, what string, index uint64, fetch func(context.Context, uint64) (uint64, error)) {
	failures := 0
	for ctx.Err() == nil {
		got, err := fetch(ctx, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			s.s.Logger.LogAttrs(ctx, slog.LevelWarn, "consul: connect CA query failed; keeping the last certificate",
				slog.String("query", what), slog.String("service", s.service), slog.Int("attempt", failures), slog.String("error", err.Error()))
			if !sleep(ctx, backoff(failures, defaultRetryMin, defaultRetryMax)) {
				return
			}
			continue
		}
		if failures > 0 {
			s.s.Logger.LogAttrs(ctx, slog.LevelInfo, "consul: connect CA query recovered", slog.String("query", what), slog.String("service", s.service))
		}
		failures = 0
		index = NextIndex(index, got)
	}
}

func (s *CASource) query(ctx context.Context, index uint64) *api.QueryOptions {
	return (&api.QueryOptions{WaitIndex: index, WaitTime: s.s.Wait}).WithContext(ctx)
}

// fetchLeaf waits for a leaf newer than index and stores it; it returns the index
// of the answer.
func (s *CASource) fetchLeaf(ctx context.Context, index uint64) (uint64, error) {
	leaf, meta, err := s.c.Agent().ConnectCALeaf(s.service, s.query(ctx, index))
	if err != nil {
		return 0, err
	}
	if index != 0 && meta.LastIndex == index {
		return index, nil // the wait ended with no change
	}
	cert, err := tls.X509KeyPair([]byte(leaf.CertPEM), []byte(leaf.PrivateKeyPEM))
	if err != nil {
		return 0, fmt.Errorf("%w: leaf of %s: %w", ErrInvalidConnect, s.service, err)
	}
	if cert.Leaf == nil || len(cert.Leaf.URIs) != 1 {
		return 0, fmt.Errorf("%w: leaf of %s has no single URI SAN", ErrInvalidConnect, s.service)
	}
	id, err := identity.Parse(cert.Leaf.URIs[0].String())
	if err != nil || id.ServiceName() != s.service {
		return 0, fmt.Errorf("%w: leaf of %s is for %v (%v)", ErrInvalidConnect, s.service, cert.Leaf.URIs[0], err)
	}
	s.leaf.Store(&cert)
	return meta.LastIndex, nil
}

// fetchRoots waits for roots newer than index and stores them.
func (s *CASource) fetchRoots(ctx context.Context, index uint64) (uint64, error) {
	list, meta, err := s.c.Agent().ConnectCARoots(s.query(ctx, index))
	if err != nil {
		return 0, err
	}
	if index != 0 && meta.LastIndex == index {
		return index, nil
	}
	pool := x509.NewCertPool()
	n := 0
	for _, r := range list.Roots {
		if pool.AppendCertsFromPEM([]byte(r.RootCertPEM)) {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: the agent lists no usable CA root", ErrInvalidConnect)
	}
	s.roots.Store(pool)
	return meta.LastIndex, nil
}

// Intentions is an identity.Authorizer backed by Consul intentions: it asks the
// local agent (/v1/agent/connect/authorize) whether a caller may call the service,
// whatever the route, and keeps each answer for TLS_CONSUL_CACHE_TTL (at most 1024
// callers). An agent that cannot answer makes Authorize fail, which
// identity.Authorize turns into 503: it fails closed. It is safe for concurrent use.
type Intentions struct {
	c       *api.Client
	service string
	ttl     time.Duration
	mu      sync.Mutex
	cache   map[identity.ID]verdict
}

var _ identity.Authorizer = (*Intentions)(nil)

type verdict struct {
	err   error // nil: allowed
	until time.Time
}

// NewIntentions returns an authorizer for calls to service.
func NewIntentions(c *api.Client, service string, s ConnectSettings) (*Intentions, error) {
	if service == "" {
		return nil, fmt.Errorf("%w: empty service name", ErrInvalidConnect)
	}
	if err := config.Validate(s); err != nil {
		return nil, err
	}
	return &Intentions{c: c, service: service, ttl: s.withDefaults().CacheTTL, cache: map[identity.ID]verdict{}}, nil
}

// Authorize returns nil when the intentions allow caller to call the service, an
// error matching identity.ErrDenied with Consul's reason when they do not, and the
// agent's error when it cannot answer. The agent call takes no context: the
// api.Client's HTTP timeouts bound it.
func (a *Intentions) Authorize(_ context.Context, _ string, caller identity.ID) error {
	now := time.Now()
	a.mu.Lock()
	v, ok := a.cache[caller]
	a.mu.Unlock()
	if ok && now.Before(v.until) {
		return v.err
	}
	res, err := a.c.Agent().ConnectAuthorize(&api.AgentAuthorizeParams{Target: a.service, ClientCertURI: caller.String()})
	if err != nil {
		return fmt.Errorf("consul: asking the agent about intentions: %w", err)
	}
	v = verdict{until: now.Add(a.ttl)}
	if !res.Authorized {
		v.err = fmt.Errorf("%w: %s", identity.ErrDenied, res.Reason)
	}
	a.mu.Lock()
	if len(a.cache) >= maxCachedVerdicts {
		clear(a.cache)
	}
	a.cache[caller] = v
	a.mu.Unlock()
	return v.err
}
