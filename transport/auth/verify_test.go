package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/transport"
)

// serve runs h behind Authenticate(v, opts) on loopback and returns its URL.
func serve(t *testing.T, v *Verifier, opts Options, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(Authenticate(v, opts)(h))
	t.Cleanup(srv.Close)
	return srv.URL
}

func call(t *testing.T, url, authorization string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// principalHandler writes the request's Principal as JSON.
var principalHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := FromContext(r.Context())
	if !ok {
		_, _ = io.WriteString(w, "anonymous")
		return
	}
	_ = json.NewEncoder(w).Encode(p)
})

func TestAuthenticateRejectsBadTokens(t *testing.T) {
	rsaKey, ecKey, bareEC := newRSA(t, "rsa-1"), newEC(t, "ec-1"), newEC(t, "ec-bare")
	_ = bareEC.pub.Remove(jwk.AlgorithmKey) // a JWK that names no alg
	p := newProvider(t, rsaKey, ecKey, bareEC)
	v := p.verifier(t, p.settings(), nil)
	url := serve(t, v, Options{Realm: "shop"}, principalHandler)

	stranger := newRSA(t, "rsa-1") // same kid, other key: a forged signature
	pubDER, _ := x509.MarshalPKIXPublicKey(rsaKey.raw)
	hs := func(claims map[string]any) string {
		unsigned := handMade(map[string]any{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, claims, nil)
		unsigned = strings.TrimSuffix(unsigned, ".")
		m := hmac.New(sha256.New, pubDER)
		m.Write([]byte(unsigned))
		return handMade(map[string]any{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, claims, m.Sum(nil))
	}
	valid := rsaKey.sign(t, p.claims())
	parts := strings.Split(valid, ".")
	tampered, _ := json.Marshal(p.claims(func(c map[string]any) { c["sub"] = "mallory" }))

	tests := []struct {
		name   string
		header string
		desc   string // error_description; "" means the no-token challenge
	}{
		{"no header", "", ""},
		{"forged signature", "Bearer " + stranger.sign(t, p.claims()), "the token is invalid"},
		{"tampered payload", "Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString(tampered) + "." + parts[2], "the token is invalid"},
		{"alg none", "Bearer " + handMade(map[string]any{"alg": "none", "kid": "rsa-1"}, p.claims(), nil), "the token's algorithm is not accepted"},
		{"alg none no kid", "Bearer " + handMade(map[string]any{"alg": "none"}, p.claims(), nil), "the token's algorithm is not accepted"},
		{"HS256 with the public key as secret", "Bearer " + hs(p.claims()), "the token's algorithm is not accepted"},
		{"RS256 header on the EC key", "Bearer " + handMade(map[string]any{"alg": "RS256", "kid": "ec-1"}, p.claims(), []byte("x")), "the token's algorithm is not accepted"},
		{"RS256 header on an EC key without alg", "Bearer " + handMade(map[string]any{"alg": "RS256", "kid": "ec-bare"}, p.claims(), []byte("x")), "the token's algorithm is not accepted"},
		{"expired", "Bearer " + rsaKey.sign(t, p.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), "the token expired"},
		{"not yet valid", "Bearer " + rsaKey.sign(t, p.claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Minute).Unix() })), "the token is not yet valid"},
		{"wrong iss", "Bearer " + rsaKey.sign(t, p.claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), "the token is invalid"},
		{"wrong aud", "Bearer " + rsaKey.sign(t, p.claims(func(c map[string]any) { c["aud"] = "other-api" })), "the token is invalid"},
		{"no aud", "Bearer " + rsaKey.sign(t, p.claims(func(c map[string]any) { delete(c, "aud") })), "the token is invalid"},
		{"unknown kid", "Bearer " + newRSA(t, "rsa-9").sign(t, p.claims()), "the token is signed by an unknown key"},
		{"missing sub", "Bearer " + rsaKey.sign(t, p.claims(func(c map[string]any) { delete(c, "sub") })), "the token is invalid"},
		{"missing exp", "Bearer " + rsaKey.sign(t, p.claims(func(c map[string]any) { delete(c, "exp") })), "the token is invalid"},
		{"garbage", "Bearer abc.def.ghi", "the token is invalid"},
		{"not a JWS", "Bearer hello", "the token is invalid"},
		{"wrong scheme", "Basic " + valid, "the token is invalid"},
		{"scheme alone", "Bearer", "the token is invalid"},
		{"two spaces", "Bearer  " + valid, "the token is invalid"},
		{"trailing junk", "Bearer " + valid + " x", "the token is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := call(t, url, tt.header)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("GET with %q = %d %s, want 401", tt.name, resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != transport.ContentTypeProblem {
				t.Errorf("Content-Type = %q, want %q", ct, transport.ContentTypeProblem)
			}
			want := `Bearer realm="shop"`
			if tt.desc != "" {
				want += `, error="invalid_token", error_description="` + tt.desc + `"`
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			var prob transport.Problem
			if err := json.Unmarshal([]byte(body), &prob); err != nil || prob.Status != 401 {
				t.Errorf("body = %s (%v), want a 401 problem", body, err)
			}
		})
	}
}

