package gantry

import (
	"net/http"

	"github.com/gantry-go/gantry/config"

	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

// ServerSettings configures NewServer. The zero value works: every part takes its
// package's defaults. It is a plain value, read once by NewServer.
type ServerSettings struct {
	// HTTP is the listener address, the server's timeouts and the body limit
	// (HTTP_ADDR, HTTP_*).
	HTTP transport.ServerSettings
	// Deadline is the deadline floor, default and transit allowance (DEADLINE_*).
	Deadline resilience.DeadlineSettings
	// Edge marks a server that faces untrusted clients: inbound Gantry-* headers are
	// removed before anything reads them, and outbound ones from every response (see
	// transport.Edge), and an inbound traceparent starts a new trace that links to it
	// (observability.Instrumentation.PublicEndpoint). Default false, for services
	// behind the edge.
	Edge bool `env:"-"`
	// Identity, when set, makes the server mTLS: it serves TLS with
	// identity.ServerConfig (a client certificate of the trust domain is required on
	// every connection, and a rotated certificate is used by the next handshake), and
	// puts the caller's SPIFFE ID on each request's context (identity.FromContext)
	// for the service's policies, identity.Authorize among them. Run serves it with
	// ServeTLS. Nil serves plain HTTP.
	Identity identity.Source `env:"-"`
}

// NewServer returns the API server of a service: api behind the one server order of
// composition, which ExampleNewServer shows and explains.
//
// policies are the service's own admission policies (authentication, load shedding,
// rate limiting), outermost first; nil entries are skipped. The health probes,
// metrics and debug pages are not served here but on the admin server (NewAdmin), so
// API policies never apply to them. inst carries the logger and providers (zero
// value: none). NewServer fails when s is invalid; the error names the variables.
// Hand the server to Run.
func NewServer(api http.Handler, s ServerSettings, inst observability.Instrumentation, policies ...func(http.Handler) http.Handler) (*http.Server, error) {
	if err := config.Validate(s); err != nil {
		return nil, err
	}
	var edge func(http.Handler) http.Handler
	if s.Edge {
		edge = transport.Edge()
	}
	serverInst := inst
	serverInst.PublicEndpoint = serverInst.PublicEndpoint || s.Edge
	var peer func(http.Handler) http.Handler
	if s.Identity != nil {
		peer = identity.Peer()
	}
	mw := []func(http.Handler) http.Handler{
		edge,
		transport.Recover(inst.Logger),
		transport.RequestID(),
		peer,
		observability.Server(serverInst),
		transport.AccessLog(inst.Logger),
	}
	mw = append(mw, policies...)
	mw = append(mw,
		transport.BodyLimit(s.HTTP.BodyLimit()),
		resilience.Deadline(s.Deadline),
		resilience.MarkRetryExhausted(),
	)
	srv := transport.NewServer(transport.Chain(mw...)(api), s.HTTP)
	if s.Identity != nil {
		srv.TLSConfig = identity.ServerConfig(s.Identity)
	}
	return srv, nil
}
