package demoidp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// ErrUnknownUser is returned by [Provider.Token] for a user the provider does not
// know.
var ErrUnknownUser = errors.New("demoidp: unknown user")

// RoleOperator is the role the "operator" user holds, in the roles claim.
const RoleOperator = "operator"

const (
	defaultAudience = "shop"
	defaultTokenTTL = time.Hour
)

// Users returns the demo users and their roles.
func Users() map[string][]string {
	return map[string][]string{"alice": {"buyer"}, "bob": {"buyer"}, "operator": {"buyer", RoleOperator}}
}

// Settings configures [New]. The zero value works.
type Settings struct {
	// Addr is the loopback address to listen on. Default "127.0.0.1:0" (a free port).
	Addr string
	// Audience is the aud of the tokens. Default "shop".
	Audience string
	// TokenTTL is the lifetime of the tokens Token issues. Default 1h.
	TokenTTL time.Duration
	// Now is the clock of iat, nbf and exp. Nil means time.Now.
	Now func() time.Time
}

func (s Settings) withDefaults() Settings {
	if s.Addr == "" {
		s.Addr = "127.0.0.1:0"
	}
	if s.Audience == "" {
		s.Audience = defaultAudience
	}
	if s.TokenTTL <= 0 {
		s.TokenTTL = defaultTokenTTL
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}

// key is one ES256 signing key.
type key struct {
	kid  string
	priv jwk.Key
	pub  jwk.Key
}

// Provider is a running demo OIDC issuer. It is safe for concurrent use. Build it
// with New and serve it with Run (or Handler on a server of your own).
type Provider struct {
	s      Settings
	ln     net.Listener
	issuer string

	mu                      sync.Mutex
	previous, current, next *key // previous is nil before the first rotation

	discoveryHits, jwksHits atomic.Int64
}

// New generates the first signing keys and binds the listener; the issuer URL is
// http://<the bound address>. Run serves it. It fails when Addr is not a loopback
// address or cannot be bound.
func New(s Settings) (*Provider, error) {
	s = s.withDefaults()
	host, _, err := net.SplitHostPort(s.Addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("demoidp: address %q is not a loopback IP and port", s.Addr)
	}
	p := &Provider{s: s}
	if p.current, err = newKey(); err != nil {
		return nil, err
	}
	if p.next, err = newKey(); err != nil {
		return nil, err
	}
	if p.ln, err = net.Listen("tcp", s.Addr); err != nil {
		return nil, fmt.Errorf("demoidp: listen on %s: %w", s.Addr, err)
	}
	p.issuer = "http://" + p.ln.Addr().String()
	return p, nil
}

func newKey() (*key, error) {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("demoidp: generate key: %w", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	k := &key{kid: "demo-" + hex.EncodeToString(id[:])}
	if k.priv, err = jwk.Import(raw); err != nil {
		return nil, fmt.Errorf("demoidp: import key: %w", err)
	}
	if k.pub, err = k.priv.PublicKey(); err != nil {
		return nil, fmt.Errorf("demoidp: public key: %w", err)
	}
	for _, j := range []jwk.Key{k.priv, k.pub} {
		_ = j.Set(jwk.KeyIDKey, k.kid)
		_ = j.Set(jwk.AlgorithmKey, jwa.ES256())
	}
	_ = k.pub.Set(jwk.KeyUsageKey, "sig")
	return k, nil
}

// Issuer is the provider's issuer URL, the value for AUTH_ISSUER.
func (p *Provider) Issuer() string { return p.issuer }

// Audience is the aud of the provider's tokens, the value for AUTH_AUDIENCE.
func (p *Provider) Audience() string { return p.s.Audience }

// Run serves discovery and the JWKS until ctx is cancelled, then closes the
// listener and returns nil once the server has stopped.
func (p *Provider) Run(ctx context.Context) error {
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(p.ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("demoidp: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-done
	return err
}

// Close releases the listener of a provider that never ran.
func (p *Provider) Close() error { return p.ln.Close() }

// Handler serves GET /.well-known/openid-configuration and GET /jwks.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discoveryHits.Add(1)
		writeJSON(w, map[string]any{
			"issuer":                                p.issuer,
			"jwks_uri":                              p.issuer + "/jwks",
			"response_types_supported":              []string{"token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		set := jwk.NewSet()
		for _, k := range p.published() {
			_ = set.AddKey(k.pub)
		}
		w.Header().Set("Cache-Control", "max-age=300")
		writeJSON(w, set)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// published returns the keys in the JWKS: previous (if any), current and next.
func (p *Provider) published() []*key {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []*key{p.current, p.next}
	if p.previous != nil {
		out = append(out, p.previous)
	}
	return out
}

// JWKSRequests reports how many times the JWKS has been fetched.
func (p *Provider) JWKSRequests() int64 { return p.jwksHits.Load() }

// DiscoveryRequests reports how many times the discovery document has been
// fetched.
func (p *Provider) DiscoveryRequests() int64 { return p.discoveryHits.Load() }

// Rotate makes the published next key the signing key, keeps the old signing key
// in the JWKS (tokens it signed stay valid until the following rotation) and
// publishes a fresh next key. It returns the new signing key's id.
func (p *Provider) Rotate() (string, error) {
	fresh, err := newKey()
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.previous, p.current, p.next = p.current, p.next, fresh
	return p.current.kid, nil
}

// KeyID returns the id of the current signing key.
func (p *Provider) KeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current.kid
}

// Token returns an access token for user, signed with the current key: iss, aud,
// sub (the user), iat, nbf, exp (Settings.TokenTTL) and roles. It returns
// ErrUnknownUser for a user not in Users.
func (p *Provider) Token(ctx context.Context, user string) (string, error) {
	roles, ok := Users()[user]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownUser, user)
	}
	now := p.s.Now()
	return p.Sign(ctx, map[string]any{
		"iss": p.issuer, "aud": p.s.Audience, "sub": user,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(p.s.TokenTTL).Unix(),
		"roles": slices.Clone(roles),
	})
}

// Sign signs any claims with the current key (ES256, with its kid), for tests that
// need tokens a provider should never issue: expired, for another audience, and so
// on.
func (p *Provider) Sign(ctx context.Context, claims map[string]any) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			return "", fmt.Errorf("demoidp: claim %s: %w", k, err)
		}
	}
	p.mu.Lock()
	k := p.current
	p.mu.Unlock()
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), k.priv))
	if err != nil {
		return "", fmt.Errorf("demoidp: sign: %w", err)
	}
	return string(b), nil
}
