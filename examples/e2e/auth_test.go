package e2e_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/gateway"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/auth"
	"github.com/gantry-go/gantry/transport/identity"
)

// unlimited is a gateway rate limit no test here reaches.
var unlimited = resilience.RateLimitSettings{KeyRate: 1e6, KeyBurst: 1e6}

type answer struct {
	status    int
	challenge string
	ctype     string
	replayed  string
	body      string
}

// call sends method path to the gateway with the given bearer token ("" for none)
// and extra headers.
func call(t *testing.T, s *shop.Shop, tok, method, path, body string, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URLs["gateway"]+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Content-Type"),
		resp.Header.Get("Idempotent-Replayed"), string(b)}
}

// claims are those of a valid token of s's provider for alice, changed by edit.
func claims(s *shop.Shop, edit func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": s.IdP.Issuer(), "aud": s.IdP.Audience(), "sub": "alice",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

// signWithStranger signs c with a fresh ES256 key under kid: a key the provider
// never published.
func signWithStranger(t *testing.T, kid string, c map[string]any) string {
	t.Helper()
	raw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	tok := jwt.New()
	for n, v := range c {
		_ = tok.Set(n, v)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), k))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// handMade returns header.claims.signature, signing with sign (nil: no signature).
func handMade(header, c map[string]any, sign func([]byte) []byte) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(c)
	in := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(in))
	}
	return in + "." + enc.EncodeToString(sig)
}

