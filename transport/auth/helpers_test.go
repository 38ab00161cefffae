package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

const testAudience = "shop-api"

// provider is a real OIDC provider on loopback: discovery and a JWKS that tests
// change while it runs, with the JWKS requests counted.
type provider struct {
	srv   *httptest.Server
	hits  atomic.Int64 // JWKS requests
	mu    sync.Mutex
	keys  []*signer
	fails bool
}

func newProvider(t testing.TB, keys ...*signer) *provider {
	t.Helper()
	p := &provider{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.fails {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		set := jwk.NewSet()
		for _, k := range p.keys {
			_ = set.AddKey(k.pub)
		}
		_ = json.NewEncoder(w).Encode(set)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) setFailing(f bool) {
	p.mu.Lock()
	p.fails = f
	p.mu.Unlock()
}

// publish replaces the provider's key set.
func (p *provider) publish(keys ...*signer) {
	p.mu.Lock()
	p.keys = keys
	p.mu.Unlock()
}

func (p *provider) settings() Settings {
	return Settings{Issuer: p.srv.URL, Audience: []string{testAudience}}
}

// verifier starts a Verifier on p with the clock now (nil: time.Now).
func (p *provider) verifier(t testing.TB, s Settings, now func() time.Time) *Verifier {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	v, err := newVerifier(context.Background(), s, p.srv.Client(), now)
	if err != nil {
		t.Fatalf("newVerifier: %v", err)
	}
	return v
}

// signer is a signing key of the provider.
type signer struct {
	kid  string
	alg  jwa.SignatureAlgorithm
	priv jwk.Key
	pub  jwk.Key
	raw  any // the crypto public key
}

func newRSA(t testing.TB, kid string) *signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return newSigner(t, kid, jwa.RS256(), k, &k.PublicKey)
}

func newEC(t testing.TB, kid string) *signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newSigner(t, kid, jwa.ES256(), k, &k.PublicKey)
}

func newSigner(t testing.TB, kid string, alg jwa.SignatureAlgorithm, priv, pub any) *signer {
	t.Helper()
	s := &signer{kid: kid, alg: alg, raw: pub}
	var err error
	if s.priv, err = jwk.Import(priv); err != nil {
		t.Fatal(err)
	}
	if s.pub, err = jwk.Import(pub); err != nil {
		t.Fatal(err)
	}
	for _, k := range []jwk.Key{s.priv, s.pub} {
		_ = k.Set(jwk.KeyIDKey, kid)
		_ = k.Set(jwk.AlgorithmKey, alg)
	}
	_ = s.pub.Set(jwk.KeyUsageKey, "sig")
	return s
}

// claims are the claims of a valid token for p, changed by edits.
func (p *provider) claims(edits ...func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":   p.srv.URL,
		"aud":   testAudience,
		"sub":   "alice",
		"exp":   now.Add(time.Hour).Unix(),
		"nbf":   now.Add(-time.Minute).Unix(),
		"iat":   now.Add(-time.Minute).Unix(),
		"roles": []string{"admin", "buyer"},
		"scope": "orders:read orders:write",
	}
	for _, e := range edits {
		e(c)
	}
	return c
}

// sign returns a compact JWS of claims signed by s.
func (s *signer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range claims {
		if err := tok.Set(k, v); err != nil {
			t.Fatalf("Set(%s): %v", k, err)
		}
	}
	b, err := jwt.Sign(tok, jwt.WithKey(s.alg, s.priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// handMade returns a compact JWS with the given header and claims and the raw
// signature sig, for tokens jwx would refuse to sign.
func handMade(header, claims map[string]any, sig []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}
