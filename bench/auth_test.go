package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport/auth"
)

const benchAudience = "shop-api"

// idp is an OIDC provider on loopback (discovery and a JWKS of one key) and a token
// it signed for alice.
type idp struct {
	issuer string
	alg    jwa.SignatureAlgorithm
	pub    any // the crypto public key
	token  string
}

func newIdP(b *testing.B, alg jwa.SignatureAlgorithm) *idp {
	b.Helper()
	var priv, pub any
	switch alg {
	case jwa.ES256():
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	default:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	}
	jpriv, err := jwk.Import(priv)
	if err != nil {
		b.Fatal(err)
	}
	jpub, err := jwk.Import(pub)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []jwk.Key{jpriv, jpub} {
		_ = k.Set(jwk.KeyIDKey, "k1")
		_ = k.Set(jwk.AlgorithmKey, alg)
	}
	p := &idp{alg: alg, pub: pub}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	p.issuer = srv.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.issuer, "jwks_uri": p.issuer + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		set := jwk.NewSet()
		_ = set.AddKey(jpub)
		_ = json.NewEncoder(w).Encode(set)
	})
	tok, err := jwt.NewBuilder().Issuer(p.issuer).Audience([]string{benchAudience}).Subject("alice").
		IssuedAt(time.Now()).Expiration(time.Now().Add(time.Hour)).Build()
	if err != nil {
		b.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, jpriv))
	if err != nil {
		b.Fatal(err)
	}
	p.token = string(signed)
	return p
}

func (p *idp) verifier(b *testing.B, cacheSize int) *auth.Verifier {
	b.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Settings{Issuer: p.issuer, Audience: []string{benchAudience}, CacheSize: cacheSize},
		&http.Client{Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkTokenVerify is the verification of one bearer token with a cached JWKS:
//
//   - impl=gantry: auth.Verifier.Verify with its token cache off (AUTH_CACHE_SIZE
//     -1): kid lookup in the cached set, pinned algorithms, signature, exp/nbf/iat
//     with leeway, iss, aud, sub, the Principal;
//   - impl=gantry-cached: the same token again with the cache on (the default): a
//     SHA-256, a map lookup, the expiry check and a copy of the Principal;
//   - impl=jwt: jwx's jwt.Parse with the same key and iss and aud checks, the
//     library's own verify-and-validate;
//   - impl=jws: jwx's bare jws.Verify with the same key: the signature alone.
//
// Target: gantry at most 1.2x impl=jwt.
func BenchmarkTokenVerify(b *testing.B) {
	for _, alg := range []jwa.SignatureAlgorithm{jwa.ES256(), jwa.RS256()} {
		p := newIdP(b, alg)
		ctx := context.Background()
		raw := []byte(p.token)
		for impl, size := range map[string]int{"gantry": -1, "gantry-cached": 0} {
			v := p.verifier(b, size)
			b.Run("alg="+alg.String()+"/impl="+impl, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(ctx, p.token); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run("alg="+alg.String()+"/impl=jwt", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jwt.Parse(raw, jwt.WithKey(p.alg, p.pub), jwt.WithIssuer(p.issuer), jwt.WithAudience(benchAudience)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("alg="+alg.String()+"/impl=jws", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jws.Verify(raw, jws.WithKey(p.alg, p.pub)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGatewayHop is one request through an edge server over loopback TCP on
// kept-alive connections: gantry.NewServer with ServerSettings.Edge (tracing off)
// in front of an httputil.ReverseProxy to an upstream that answers "ok", 16 callers
// on 2 cores.
//
//   - impl=anonymous: no user authentication, no token;
//   - impl=authenticated: auth.Authenticate with a cached JWKS (ES256) as the
//     server's policy, each request with a bearer token (the same one: a client's
//     session), with the verifier's token cache on (the default);
//   - impl=authenticated-uncached: the same with the token cache off, so every
//     request pays the ES256 signature check.
//
// Target: authenticated at least 0.9x anonymous in requests per second, that is
// ns/op at most 1/0.9 = 1.11x.
func BenchmarkGatewayHop(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	b.Cleanup(up.Close)
	target, _ := url.Parse(up.URL)
	upTransport := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(upTransport.CloseIdleConnections)
	proxy := &httputil.ReverseProxy{Transport: upTransport, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Header.Del("Authorization")
	}}
	p := newIdP(b, jwa.ES256())
	v, uncached := p.verifier(b, 0), p.verifier(b, -1)
	none := observability.Instrumentation{}

	serve := func(b *testing.B, srv *http.Server) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- gantry.Run(ctx, gantry.Options{Servers: []gantry.Server{{Server: srv, Listener: ln}},
				Settings: gantry.Settings{DrainDelay: -1, Timeout: 5 * time.Second}, Signals: make(chan os.Signal)})
		}()
		b.Cleanup(func() { cancel(); <-done })
		return "http://" + ln.Addr().String()
	}
	for _, tc := range []struct {
		name   string
		policy func(http.Handler) http.Handler
		bearer string
	}{
		{"anonymous", nil, ""},
		{"authenticated", auth.Authenticate(v, auth.Options{Realm: "shop"}), "Bearer " + p.token},
		{"authenticated-uncached", auth.Authenticate(uncached, auth.Options{Realm: "shop"}), "Bearer " + p.token},
	} {
		b.Run("impl="+tc.name, func(b *testing.B) {
			srv, err := gantry.NewServer(proxy, gantry.ServerSettings{Edge: true}, none, tc.policy)
			if err != nil {
				b.Fatal(err)
			}
			base := serve(b, srv)
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			b.Cleanup(tr.CloseIdleConnections)
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			b.ReportAllocs()
			b.SetParallelism(8) // 16 callers on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", base+"/api/products", nil)
					if tc.bearer != "" {
						req.Header.Set("Authorization", tc.bearer)
					}
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("GET = %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