// TestGatewayRefusesBadTokens: every kind of bad token gets 401 with an RFC 6750
// challenge through the one-process shop's gateway, browsing stays open, and
// however many tokens with unknown key ids arrive, the gateway fetches the
// provider's JWKS once (one refresh per AUTH_JWKS_MIN_REFRESH_INTERVAL, 10s).
func TestGatewayRefusesBadTokens(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: unlimited})
	ctx := t.Context()
	kid := s.IdP.KeyID()
	signed := func(edit func(map[string]any)) string {
		tok, err := s.IdP.Sign(ctx, claims(s, edit))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// The provider's public key, as published, is what an attacker would use as an
	// HMAC secret.
	resp, err := http.Get(s.IdP.Issuer() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	var pub []byte
	for _, k := range set.Keys {
		if strings.Contains(string(k), kid) {
			pub = k
		}
	}
	if pub == nil {
		t.Fatalf("JWKS %s lacks the signing key %s", set.Keys, kid)
	}
	good := signed(nil)
	bad := map[string]string{
		"forged signature": signWithStranger(t, kid, claims(s, nil)),
		"alg none":         handMade(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, claims(s, nil), nil),
		"HS256 with the public key as secret": handMade(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims(s, nil),
			func(in []byte) []byte { m := hmac.New(sha256.New, pub); m.Write(in); return m.Sum(nil) }),
		"expired": signed(func(c map[string]any) {
			c["exp"], c["nbf"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix()
		}),
		"not yet valid": signed(func(c map[string]any) {
			c["nbf"], c["exp"] = time.Now().Add(time.Hour).Unix(), time.Now().Add(2*time.Hour).Unix()
		}),
		"wrong iss":       signed(func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" }),
		"wrong aud":       signed(func(c map[string]any) { c["aud"] = "another-api" }),
		"unknown kid":     signWithStranger(t, "unknown-kid", claims(s, nil)),
		"no sub":          signed(func(c map[string]any) { delete(c, "sub") }),
		"tampered claims": good[:strings.Index(good, ".")+1] + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"bob"}`)) + good[strings.LastIndex(good, "."):],
		"not a JWT":       "not-a-jwt",
	}
	jwksBefore := s.IdP.JWKSRequests()
	for name, tok := range bad {
		for _, path := range []string{"/api/carts/c1", "/api/orders/ord_x", "/api/products"} {
			a := call(t, s, tok, "GET", path, "")
			if a.status != http.StatusUnauthorized || !strings.HasPrefix(a.challenge, `Bearer realm="shop", error="invalid_token"`) ||
				a.ctype != transport.ContentTypeProblem {
				t.Errorf("%s: GET %s = %d, WWW-Authenticate %q, %q; want 401 with error=\"invalid_token\", problem+json",
					name, path, a.status, a.challenge, a.ctype)
			}
		}
	}
	// A flood of unknown key ids costs the provider one fetch, not one per token.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 40 {
				tok := signWithStranger(t, fmt.Sprintf("flood-%d-%d", i, j), claims(s, nil))
				if a := call(t, s, tok, "GET", "/api/carts/c1", ""); a.status != http.StatusUnauthorized {
					t.Errorf("unknown kid flood: GET = %d, want 401", a.status)
				}
			}
		})
	}
	wg.Wait()
	if got := s.IdP.JWKSRequests() - jwksBefore; got != 1 {
		t.Errorf("JWKS fetches during %d bad tokens and 320 unknown key ids = %d, want 1", len(bad)*3, got)
	}

	// Anonymous: browsing is open, carts and orders need a login.
	if a := call(t, s, "", "GET", "/api/products", ""); a.status != 200 {
		t.Errorf("GET /api/products without a token = %d, want 200", a.status)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/carts/c1", ""}, {"PUT", "/api/carts/c1/items/p01", `{"quantity":1}`},
		{"POST", "/api/carts/c1/checkout", ""}, {"GET", "/api/orders/ord_x", ""},
	} {
		a := call(t, s, "", r.method, r.path, r.body, "Idempotency-Key", "anon")
		if a.status != http.StatusUnauthorized || a.challenge != `Bearer realm="shop"` {
			t.Errorf("%s %s without a token = %d, WWW-Authenticate %q; want 401 Bearer realm=\"shop\"", r.method, r.path, a.status, a.challenge)
		}
	}
	if a := call(t, s, good, "GET", "/api/products", ""); a.status != 200 {
		t.Errorf("GET /api/products with a good token = %d, want 200", a.status)
	}
}

// TestUsersCannotReachEachOthersCartsAndOrders: through the gateway, bob cannot
// read, change or check out alice's cart, read her order, replay her key or squat
// it, and a forged Gantry-Principal does not make him alice.
func TestUsersCannotReachEachOthersCartsAndOrders(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: unlimited})
	alice, bob := token(t, s, "alice"), token(t, s, "bob")
	if a := call(t, s, alice, "PUT", "/api/carts/c1/items/p01", `{"quantity":2}`); a.status != 200 {
		t.Fatalf("alice PUT = %d %s", a.status, a.body)
	}
	// Bob takes "k2" first, on his own cart.
	call(t, s, bob, "PUT", "/api/carts/b1/items/p04", `{"quantity":1}`)
	if a := call(t, s, bob, "POST", "/api/carts/b1/checkout", "", "Idempotency-Key", "k2"); a.status != http.StatusCreated {
		t.Fatalf("bob checkout b1 with k2 = %d %s", a.status, a.body)
	}
	co := call(t, s, alice, "POST", "/api/carts/c1/checkout", "", "Idempotency-Key", "k1")
	if co.status != http.StatusCreated {
		t.Fatalf("alice checkout = %d %s", co.status, co.body)
	}
	var order cart.CheckoutBody
	_ = json.Unmarshal([]byte(co.body), &order)

	for _, r := range []struct {
		method, path, body string
		hdr                []string
	}{
		{"GET", "/api/carts/c1", "", nil},
		{"DELETE", "/api/carts/c1/items/p01", "", nil},
		{"POST", "/api/carts/c1/checkout", "", []string{"Idempotency-Key", "k1"}}, // her cart, her key
		{"GET", "/api/orders/" + order.OrderID, "", nil},
		{"GET", "/api/orders/" + order.OrderID, "", []string{"Gantry-Principal", "alice"}}, // forged at the edge
	} {
		if a := call(t, s, bob, r.method, r.path, r.body, r.hdr...); a.status != http.StatusNotFound || strings.Contains(a.body, order.OrderID) {
			t.Errorf("bob %s %s %v = %d %s, want 404 saying nothing of alice's", r.method, r.path, r.hdr, a.status, a.body)
		}
	}
	// The key bob used first is still alice's to use.
	call(t, s, alice, "PUT", "/api/carts/c2/items/p02", `{"quantity":1}`)
	if a := call(t, s, alice, "POST", "/api/carts/c2/checkout", "", "Idempotency-Key", "k2"); a.status != http.StatusCreated || a.replayed != "" {
		t.Errorf("alice checkout c2 with k2 (bob's key too) = %d replayed %q %s, want a new order of hers", a.status, a.replayed, a.body)
	}
	// Alice's own replay still finds her order, paid once.
	if a := call(t, s, alice, "POST", "/api/carts/c1/checkout", "", "Idempotency-Key", "k1"); a.status != http.StatusCreated ||
		a.replayed != "true" || !strings.Contains(a.body, order.OrderID) {
		t.Errorf("alice replays k1 = %d replayed %q %s, want order %s replayed", a.status, a.replayed, a.body, order.OrderID)
	}
	if a := call(t, s, alice, "GET", "/api/orders/"+order.OrderID, ""); a.status != 200 || !strings.Contains(a.body, `"paid"`) {
		t.Errorf("alice GET her order = %d %s, want 200 paid", a.status, a.body)
	}
}

// TestCartBelievesThePrincipalOnlyFromTheGateway: over mTLS the cart takes
// Gantry-Principal from the gateway's identity and refuses it from any other.
func TestCartBelievesThePrincipalOnlyFromTheGateway(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: unlimited})
	if a := call(t, s, token(t, s, "alice"), "PUT", "/api/carts/c1/items/p01", `{"quantity":1}`); a.status != 200 {
		t.Fatalf("alice PUT = %d %s", a.status, a.body)
	}
	as := func(name string) *http.Client {
		id, _ := identity.NewID("gantry.test", "default", name)
		src, err := s.CA.Source(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tr := identity.NewTransport(src, transport.ClientSettings{})
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client, principal string) int {
		req, _ := http.NewRequest("GET", s.URLs["cart"]+"/carts/c1", nil)
		if principal != "" {
			req.Header.Set(transport.HeaderPrincipal, principal)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		caller, principal string
		want              int
	}{
		{"gateway", "alice", 200},
		{"gateway", "bob", 404},
		{"operator", "alice", 403}, // may read carts, not act for a user
		{"operator", "", 404},      // the unowned namespace
	} {
		if got := get(as(tc.caller), tc.principal); got != tc.want {
			t.Errorf("GET cart /carts/c1 as %s with Gantry-Principal %q = %d, want %d", tc.caller, tc.principal, got, tc.want)
		}
	}
}

// TestKeyRotationUnderLoad: the provider rotates its signing key while clients
// keep sending freshly issued tokens: no valid token is refused.
func TestKeyRotationUnderLoad(t *testing.T) {
	s := runShop(t, shop.Options{RateLimit: unlimited,
		Auth: gateway.AuthSettings{OIDC: auth.Settings{MinRefreshInterval: 100 * time.Millisecond}}})
	ctx := t.Context()
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := s.Token(ctx, "alice")
				if err != nil {
					t.Error(err)
					return
				}
				// Logged in, the cart answers its own 404 for an order that does not exist.
				if a := call(t, s, tok, "GET", "/api/orders/ord_none", ""); a.status == http.StatusNotFound {
					ok.Add(1)
				} else {
					failed.Add(1)
					t.Errorf("GET with a fresh token during rotation = %d %q %s", a.status, a.challenge, a.body)
				}
			}
		})
	}
	kids := map[string]bool{s.IdP.KeyID(): true}
	for range 10 {
		time.Sleep(250 * time.Millisecond) // the load runs between rotations
		kid, err := s.IdP.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		kids[kid] = true
	}
	time.Sleep(250 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 100 || len(kids) != 11 {
		t.Errorf("during 10 rotations (%d keys): %d requests answered, %d refused; want 0 refused of at least 100", len(kids), ok.Load(), failed.Load())
	}
}
