package identity

import (
	"errors"
	"net/url"
	"testing"
)

// FuzzParse checks that Parse never panics, that what it accepts round-trips
// through String, and that fromURL agrees with it on what url.Parse makes of the
// same text
// when url.Parse keeps it as is.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"spiffe://gantry.test/ns/default/svc/cart", "spiffe://x.consul/ns/default/dc/dc1/svc/web",
		"spiffe://gantry.test:80/ns/a/svc/b", "spiffe://gantry.test/ns/a/svc/b?q", "spiffe://a/ns/%2F/svc/b", "spiffe://",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("Parse(%q) = %v, not ErrInvalidID", s, err)
			}
		} else if id.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, id.String())
		}
		u, uerr := url.Parse(s)
		if uerr != nil || u.String() != s {
			return // not a URL, or one url.Parse normalizes (a scheme's case)
		}
		uid, err2 := fromURL(u)
		if (err == nil) != (err2 == nil) || uid != id {
			t.Fatalf("Parse(%q) = %v, %v but fromURL = %v, %v", s, id, err, uid, err2)
		}
	})
}
