package auth

import (
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gantry-go/gantry/config"
)

// Default values of Settings, used for zero fields.
const (
	defaultLeeway             = 30 * time.Second
	defaultRefreshInterval    = 15 * time.Minute
	defaultMinRefreshInterval = 10 * time.Second
	defaultRolesClaim         = "roles"
	defaultScopesClaim        = "scope"
)

// defaultAlgorithms is returned fresh by withDefaults so no caller shares it.
func defaultAlgorithms() []string { return []string{"RS256", "ES256"} }

// allowedAlgorithm reports whether a is an asymmetric algorithm a configuration may
// pin; "none" and the HS* family never are.
func allowedAlgorithm(a string) bool {
	switch a {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

// Settings configures [NewVerifier]. Every zero field takes the default documented
// on it; Issuer and Audience have none and are required by NewVerifier (the zero
// value passes Validate, so a service that embeds Settings but runs without
// authentication still loads). It is a plain value, read once, safe to share.
type Settings struct {
	// Issuer is the OIDC issuer URL, the exact iss of accepted tokens; discovery is
	// read from <issuer>/.well-known/openid-configuration. https, or http for a
	// loopback host. Required by NewVerifier.
	Issuer string `env:"AUTH_ISSUER"`
	// JWKSURL is the provider's key set. Empty means the jwks_uri of discovery.
	JWKSURL string `env:"AUTH_JWKS_URL"`
	// Audience lists the accepted aud values, comma-separated; a token must name at
	// least one. Required by NewVerifier.
	Audience []string `env:"AUTH_AUDIENCE"`
	// Algorithms pins the accepted signature algorithms, comma-separated; "none" and
	// HS* are rejected. Default RS256,ES256.
	Algorithms []string `env:"AUTH_ALGORITHMS"`
	// Leeway is the clock skew allowed on exp and nbf. Default 30s.
	Leeway time.Duration `env:"AUTH_LEEWAY"`
	// RefreshInterval is how often [Verifier.Run] re-reads the key set. Default 15m.
	RefreshInterval time.Duration `env:"AUTH_JWKS_REFRESH_INTERVAL"`
	// MinRefreshInterval is the least time between two refreshes triggered by
	// tokens with an unknown key id. Default 10s.
	MinRefreshInterval time.Duration `env:"AUTH_JWKS_MIN_REFRESH_INTERVAL"`
	// RolesClaim is the claim holding roles: a JSON array of strings or a
	// space-separated string. Default roles.
	RolesClaim string `env:"AUTH_ROLES_CLAIM"`
	// ScopesClaim is the claim holding scopes, like RolesClaim. Default scope.
	ScopesClaim string `env:"AUTH_SCOPES_CLAIM"`
	// CacheSize bounds the verified tokens a Verifier remembers, so that a client
	// sending the same token again costs a hash and a map lookup instead of a
	// signature check. A remembered token is still refused once it expires (exp plus
	// Leeway), and the cache is forgotten whenever the key set changes, so a key
	// removed from the provider's set stops being accepted at the next refresh.
	// Negative disables the cache. Default 10000.
	CacheSize int `env:"AUTH_CACHE_SIZE"`
	// Logger receives key set refreshes and their failures; nil discards them.
	Logger *slog.Logger `env:"-"`
}

// Validate reports every invalid field at once, each naming its variable.
func (s Settings) Validate() error {
	var errs []error
	if s.Issuer != "" {
		if why := checkURL(s.Issuer); why != "" {
			errs = append(errs, config.Invalid("AUTH_ISSUER", "%q: %s", s.Issuer, why))
		}
	}
	if s.JWKSURL != "" {
		if why := checkURL(s.JWKSURL); why != "" {
			errs = append(errs, config.Invalid("AUTH_JWKS_URL", "%q: %s", s.JWKSURL, why))
		}
	}
	for _, a := range s.Audience {
		if a == "" {
			errs = append(errs, config.Invalid("AUTH_AUDIENCE", "holds an empty audience"))
			break
		}
	}
	for _, a := range s.Algorithms {
		if !allowedAlgorithm(a) {
			errs = append(errs, config.Invalid("AUTH_ALGORITHMS", "%q is not an allowed asymmetric algorithm (none and HS* are refused)", a))
		}
	}
	for _, d := range [...]struct {
		name string
		v    time.Duration
	}{
		{"AUTH_LEEWAY", s.Leeway},
		{"AUTH_JWKS_REFRESH_INTERVAL", s.RefreshInterval},
		{"AUTH_JWKS_MIN_REFRESH_INTERVAL", s.MinRefreshInterval},
	} {
		if d.v < 0 {
			errs = append(errs, config.Invalid(d.name, "%v is negative", d.v))
		}
	}
	return errors.Join(errs...)
}

// required reports the fields NewVerifier needs that have no default.
func (s Settings) required() error {
	var errs []error
	if s.Issuer == "" {
		errs = append(errs, config.Invalid("AUTH_ISSUER", "required"))
	}
	if len(s.Audience) == 0 {
		errs = append(errs, config.Invalid("AUTH_AUDIENCE", "required"))
	}
	return errors.Join(errs...)
}

// checkURL returns why u is not an https URL (or http to a loopback host), or "".
func checkURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "not a URL"
	}
	if p.Host == "" {
		return "has no host"
	}
	switch p.Scheme {
	case "https":
		return ""
	case "http":
		h := p.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			return ""
		}
		return "http is allowed for loopback hosts only"
	}
	return "scheme is not https"
}

func (s Settings) withDefaults() Settings {
	if len(s.Algorithms) == 0 {
		s.Algorithms = defaultAlgorithms()
	}
	if s.Leeway == 0 {
		s.Leeway = defaultLeeway
	}
	if s.RefreshInterval == 0 {
		s.RefreshInterval = defaultRefreshInterval
	}
	if s.MinRefreshInterval == 0 {
		s.MinRefreshInterval = defaultMinRefreshInterval
	}
	if s.RolesClaim == "" {
		s.RolesClaim = defaultRolesClaim
	}
	if s.ScopesClaim == "" {
		s.ScopesClaim = defaultScopesClaim
	}
	if s.CacheSize == 0 {
		s.CacheSize = 10000
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	s.Issuer = strings.TrimSpace(s.Issuer)
	return s
}
