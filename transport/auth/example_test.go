package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/gantry-go/gantry/transport/auth"
)

// idp is a minimal OIDC provider on loopback with one ES256 key.
type idp struct {
	srv *httptest.Server
	key jwk.Key
}

func newIDP() *idp {
	raw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	priv, _ := jwk.Import(raw)
	_ = priv.Set(jwk.KeyIDKey, "k1")
	_ = priv.Set(jwk.AlgorithmKey, jwa.ES256())
	pub, _ := priv.PublicKey()
	p := &idp{key: priv}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		set := jwk.NewSet()
		_ = set.AddKey(pub)
		_ = json.NewEncoder(w).Encode(set)
	})
	p.srv = httptest.NewServer(mux)
	return p
}

func (p *idp) token(sub string, roles ...string) string {
	t, _ := jwt.NewBuilder().Issuer(p.srv.URL).Audience([]string{"shop-api"}).Subject(sub).
		Expiration(time.Now().Add(time.Hour)).Claim("roles", roles).Build()
	b, _ := jwt.Sign(t, jwt.WithKey(jwa.ES256(), p.key))
	return string(b)
}

func get(url, token string) string {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
}

func ExampleNewVerifier() {
	p := newIDP()
	defer p.srv.Close()
	ctx := context.Background()
	v, err := auth.NewVerifier(ctx, auth.Settings{Issuer: p.srv.URL, Audience: []string{"shop-api"}}, p.srv.Client())
	if err != nil {
		fmt.Println(err)
		return
	}
	// In a service, give v to gantry.Run so that Run refreshes the keys.
	who, err := v.Verify(ctx, p.token("alice", "admin"))
	fmt.Println(who.Subject, who.Roles, err)
	_, err = v.Verify(ctx, "not-a-token")
	fmt.Println(err != nil)
	// Output:
	// alice [admin] <nil>
	// true
}

func ExampleAuthenticate() {
	p := newIDP()
	defer p.srv.Close()
	v, err := auth.NewVerifier(context.Background(), auth.Settings{Issuer: p.srv.URL, Audience: []string{"shop-api"}}, p.srv.Client())
	if err != nil {
		fmt.Println(err)
		return
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, _ := auth.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", who.Subject)
	})
	api := httptest.NewServer(auth.Authenticate(v, auth.Options{Realm: "shop"})(hello))
	defer api.Close()
	fmt.Println(get(api.URL, p.token("alice")))
	fmt.Println(get(api.URL, ""))
	fmt.Println(get(api.URL, "forged"))
	// Output:
	// 200  hello alice
	// 401 Bearer realm="shop" {"title":"Unauthorized","status":401,"detail":"a bearer token is required"}
	// 401 Bearer realm="shop", error="invalid_token", error_description="the token is invalid" {"title":"Unauthorized","status":401,"detail":"the token is invalid"}
}

func ExampleRequireRole() {
	p := newIDP()
	defer p.srv.Close()
	v, err := auth.NewVerifier(context.Background(), auth.Settings{Issuer: p.srv.URL, Audience: []string{"shop-api"}}, p.srv.Client())
	if err != nil {
		fmt.Println(err)
		return
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "refunded") })
	api := httptest.NewServer(auth.Authenticate(v, auth.Options{})(auth.RequireRole("admin")(ok)))
	defer api.Close()
	fmt.Println(get(api.URL, p.token("alice", "admin")))
	fmt.Println(get(api.URL, p.token("bob", "buyer")))
	// Output:
	// 200  refunded
	// 403 Bearer error="insufficient_scope", error_description="the token lacks role \"admin\"" {"title":"Forbidden","status":403,"detail":"the token lacks role \"admin\""}
}

func ExampleParseBearer() {
	fmt.Println(auth.ParseBearer("Bearer abc.def.ghi"))
	fmt.Println(auth.ParseBearer("Basic dXNlcjpwdw=="))
	// Output:
	// abc.def.ghi true
	//  false
}

func ExampleRequireScope() {
	p := newIDP()
	defer p.srv.Close()
	v, err := auth.NewVerifier(context.Background(), auth.Settings{Issuer: p.srv.URL, Audience: []string{"shop-api"}}, p.srv.Client())
	if err != nil {
		fmt.Println(err)
		return
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "listed") })
	api := httptest.NewServer(auth.Authenticate(v, auth.Options{})(auth.RequireScope("orders:read")(ok)))
	defer api.Close()
	fmt.Println(get(api.URL, p.token("alice"))[:61])
	// Output:
	// 403 Bearer error="insufficient_scope", error_description="the
}

func ExampleNewContext() {
	ctx := auth.NewContext(context.Background(), auth.Principal{Subject: "alice", Roles: []string{"admin"}})
	p, ok := auth.FromContext(ctx)
	fmt.Println(p.Subject, p.HasRole("admin"), ok)
	_, ok = auth.FromContext(context.Background())
	fmt.Println(ok)
	// Output:
	// alice true true
	// false
}
