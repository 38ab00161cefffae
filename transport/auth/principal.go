package auth

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Principal is the verified caller of a request. It is a plain value, safe to share
// once built; callers must not modify its slices.
type Principal struct {
	// Subject is the token's sub.
	Subject string
	// Issuer is the token's iss.
	Issuer string
	// Audience is the token's aud.
	Audience []string
	// Expiry is the token's exp.
	Expiry time.Time
	// Roles holds the values of Settings.RolesClaim.
	Roles []string
	// Scopes holds the values of Settings.ScopesClaim.
	Scopes []string
}

// clone returns p with its own slices, so that a cached Principal is never shared.
func (p Principal) clone() Principal {
	p.Audience, p.Roles, p.Scopes = slices.Clone(p.Audience), slices.Clone(p.Roles), slices.Clone(p.Scopes)
	return p
}

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// HasScope reports whether p holds scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

func (v *Verifier) principal(t jwt.Token) Principal {
	var p Principal
	p.Subject, _ = t.Subject()
	p.Issuer, _ = t.Issuer()
	p.Audience, _ = t.Audience()
	p.Expiry, _ = t.Expiration()
	p.Roles = claimList(t, v.s.RolesClaim)
	p.Scopes = claimList(t, v.s.ScopesClaim)
	return p
}

// claimList reads a claim that is a space-separated string or an array of strings;
// anything else yields nil.
func claimList(t jwt.Token, name string) []string {
	var raw any
	if err := t.Get(name, &raw); err != nil {
		return nil
	}
	switch x := raw.(type) {
	case string:
		return strings.Fields(x)
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

type principalKey struct{}

// NewContext returns a copy of ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal that [Authenticate] stored on ctx, and whether
// there is one (false for an anonymous request).
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
