package gateway

import (
	"context"
	"errors"
	"net/http"
	"reflect"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/auth"
)

// Authentication modes of AuthSettings.Mode.
const (
	// AuthOff serves every route without user authentication: carts and orders have
	// no owner (every client shares one namespace). For setups with no identity
	// provider, such as the compose demo.
	AuthOff = "off"
	// AuthOIDC verifies OIDC/JWT bearer tokens (AUTH_*): browsing needs none, carts
	// and orders need one, and belong to its subject.
	AuthOIDC = "oidc"
)

// realm is the realm of the gateway's WWW-Authenticate challenges.
const realm = "shop"

// AuthSettings chooses how the gateway authenticates users. The zero value is
// AuthOff.
type AuthSettings struct {
	// Mode is AuthOff or AuthOIDC. Default off.
	Mode string `env:"GATEWAY_AUTH" envDefault:"off" desc:"User authentication: off (every route open, carts unowned) or oidc (bearer tokens verified with AUTH_*)."`
	// OIDC is the token verification of AuthOIDC (AUTH_ISSUER, AUTH_AUDIENCE, ...).
	OIDC auth.Settings
}

// Validate reports a Mode other than off and oidc, AUTH_* settings given while the
// mode is off (they would silently protect nothing), and, with oidc, a missing
// AUTH_ISSUER or AUTH_AUDIENCE.
func (s AuthSettings) Validate() error {
	switch s.Mode {
	case "", AuthOff:
		o := s.OIDC
		o.Logger = nil // not a setting
		if !reflect.ValueOf(o).IsZero() {
			return config.Invalid("GATEWAY_AUTH", "is off, but AUTH_* variables are set: set GATEWAY_AUTH=oidc to authenticate users, or unset them")
		}
		return nil
	case AuthOIDC:
		var errs []error
		if s.OIDC.Issuer == "" {
			errs = append(errs, config.Invalid("AUTH_ISSUER", "required with GATEWAY_AUTH=oidc"))
		}
		if len(s.OIDC.Audience) == 0 {
			errs = append(errs, config.Invalid("AUTH_AUDIENCE", "required with GATEWAY_AUTH=oidc"))
		}
		return errors.Join(errs...)
	}
	return config.Invalid("GATEWAY_AUTH", "%q is not off or oidc", s.Mode)
}

// NewAuthenticator returns the user policy s selects, to pass to gantry.NewServer
// after the rate limit, and the Verifier behind it, whose Run refreshes the
// provider's keys (list it in gantry.Options.Components). Both are nil with
// AuthOff. With AuthOIDC it reads the provider's discovery document and key set
// with client (nil: http.DefaultClient); a bad setting is a *config.Error naming
// its variable, an unreachable provider an error matching auth.ErrProvider.
func NewAuthenticator(ctx context.Context, s AuthSettings, client *http.Client) (func(http.Handler) http.Handler, *auth.Verifier, error) {
	if err := config.Validate(s); err != nil {
		return nil, nil, err
	}
	if s.Mode != AuthOIDC {
		return nil, nil, nil
	}
	v, err := auth.NewVerifier(ctx, s.OIDC, client)
	if err != nil {
		return nil, nil, err
	}
	return Authenticate(v), v, nil
}

// Authenticate returns middleware that verifies bearer tokens with v: routes whose
// Route.Login is set (carts, orders) answer 401 with a WWW-Authenticate challenge
// (RFC 6750) without a valid token, and routes whose Route.Role is set (the
// operator's) answer 403 with error="insufficient_scope" to a user without the role;
// other paths (browsing, and unknown paths, which
// get their 404) let anonymous requests through, but still refuse a bad token. A
// verified principal goes on the request context, and NewHandler passes its
// subject to the upstream in the Gantry-Principal header, and its roles in
// Gantry-Roles. A subject that is not
// 1-255 printable ASCII characters (it could not travel in a header) is refused
// as an invalid token. It is safe for concurrent use.
func Authenticate(v *auth.Verifier) func(http.Handler) http.Handler {
	open := auth.Authenticate(v, auth.Options{Realm: realm, AllowAnonymous: true})
	login := auth.Authenticate(v, auth.Options{Realm: realm})
	return func(next http.Handler) http.Handler {
		checked := subjectCheck(next)
		o, l := open(checked), login(checked)
		roles := map[string]http.Handler{}
		for _, rt := range Routes() {
			if rt.Role != "" && roles[rt.Role] == nil {
				roles[rt.Role] = login(subjectCheck(auth.RequireRole(rt.Role)(next)))
			}
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rt, ok := match(r.URL.Path)
			switch {
			case ok && rt.Role != "":
				roles[rt.Role].ServeHTTP(w, r)
			case ok && rt.Login:
				l.ServeHTTP(w, r)
			default:
				o.ServeHTTP(w, r)
			}
		})
	}
}

func subjectCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := auth.FromContext(r.Context()); ok && !ValidSubject(p.Subject) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="invalid_token", error_description="the token's subject is not usable"`)
			transport.WriteProblem(w, r, &transport.Problem{Status: http.StatusUnauthorized, Detail: "the token's subject is not usable"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ValidSubject reports whether sub can be passed on as the Gantry-Principal
// header: 1 to 255 printable ASCII characters, no spaces.
func ValidSubject(sub string) bool {
	if sub == "" || len(sub) > 255 {
		return false
	}
	for i := 0; i < len(sub); i++ {
		if sub[i] <= 0x20 || sub[i] > 0x7e {
			return false
		}
	}
	return true
}
