package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery/consul"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

// Identity is a service's certificate source and what keeps it current.
type Identity struct {
	// Source is the certificate source for ServerSettings.Identity and
	// ClientSettings.Identity; nil when TLS_MODE is off (plain HTTP).
	Source identity.Source
	// Reload keeps Source current (files reloaded, Consul's leaf and roots
	// followed); nil when nothing needs to run. List it in gantry.Options.Components.
	Reload gantry.Runner
	// Intentions, in consul mode, are Consul's authorization of each caller, which
	// Authorize applies beside the service's own table.
	Intentions identity.Authorizer
}

// NewIdentity returns the identity of service that s.TLS selects (TLS_MODE): off,
// dev (an in-memory CA, for one process), files (TLS_CERT_FILE, TLS_KEY_FILE,
// TLS_CA_FILE, reloaded) or consul (Consul's built-in CA and intentions, through c,
// which must then be set). A bad TLS_* setting, an unreadable certificate or an
// unreachable Consul CA is a start-up error naming the variable.
func NewIdentity(ctx context.Context, service string, s Settings, c *api.Client, inst observability.Instrumentation) (Identity, error) {
	t := s.TLS
	t.Logger, t.MeterProvider = inst.Logger, inst.MeterProvider
	if t.Mode != identity.ModeConsul {
		src, err := identity.NewSource(t, service)
		if err != nil {
			return Identity{}, err
		}
		reload, _ := src.(gantry.Runner)
		return Identity{Source: src, Reload: reload}, nil
	}
	if c == nil {
		return Identity{}, config.Invalid("TLS_MODE", "%q needs Consul: set CONSUL_HTTP_ADDR", t.Mode)
	}
	cs := s.TLSConsul
	cs.Logger = inst.Logger
	src, err := consul.NewCASource(ctx, c, service, cs)
	if err != nil {
		return Identity{}, errors.Join(config.Invalid("TLS_MODE", "%q: Consul's CA gave no certificate for %s", t.Mode, service), err)
	}
	in, err := consul.NewIntentions(c, service, cs)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Source: src, Reload: src, Intentions: in}, nil
}

// Edge is the service that verifies users and acts for them on its calls, naming
// the user in Gantry-Principal and the user's roles in Gantry-Roles: the gateway.
const Edge = "gateway"

// Authorize returns the server policy that lets only the callers table names (a
// service's Callers) reach each route of mux and, in consul mode, only the callers
// Consul's intentions allow, with 403 problem+json for the others, counted on
// identity.authorization.denials. On the routes of edgeRoles (a route pattern of
// mux and the user's role it needs, from a service's EdgeRoles) the Edge, which the
// table must also allow there, is let through only for a user holding that role: the
// operator's routes, which the gateway serves to operators (403 otherwise, logged).
// It is nil when the Source is nil: with TLS off no caller has an identity, so none
// can be authorized, and the service trusts its network (the compose and Kubernetes
// networks keep the internal services private).
func (id Identity) Authorize(mux *http.ServeMux, routes map[string][]string, unlisted []string, edgeRoles map[string]string, inst observability.Instrumentation) (func(http.Handler) http.Handler, error) {
	if id.Source == nil {
		return nil, nil
	}
	policy, err := identity.NewPolicy(routes, unlisted)
	if err != nil {
		return nil, err
	}
	var a identity.Authorizer = policy
	if id.Intentions != nil {
		a = allOf{policy, id.Intentions}
	}
	authz := identity.Authorize(a, identity.AuthorizeSettings{Mux: mux, MeterProvider: inst.MeterProvider, Logger: inst.Logger})
	if len(edgeRoles) == 0 {
		return authz, nil
	}
	for route, role := range edgeRoles {
		if !slices.Contains(routes[route], Edge) {
			return nil, fmt.Errorf("%w: route %q: a role for the %s, which the table does not allow there", identity.ErrInvalidPolicy, route, Edge)
		}
		if role == "" {
			return nil, fmt.Errorf("%w: route %q: empty role", identity.ErrInvalidPolicy, route)
		}
	}
	logger := inst.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return authz(edgeRole(mux, edgeRoles, logger, next))
	}, nil
}

// edgeRole refuses a call of the Edge on a route of roles unless it acts for a user
// (Gantry-Principal) whose roles (Gantry-Roles, space-separated) hold the route's
// role. Other callers, which the table already authorized, pass.
func edgeRole(mux *http.ServeMux, roles map[string]string, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := identity.FromContext(r.Context())
		if !ok || id.ServiceName() != Edge {
			next.ServeHTTP(w, r)
			return
		}
		_, route := mux.Handler(r)
		role, listed := roles[route]
		if !listed {
			next.ServeHTTP(w, r)
			return
		}
		user := r.Header.Values(transport.HeaderPrincipal)
		held := r.Header.Values(transport.HeaderRoles)
		if len(user) == 1 && user[0] != "" && len(held) == 1 && slices.Contains(strings.Fields(held[0]), role) {
			next.ServeHTTP(w, r)
			return
		}
		logger.WarnContext(r.Context(), "the edge called a route for a user without its role", "route", route, "role", role)
		transport.WriteProblem(w, r, &transport.Problem{Status: http.StatusForbidden,
			Detail: "the " + Edge + " may call this route only for a user with the " + role + " role"})
	})
}

// allOf allows a caller that every one of its authorizers allows, asking them in
// order (the cheap table first, Consul's cached intentions second).
type allOf []identity.Authorizer

func (a allOf) Authorize(ctx context.Context, route string, caller identity.ID) error {
	for _, x := range a {
		if err := x.Authorize(ctx, route, caller); err != nil {
			return err
		}
	}
	return nil
}
