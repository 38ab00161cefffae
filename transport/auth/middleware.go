package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gantry-go/gantry/transport"

	"github.com/gantry-go/gantry/internal/route"
)

// Options configures [Authenticate]. The zero value works.
type Options struct {
	// Realm is the realm of the WWW-Authenticate challenge. Default "gantry".
	Realm string
	// AllowAnonymous lets requests without an Authorization header through, with no
	// Principal on their context (public routes). A token that is present is still
	// verified, and a bad one still gets 401. Default false.
	AllowAnonymous bool
}

const defaultRealm = "gantry"

// ParseBearer returns the token of an Authorization header value of the form
// "Bearer <token>" (RFC 6750, section 2.1): the scheme is case-insensitive, one
// space follows it, and the token is a b64token (letters, digits, "-._~+/" and
// trailing "="s). It reports false for anything else.
func ParseBearer(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	tok := header[len(scheme):]
	i := 0
	for ; i < len(tok); i++ {
		c := tok[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return "", false
	}
	for j := i; j < len(tok); j++ {
		if tok[j] != '=' {
			return "", false
		}
	}
	return tok, true
}

// Authenticate returns middleware that verifies the bearer token of each request
// with v and serves the next handler with the [Principal] on the request context
// ([FromContext]). A missing token gets 401 with `WWW-Authenticate: Bearer
// realm="..."` (unless opts.AllowAnonymous); a malformed or rejected one gets 401
// with error="invalid_token" and a description (RFC 6750, section 3). Bodies are
// application/problem+json. It is safe for concurrent use.
func Authenticate(v *Verifier, opts Options) func(http.Handler) http.Handler {
	realm := opts.Realm
	if realm == "" {
		realm = defaultRealm
	}
	noToken := `Bearer realm=` + strconv.Quote(realm)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Values("Authorization")
			if len(h) == 0 {
				if opts.AllowAnonymous {
					next.ServeHTTP(w, r)
					return
				}
				w.Header().Set("WWW-Authenticate", noToken)
				writeProblem(w, r, http.StatusUnauthorized, "a bearer token is required")
				return
			}
			var err error
			tok, ok := "", len(h) == 1
			if ok {
				tok, ok = ParseBearer(h[0])
			}
			if !ok {
				err = invalid(nil, errors.New("malformed Authorization header"))
			}
			var p Principal
			if err == nil {
				p, err = v.Verify(r.Context(), tok)
			}
			if err != nil {
				w.Header().Set("WWW-Authenticate", challenge(realm, "invalid_token", describe(err)))
				writeProblem(w, r, http.StatusUnauthorized, describe(err))
				return
			}
			r2 := r.WithContext(NewContext(r.Context(), p))
			next.ServeHTTP(w, r2)
			route.Keep(r, r2) // the route, for the access log, metrics and spans outside
		})
	}
}

// describe is the error_description sent to the client: the kind of failure, not
// the internals.
func describe(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "the token expired"
	case errors.Is(err, ErrNotYetValid):
		return "the token is not yet valid"
	case errors.Is(err, ErrUnknownKey):
		return "the token is signed by an unknown key"
	case errors.Is(err, ErrAlgorithm):
		return "the token's algorithm is not accepted"
	}
	return "the token is invalid"
}

func challenge(realm, code, desc string) string {
	s := `Bearer`
	if realm != "" {
		s += ` realm=` + strconv.Quote(realm) + `,`
	}
	s += ` error="` + code + `"`
	if desc != "" {
		s += `, error_description=` + strconv.Quote(desc)
	}
	return s
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	transport.WriteProblem(w, r, &transport.Problem{Status: status, Detail: detail})
}

// RequireRole returns middleware that serves the next handler only for requests
// whose [Principal] holds role; others, anonymous ones included, get 403 with
// `WWW-Authenticate: Bearer error="insufficient_scope"`. Place it inside
// [Authenticate]. It is safe for concurrent use.
func RequireRole(role string) func(http.Handler) http.Handler {
	return require(func(p Principal) bool { return p.HasRole(role) }, "role "+strconv.Quote(role))
}

// RequireScope is [RequireRole] for a scope.
func RequireScope(scope string) func(http.Handler) http.Handler {
	return require(func(p Principal) bool { return p.HasScope(scope) }, "scope "+strconv.Quote(scope))
}

func require(ok func(Principal) bool, what string) func(http.Handler) http.Handler {
	desc := "the token lacks " + what
	hdr := challenge("", "insufficient_scope", desc)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, found := FromContext(r.Context())
			if !found || !ok(p) {
				w.Header().Set("WWW-Authenticate", hdr)
				writeProblem(w, r, http.StatusForbidden, desc)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
