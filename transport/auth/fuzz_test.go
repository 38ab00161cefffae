package auth

import (
	"context"
	"strings"
	"testing"
)

// FuzzParseBearer checks that ParseBearer never panics, returns only tokens made of
// b64token characters, and accepts exactly what it returns.
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Bearer ", "Bearer  x", "Basic x", "Bearer a==", "Bearer a=b", "BEARER x y", "Bearer\tx", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := ParseBearer(h)
		if !ok {
			if tok != "" {
				t.Fatalf("ParseBearer(%q) = %q, false; want an empty token", h, tok)
			}
			return
		}
		if tok == "" || !strings.EqualFold(h[:7], "bearer ") || h[7:] != tok {
			t.Fatalf("ParseBearer(%q) = %q, true", h, tok)
		}
		body := strings.TrimRight(tok, "=")
		if body == "" || strings.ContainsFunc(body, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~+/", r))
		}) {
			t.Fatalf("ParseBearer(%q) accepted %q, not a b64token", h, tok)
		}
	})
}

// FuzzVerify checks that Verify never panics and never accepts arbitrary input.
func FuzzVerify(f *testing.F) {
	k := newEC(f, "ec-1")
	p := newProvider(f, k)
	v := p.verifier(f, p.settings(), nil)
	f.Add(k.sign(f, p.claims()))
	f.Add(handMade(map[string]any{"alg": "none", "kid": "ec-1"}, p.claims(), nil))
	f.Add(handMade(map[string]any{"alg": "ES256", "kid": "ec-1", "crit": []string{"x"}}, p.claims(), []byte("sig")))
	f.Add("a.b.c")
	f.Add("{}")
	f.Fuzz(func(t *testing.T, raw string) {
		pr, err := v.Verify(context.Background(), raw)
		if err == nil && pr.Subject != "alice" {
			t.Fatalf("Verify(%q) = %+v, nil; only the seed's valid token may pass", raw, pr)
		}
	})
}
