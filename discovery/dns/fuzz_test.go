package dns

import (
	"errors"
	"testing"
)

// FuzzParseTargets: DISCOVERY_DNS never panics the parser and errors are typed.
func FuzzParseTargets(f *testing.F) {
	for _, s := range []string{"catalog=catalog.svc:8081;payment=srv:_http._tcp.payment.svc", "a=srv:", "a=h:0", "=;="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTargets(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTarget) {
				t.Fatalf("ParseTargets(%q) error = %v, want ErrInvalidTarget", s, err)
			}
			return
		}
		for name, tg := range got {
			if tg.Name == "" || (!tg.SRV && (tg.Port < 1 || tg.Port > 65535)) {
				t.Fatalf("ParseTargets(%q): %s = %+v, want a name and a valid port", s, name, tg)
			}
		}
	})
}

// FuzzParseResponse: a DNS answer from the network never panics the parser.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 3, 'a', 'p', 'i', 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 3, 0, 4, 127, 0, 0, 2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parse(b, 0x1234)
		if err == nil && r.answer == nil {
			t.Fatal("parse returned neither an answer nor an error")
		}
	})
}
