package platform

import (
	"net/http"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport/identity"
)

// NewIdentity returns the certificate source of service that s.TLS selects
// (TLS_MODE): nil when it is off (plain HTTP between services), otherwise the Source
// to give to ServerSettings.Identity and ClientSettings.Identity. reload is what
// keeps the source current (the files source reloads rotated files), nil when
// nothing needs to run: list it in gantry.Options.Components. A bad TLS_* setting or
// an unreadable certificate is a start-up error naming the variable.
func NewIdentity(service string, s Settings, inst observability.Instrumentation) (src identity.Source, reload gantry.Runner, err error) {
	t := s.TLS
	t.Logger, t.MeterProvider = inst.Logger, inst.MeterProvider
	if src, err = identity.NewSource(t, service); err != nil {
		return nil, nil, err
	}
	reload, _ = src.(gantry.Runner)
	return src, reload, nil
}

// Authorize returns the server policy that lets only the callers table names (a
// service's Callers) reach each route of mux, with 403 problem+json for the others,
// counted on identity.authorization.denials. It is nil when src is nil: with TLS off
// no caller has an identity, so none can be authorized, and the service trusts its
// network (the compose and Kubernetes networks keep the internal services private).
func Authorize(src identity.Source, mux *http.ServeMux, routes map[string][]string, unlisted []string, inst observability.Instrumentation) (func(http.Handler) http.Handler, error) {
	if src == nil {
		return nil, nil
	}
	policy, err := identity.NewPolicy(routes, unlisted)
	if err != nil {
		return nil, err
	}
	return identity.Authorize(policy, identity.AuthorizeSettings{Mux: mux, MeterProvider: inst.MeterProvider, Logger: inst.Logger}), nil
}