func TestAuthenticateValidToken(t *testing.T) {
	rsaKey, ecKey := newRSA(t, "rsa-1"), newEC(t, "ec-1")
	p := newProvider(t, rsaKey, ecKey)
	v := p.verifier(t, p.settings(), nil)
	url := serve(t, v, Options{}, principalHandler)
	for _, k := range []*signer{rsaKey, ecKey} {
		claims := p.claims()
		for _, scheme := range []string{"Bearer ", "bearer "} {
			resp, body := call(t, url, scheme+k.sign(t, claims))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET with a valid %s token = %d %s, want 200", k.alg, resp.StatusCode, body)
			}
			var got Principal
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			want := Principal{
				Subject: "alice", Issuer: p.srv.URL, Audience: []string{testAudience},
				Expiry: time.Unix(claims["exp"].(int64), 0), Roles: []string{"admin", "buyer"},
				Scopes: []string{"orders:read", "orders:write"},
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("Principal (-want +got):\n%s", diff)
			}
		}
	}
}

func TestLeewayAcceptsSmallSkew(t *testing.T) {
	k := newRSA(t, "rsa-1")
	p := newProvider(t, k)
	v := p.verifier(t, p.settings(), nil)
	for name, edit := range map[string]func(map[string]any){
		"exp 10s ago":      func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() },
		"nbf in 10s":       func(c map[string]any) { c["nbf"] = time.Now().Add(10 * time.Second).Unix() },
		"roles as string":  func(c map[string]any) { c["roles"] = "admin buyer" },
		"audience in list": func(c map[string]any) { c["aud"] = []string{"x", testAudience} },
	} {
		if _, err := v.Verify(context.Background(), k.sign(t, p.claims(edit))); err != nil {
			t.Errorf("Verify(%s) = %v, want nil", name, err)
		}
	}
}

func TestVerifyErrorsMatchSentinels(t *testing.T) {
	k := newRSA(t, "rsa-1")
	p := newProvider(t, k)
	v := p.verifier(t, p.settings(), nil)
	ctx := context.Background()
	tests := []struct {
		name string
		raw  string
		want []error
	}{
		{"empty", "", []error{ErrNoToken}},
		{"expired", k.sign(t, p.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), []error{ErrInvalidToken, ErrExpired}},
		{"not yet valid", k.sign(t, p.claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), []error{ErrInvalidToken, ErrNotYetValid}},
		{"unknown kid", newRSA(t, "nope").sign(t, p.claims()), []error{ErrInvalidToken, ErrUnknownKey}},
		{"alg none", handMade(map[string]any{"alg": "none", "kid": "rsa-1"}, p.claims(), nil), []error{ErrInvalidToken, ErrAlgorithm}},
		{"garbage", "x.y.z", []error{ErrInvalidToken}},
		{"too long", strings.Repeat("a", maxTokenBytes+1), []error{ErrInvalidToken}},
	}
	for _, tt := range tests {
		_, err := v.Verify(ctx, tt.raw)
		for _, w := range tt.want {
			if !errors.Is(err, w) {
				t.Errorf("Verify(%s) = %v, want it to match %v", tt.name, err, w)
			}
		}
	}
}

func TestAnonymousAllowed(t *testing.T) {
	k := newRSA(t, "rsa-1")
	p := newProvider(t, k)
	v := p.verifier(t, p.settings(), nil)
	url := serve(t, v, Options{AllowAnonymous: true}, principalHandler)
	if resp, body := call(t, url, ""); resp.StatusCode != 200 || body != "anonymous" {
		t.Errorf("GET without a token = %d %q, want 200 anonymous", resp.StatusCode, body)
	}
	if resp, body := call(t, url, "Bearer "+k.sign(t, p.claims())); resp.StatusCode != 200 || !strings.Contains(body, `"Subject":"alice"`) {
		t.Errorf("GET with a token = %d %q, want 200 with alice", resp.StatusCode, body)
	}
	expired := k.sign(t, p.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	if resp, body := call(t, url, "Bearer "+expired); resp.StatusCode != 401 {
		t.Errorf("GET with an expired token = %d %q, want 401", resp.StatusCode, body)
	}
}

func TestRequireRole(t *testing.T) {
	k := newRSA(t, "rsa-1")
	p := newProvider(t, k)
	v := p.verifier(t, p.settings(), nil)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("/admin", RequireRole("admin")(ok))
	mux.Handle("/root", RequireRole("root")(ok))
	mux.Handle("/write", RequireScope("orders:write")(ok))
	mux.Handle("/delete", RequireScope("orders:delete")(ok))
	url := serve(t, v, Options{AllowAnonymous: true}, mux)
	tok := "Bearer " + k.sign(t, p.claims())
	tests := []struct {
		path, auth string
		want       int
	}{
		{"/admin", tok, 200},
		{"/root", tok, 403},
		{"/write", tok, 200},
		{"/delete", tok, 403},
		{"/admin", "", 403},
	}
	for _, tt := range tests {
		resp, body := call(t, url+tt.path, tt.auth)
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s (token %v) = %d %s, want %d", tt.path, tt.auth != "", resp.StatusCode, body, tt.want)
			continue
		}
		if tt.want == 403 {
			if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, `Bearer error="insufficient_scope"`) {
				t.Errorf("GET %s: WWW-Authenticate = %q, want insufficient_scope", tt.path, h)
			}
			if ct := resp.Header.Get("Content-Type"); ct != transport.ContentTypeProblem {
				t.Errorf("GET %s: Content-Type = %q", tt.path, ct)
			}
		}
	}
}

