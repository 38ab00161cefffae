package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/gantry-go/gantry/config"
)

// maxTokenBytes bounds the tokens Verify parses.
const maxTokenBytes = 16 << 10

// Verifier verifies bearer tokens against the cached key set of one OIDC provider.
// It is safe for concurrent use; give it to gantry.Run (or call [Verifier.Run]) to
// refresh the keys periodically.
type Verifier struct {
	s     Settings
	keys  *keys
	algs  []jwa.SignatureAlgorithm
	parse []jwt.ParseOption
	now   func() time.Time
	cache tokenCache
}

// tokenCache remembers verified tokens by their SHA-256, with the key set they were
// verified against. It is bounded: when full, it starts over (a burst of new tokens
// costs a few signature checks, never memory). Safe for concurrent use.
type tokenCache struct {
	mu  sync.Mutex
	max int
	m   map[[sha256.Size]byte]verified
}

type verified struct {
	p    Principal
	keys *jwk.Set
}

func (c *tokenCache) get(h [sha256.Size]byte) (verified, bool) {
	if c.max <= 0 {
		return verified{}, false
	}
	c.mu.Lock()
	e, ok := c.m[h]
	c.mu.Unlock()
	return e, ok
}

func (c *tokenCache) put(h [sha256.Size]byte, e verified) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[[sha256.Size]byte]verified, min(c.max, 1024))
	}
	c.m[h] = e
	c.mu.Unlock()
}

func (c *tokenCache) forget(h [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.m, h)
	c.mu.Unlock()
}

// NewVerifier validates s, reads the provider's discovery document (unless
// s.JWKSURL is set) and key set with client, and returns a Verifier. Errors are a
// *config.Error naming each bad variable, or match [ErrProvider] when the provider
// is unreachable or answers with something that is not a discovery document or a
// key set. A nil client means http.DefaultClient.
func NewVerifier(ctx context.Context, s Settings, client *http.Client) (*Verifier, error) {
	return newVerifier(ctx, s, client, time.Now)
}

func newVerifier(ctx context.Context, s Settings, client *http.Client, now func() time.Time) (*Verifier, error) {
	if err := config.Validate(s); err != nil {
		return nil, err
	}
	if err := s.required(); err != nil {
		return nil, config.Validate(requiredCheck{s})
	}
	d := s.withDefaults()
	if client == nil {
		client = http.DefaultClient
	}
	u := d.JWKSURL
	if u == "" {
		var err error
		if u, err = discover(ctx, client, d.Issuer); err != nil {
			return nil, err
		}
	}
	k := &keys{client: client, url: u, minInterval: d.MinRefreshInterval, now: now, log: d.Logger}
	if err := k.fetch(ctx); err != nil {
		return nil, err
	}
	v := &Verifier{s: d, keys: k, now: now, cache: tokenCache{max: d.CacheSize}}
	for _, a := range d.Algorithms {
		alg, _ := jwa.LookupSignatureAlgorithm(a) // Validate allowed only known names
		v.algs = append(v.algs, alg)
	}
	v.parse = []jwt.ParseOption{
		jwt.WithValidate(true),
		jwt.WithIssuer(d.Issuer),
		jwt.WithAcceptableSkew(d.Leeway),
		jwt.WithClock(jwt.ClockFunc(now)),
		jwt.WithRequiredClaim("sub"),
		jwt.WithRequiredClaim("exp"),
		jwt.WithValidator(jwt.ValidatorFunc(v.checkAudience)),
	}
	return v, nil
}

// requiredCheck lets config.Validate report the required fields as a *config.Error.
type requiredCheck struct{ s Settings }

func (r requiredCheck) Validate() error { return r.s.required() }

// Run refreshes the key set every RefreshInterval until ctx is done, logging
// failures (the last good set stays in use). It returns nil when ctx is cancelled.
func (v *Verifier) Run(ctx context.Context) error {
	t := time.NewTicker(v.s.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := v.keys.refresh(ctx); err != nil && ctx.Err() == nil {
				v.s.Logger.Warn("auth: key set refresh failed", "url", v.keys.url, "error", err)
			}
		}
	}
}

