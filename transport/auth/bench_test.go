package auth

import (
	"context"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// BenchmarkVerify compares Verify with a cached key set (impl=gantry) against
// jwx's bare jwt.Parse with the same key set (impl=jwx), which checks the
// signature and exp/nbf/iat but not iss, aud or sub.
func BenchmarkVerify(b *testing.B) {
	for _, mk := range []func(testing.TB, string) *signer{newRSA, newEC} {
		k := mk(b, "k1")
		p := newProvider(b, k)
		v := p.verifier(b, p.settings(), nil)
		tok := k.sign(b, p.claims())
		set := jwk.NewSet()
		_ = set.AddKey(k.pub)
		ctx := context.Background()
		b.Run("alg="+k.alg.String()+"/impl=gantry", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("alg="+k.alg.String()+"/impl=jwx", func(b *testing.B) {
			b.ReportAllocs()
			raw := []byte(tok)
			for b.Loop() {
				if _, err := jwt.Parse(raw, jwt.WithKeySet(set)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
