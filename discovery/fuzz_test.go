package discovery

import (
	"errors"
	"net"
	"testing"
)

// FuzzParseStatic: DISCOVERY_STATIC never panics the parser, errors are typed, and
// every parsed address is a valid host:port.
func FuzzParseStatic(f *testing.F) {
	for _, s := range []string{
		"catalog=http://127.0.0.1:8081;payment=http://127.0.0.1:8083,http://127.0.0.1:9083",
		"a=[::1]:80", "a=https://[::1]:443/", "a=b", "=", ";;", "a=http://u@h:1", "a=%zz:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseStatic(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidStatic) {
				t.Fatalf("ParseStatic(%q) error = %v, want ErrInvalidStatic", s, err)
			}
			return
		}
		for name, ins := range got {
			for _, in := range ins {
				if _, _, err := net.SplitHostPort(in.Address); err != nil {
					t.Fatalf("ParseStatic(%q): %s has address %q: %v", s, name, in.Address, err)
				}
			}
		}
	})
}
