package identity

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Any is the caller entry of a [Policy] that allows every caller with a verified
// identity.
const Any = "*"

// Policy is an [Authorizer] over a fixed table from route to allowed callers, built
// by [NewPolicy]. Routes the table does not list are denied unless the policy's
// unlisted callers allow them: the default is deny, so a route added to the mux
// but forgotten in the policy fails closed and visibly. A Policy is immutable and
// safe for concurrent use; Authorize does not allocate.
type Policy struct {
	routes   map[string]callers
	unlisted callers
}

var _ Authorizer = (*Policy)(nil)

// callers is the compiled list of one route.
type callers struct {
	any   bool
	names []string
	ids   []ID
}

func (c callers) allow(id ID) bool {
	return c.any || slices.Contains(c.names, id.svc) || slices.Contains(c.ids, id)
}

// NewPolicy returns the policy that allows, on each route of routes (a ServeMux
// pattern exactly as registered, such as "GET /items/{id}"), the callers listed for
// it, and on every other route the unlisted callers (none when nil: deny). A caller
// entry is a service name ("cart", in any namespace of the trust domain), a full
// SPIFFE ID (which pins the namespace), or [Any]. Errors match [ErrInvalidPolicy]:
// a pattern ServeMux rejects, or a malformed entry.
func NewPolicy(routes map[string][]string, unlisted []string) (*Policy, error) {
	p := &Policy{routes: make(map[string]callers, len(routes))}
	var err error
	if p.unlisted, err = compile("unlisted routes", unlisted); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for pattern, list := range routes {
		if err := checkPattern(mux, pattern); err != nil {
			return nil, err
		}
		if p.routes[pattern], err = compile(pattern, list); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// checkPattern registers pattern on mux, turning ServeMux's panic for a malformed
// or conflicting pattern into an error.
func checkPattern(mux *http.ServeMux, pattern string) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: route %q: %v", ErrInvalidPolicy, pattern, v)
		}
	}()
	if pattern == "" {
		return fmt.Errorf("%w: empty route pattern", ErrInvalidPolicy)
	}
	mux.Handle(pattern, http.NotFoundHandler())
	return nil
}

func compile(route string, list []string) (callers, error) {
	var c callers
	for _, e := range list {
		switch {
		case e == Any:
			c.any = true
		case strings.HasPrefix(e, "spiffe://"):
			id, err := Parse(e)
			if err != nil {
				return callers{}, fmt.Errorf("%w: %s: %w", ErrInvalidPolicy, route, err)
			}
			c.ids = append(c.ids, id)
		default:
			if why := checkSegment(e); why != "" {
				return callers{}, fmt.Errorf("%w: %s: caller %q: %s", ErrInvalidPolicy, route, e, why)
			}
			c.names = append(c.names, e)
		}
	}
	return c, nil
}

// Authorize returns nil when the policy allows caller on route, and [ErrDenied]
// otherwise.
func (p *Policy) Authorize(_ context.Context, route string, caller ID) error {
	c, ok := p.routes[route]
	if !ok {
		c = p.unlisted
	}
	if c.allow(caller) {
		return nil
	}
	return ErrDenied
}
