package gantry

import (
	"net/http"

	"github.com/gantry-go/gantry/config"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

// ClientSettings configures NewClient. The zero value works: every part takes its
// package's defaults. Nested settings keep their own variables. It is a plain value,
// read once by NewClient.
type ClientSettings struct {
	// HTTP tunes the connection pool and the whole-exchange backstop timeout
	// (HTTP_CLIENT_*).
	HTTP transport.ClientSettings
	// Resilience tunes retry, budget, breaker, client rate limit, bulkhead and the
	// request and attempt timeouts (RETRY_*, BREAKER_*, CLIENT_*). Its BreakerKey
	// chooses the breaker of each request.
	Resilience resilience.ClientSettings
	// Balancer tunes instance picking and ejection (BALANCER_*). A nil
	// Balancer.MeterProvider takes the Instrumentation's, so ejections are counted
	// wherever the client's other metrics go.
	Balancer discovery.BalancerSettings
	// Identity, when set, makes every call mTLS: connections present its
	// certificate, and each instance must prove, in the handshake, the identity of
	// the service the request names (http://payment/... reaches only a server whose
	// SPIFFE ID names payment; a rogue instance fails the dial and the balancer ejects
	// it). http:// URLs are sent over TLS. See identity.Transport. Nil calls in plain
	// HTTP.
	Identity identity.Source `env:"-"`
}

// Client is the composed client of a service. HTTP sends requests through the whole
// chain; the other fields are its stateful parts, for debug handlers and tests. It is
// safe for concurrent use.
type Client struct {
	// HTTP is the client to call upstreams with. With a resolver, URLs name services:
	// http://catalog/products goes to an instance of "catalog".
	HTTP *http.Client
	// Resilience holds the retry policy and budget, the breakers and the optional
	// limiter and bulkhead.
	Resilience *resilience.ClientStack
	// Router resolves and balances; nil when NewClient had no resolver.
	Router *discovery.Router
	base   idleCloser
}

type idleCloser interface {
	http.RoundTripper
	CloseIdleConnections()
}

var _ resilience.Inspectable = (*Client)(nil)

// NewClient builds the client of the service named name, in the one order of
// composition that ExampleNewClient shows and explains (tracing outermost, the
// balancer and the pooled *http.Transport innermost).
//
// r resolves the service names of request URLs; nil sends requests to the URL's host
// as it is (no balancer). inst carries the logger and providers (zero value: none).
// NewClient fails when s is invalid; the error names the variables. Close the client
// when done.
func NewClient(name string, r discovery.Resolver, s ClientSettings, inst observability.Instrumentation) (*Client, error) {
	if err := config.Validate(s); err != nil {
		return nil, err
	}
	stack, err := resilience.NewClientStack(name, s.Resilience, inst)
	if err != nil {
		return nil, err
	}
	var base idleCloser = transport.NewRoundTripper(s.HTTP)
	if s.Identity != nil {
		base = identity.NewTransport(s.Identity, s.HTTP)
	}
	c := &Client{Resilience: stack, base: base}
	var inner http.RoundTripper = base
	if r != nil {
		bs := s.Balancer
		if bs.MeterProvider == nil {
			bs.MeterProvider = inst.MeterProvider
		}
		c.Router = discovery.NewRouter(r, base, bs)
		inner = c.Router
	}
	chain := transport.ClientChain(
		observability.Client(inst),
		discovery.RememberAttempts(),
		stack.Middleware(),
		transport.PropagateDeadline(),
		transport.PropagateRequestID(),
	)
	c.HTTP = &http.Client{Transport: chain(inner), Timeout: s.HTTP.ExchangeTimeout()}
	return c, nil
}

// Inspect adds the client's policies to snap, for resilience.DebugHandler.
func (c *Client) Inspect(snap *resilience.Snapshot) { c.Resilience.Inspect(snap) }

// Close releases the balancers and the idle connections.
func (c *Client) Close() {
	if c.Router != nil {
		c.Router.Close()
	}
	c.base.CloseIdleConnections()
}
