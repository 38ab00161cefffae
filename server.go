package gantry

import (
	"net/http"

	"github.com/gantry-go/gantry/config"

	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
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
	// transport.Edge). Default false, for services behind the edge.
	Edge bool `env:"-"`
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
	mw := []func(http.Handler) http.Handler{
		edge,
		transport.Recover(inst.Logger),
		transport.RequestID(),
		observability.Server(inst),
		transport.AccessLog(inst.Logger),
	}
	mw = append(mw, policies...)
	mw = append(mw,
		transport.BodyLimit(s.HTTP.BodyLimit()),
		resilience.Deadline(s.Deadline),
		resilience.MarkRetryExhausted(),
	)
	return transport.NewServer(transport.Chain(mw...)(api), s.HTTP), nil
}