// Verify checks raw, a compact JWS, and returns its Principal. Errors match
// [ErrInvalidToken], and [ErrExpired], [ErrNotYetValid], [ErrUnknownKey] or
// [ErrAlgorithm] when that is the reason. A token verified before against the same
// key set is answered from the cache (Settings.CacheSize) while it has not expired.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	if raw == "" {
		return Principal{}, ErrNoToken
	}
	if len(raw) > maxTokenBytes {
		return Principal{}, invalid(nil, errors.New("token too long"))
	}
	h := sha256.Sum256([]byte(raw))
	set := v.keys.set.Load()
	if e, ok := v.cache.get(h); ok {
		if e.keys == set && v.now().Before(e.p.Expiry.Add(v.s.Leeway)) {
			return e.p.clone(), nil
		}
		v.cache.forget(h) // expired, or the key set changed: verify again
	}
	kp := keyProvider{v: v}
	opts := append(v.parse[:len(v.parse):len(v.parse)], jwt.WithKeyProvider(&kp), jwt.WithContext(ctx))
	tok, err := jwt.ParseString(raw, opts...)
	if err != nil {
		return Principal{}, classify(err, kp.err)
	}
	p := v.principal(tok)
	if cur := v.keys.set.Load(); cur == set { // not when a refresh ran meanwhile
		v.cache.put(h, verified{p: p.clone(), keys: cur})
	}
	return p, nil
}

// checkAudience accepts a token naming any of the configured audiences.
func (v *Verifier) checkAudience(_ context.Context, t jwt.Token) error {
	aud, _ := t.Audience()
	for _, a := range aud {
		if slices.Contains(v.s.Audience, a) {
			return nil
		}
	}
	return fmt.Errorf("aud %q names none of %q", aud, v.s.Audience)
}

// classify maps a jwx error to the package's sentinels.
func classify(err, keyErr error) error {
	switch {
	case keyErr != nil:
		return keyErr
	case errors.Is(err, jwt.TokenExpiredError()):
		return invalid(ErrExpired, err)
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return invalid(ErrNotYetValid, err)
	}
	return invalid(nil, err)
}

// keyProvider hands jwx the key for the token's kid with the algorithm the
// configuration and the key allow; it records why it refused one.
type keyProvider struct {
	v   *Verifier
	err error
}

func (kp *keyProvider) FetchKeys(ctx context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	h := sig.ProtectedHeaders()
	alg, ok := h.Algorithm()
	if !ok || !slices.Contains(kp.v.algs, alg) {
		kp.err = invalid(ErrAlgorithm, fmt.Errorf("alg %q is not one of %s", alg.String(), strings.Join(kp.v.s.Algorithms, ",")))
		return kp.err
	}
	kid, ok := h.KeyID()
	if !ok || kid == "" {
		kp.err = invalid(ErrUnknownKey, errors.New("token has no kid"))
		return kp.err
	}
	key, ok := kp.v.keys.lookup(ctx, kid)
	if !ok {
		kp.err = invalid(ErrUnknownKey, fmt.Errorf("kid %q is not in the provider's key set", kid))
		return kp.err
	}
	if !fits(key, alg) {
		kp.err = invalid(ErrAlgorithm, fmt.Errorf("alg %q does not fit key %q", alg.String(), kid))
		return kp.err
	}
	sink.Key(alg, kp.v.keys.exported(key))
	return nil
}

// fits reports whether alg is the key's own alg (when the JWK names one) and fits
// the key's type.
func fits(key jwk.Key, alg jwa.SignatureAlgorithm) bool {
	if ka, ok := key.Algorithm(); ok && ka.String() != alg.String() {
		return false
	}
	if u, ok := key.KeyUsage(); ok && u != "sig" {
		return false
	}
	name := alg.String()
	switch key.KeyType() {
	case jwa.RSA():
		return strings.HasPrefix(name, "RS") || strings.HasPrefix(name, "PS")
	case jwa.EC():
		if pk, ok := key.(jwk.ECDSAPublicKey); ok {
			c, _ := pk.Crv()
			return ecFits(c, name)
		}
		return false
	case jwa.OKP():
		return name == "EdDSA"
	}
	return false
}

func ecFits(c jwa.EllipticCurveAlgorithm, alg string) bool {
	switch c {
	case jwa.P256():
		return alg == "ES256"
	case jwa.P384():
		return alg == "ES384"
	case jwa.P521():
		return alg == "ES512"
	}
	return false
}