func TestNewVerifierFailures(t *testing.T) {
	k := newRSA(t, "rsa-1")
	p := newProvider(t, k)
	ctx := context.Background()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	if _, err := NewVerifier(ctx, Settings{Issuer: downURL, Audience: []string{"a"}}, nil); !errors.Is(err, ErrProvider) {
		t.Errorf("NewVerifier(unreachable) = %v, want ErrProvider", err)
	}
	p.setFailing(true)
	if _, err := NewVerifier(ctx, p.settings(), p.srv.Client()); !errors.Is(err, ErrProvider) {
		t.Errorf("NewVerifier(JWKS 503) = %v, want ErrProvider", err)
	}
	p.setFailing(false)
	if _, err := NewVerifier(ctx, Settings{Issuer: p.srv.URL + "/other", Audience: []string{"a"}}, p.srv.Client()); !errors.Is(err, ErrProvider) {
		t.Errorf("NewVerifier(no discovery) = %v, want ErrProvider", err)
	}
	var ce *config.Error
	_, err := NewVerifier(ctx, Settings{}, nil)
	if !errors.As(err, &ce) {
		t.Fatalf("NewVerifier(zero) = %v, want a *config.Error", err)
	}
	if diff := cmp.Diff([]string{"AUTH_ISSUER", "AUTH_AUDIENCE"}, ce.Vars()); diff != "" {
		t.Errorf("NewVerifier(zero) = %v (-want +got):\n%s", err, diff)
	}
	// An explicit JWKS URL skips discovery.
	s := Settings{Issuer: "https://idp.example", JWKSURL: p.srv.URL + "/jwks", Audience: []string{testAudience}}
	v, err := NewVerifier(ctx, s, p.srv.Client())
	if err != nil {
		t.Fatalf("NewVerifier(JWKS URL) = %v", err)
	}
	tok := k.sign(t, p.claims(func(c map[string]any) { c["iss"] = "https://idp.example" }))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Errorf("Verify with an explicit JWKS URL = %v", err)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	p := newProvider(t, newRSA(t, "rsa-1"))
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "https://evil.example", "jwks_uri": p.srv.URL + "/jwks"})
	})
	imposter := httptest.NewServer(mux)
	defer imposter.Close()
	_, err := NewVerifier(context.Background(), Settings{Issuer: imposter.URL, Audience: []string{"a"}}, imposter.Client())
	if !errors.Is(err, ErrProvider) {
		t.Errorf("NewVerifier(discovery naming another issuer) = %v, want ErrProvider", err)
	}
}

func TestAlgorithmsPinnedByConfiguration(t *testing.T) {
	rsaKey, ecKey := newRSA(t, "rsa-1"), newEC(t, "ec-1")
	p := newProvider(t, rsaKey, ecKey)
	s := p.settings()
	s.Algorithms = []string{"ES256"}
	v := p.verifier(t, s, nil)
	if _, err := v.Verify(context.Background(), ecKey.sign(t, p.claims())); err != nil {
		t.Errorf("Verify(ES256) = %v, want nil", err)
	}
	if _, err := v.Verify(context.Background(), rsaKey.sign(t, p.claims())); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("Verify(RS256 with only ES256 allowed) = %v, want ErrAlgorithm", err)
	}
}

// TestJWKAlgorithmWins checks that a key whose JWK names RS256 does not verify a
// PS256 token, even with PS256 allowed and a valid PS256 signature by that key.
func TestJWKAlgorithmWins(t *testing.T) {
	k := newRSA(t, "rsa-1")
	p := newProvider(t, k)
	s := p.settings()
	s.Algorithms = []string{"RS256", "PS256"}
	v := p.verifier(t, s, nil)
	ps := &signer{kid: k.kid, alg: jwa.PS256(), priv: k.priv}
	if _, err := v.Verify(context.Background(), ps.sign(t, p.claims())); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("Verify(PS256 token, RS256 key) = %v, want ErrAlgorithm", err)
	}
	if _, err := v.Verify(context.Background(), k.sign(t, p.claims())); err != nil {
		t.Errorf("Verify(RS256 token) = %v, want nil", err)
	}
}
