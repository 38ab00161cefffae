package identity

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in          string
		td, ns, svc string
		bad         bool
	}{
		{in: "spiffe://gantry.test/ns/default/svc/cart", td: "gantry.test", ns: "default", svc: "cart"},
		{in: "spiffe://prod_1-a.example.org/ns/shop/svc/Pay.v2_x-y", td: "prod_1-a.example.org", ns: "shop", svc: "Pay.v2_x-y"},
		{in: "spiffe://1b2c.consul/ns/default/dc/dc1/svc/web", td: "1b2c.consul", ns: "default", svc: "web"},
		{in: "", bad: true},
		{in: "SPIFFE://gantry.test/ns/default/svc/cart", bad: true},
		{in: "https://gantry.test/ns/default/svc/cart", bad: true},
		{in: "spiffe:/gantry.test/ns/default/svc/cart", bad: true},
		{in: "spiffe://Gantry.test/ns/default/svc/cart", bad: true},
		{in: "spiffe://gantry.test:8443/ns/default/svc/cart", bad: true},
		{in: "spiffe://user@gantry.test/ns/default/svc/cart", bad: true},
		{in: "spiffe:///ns/default/svc/cart", bad: true},
		{in: "spiffe://gantry.test", bad: true},
		{in: "spiffe://gantry.test/", bad: true},
		{in: "spiffe://gantry.test/ns/default/svc/cart/", bad: true},
		{in: "spiffe://gantry.test/ns/default/svc/cart?x=1", bad: true},
		{in: "spiffe://gantry.test/ns/default/svc/cart#f", bad: true},
		{in: "spiffe://gantry.test/ns/default/svc/c%61rt", bad: true},
		{in: "spiffe://gantry.test/ns//svc/cart", bad: true},
		{in: "spiffe://gantry.test/ns/../svc/cart", bad: true},
		{in: "spiffe://gantry.test/ns/./svc/cart", bad: true},
		{in: "spiffe://gantry.test/svc/cart", bad: true},
		{in: "spiffe://gantry.test/ns/default/sa/cart", bad: true},
		{in: "spiffe://gantry.test/ns/default/svc/cart/extra", bad: true},
		{in: "spiffe://gantry.test/ns/default/dc/dc1/svc/web/x", bad: true},
		{in: "spiffe://gantry.test/ns/default/xx/dc1/svc/web", bad: true},
		{in: "spiffe://gantry.test/ns/default/svc/ca rt", bad: true},
		{in: "spiffe://" + strings.Repeat("a", 256) + "/ns/d/svc/c", bad: true},
		{in: "spiffe://gantry.test/ns/default/svc/" + strings.Repeat("a", 2048), bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			id, err := Parse(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrInvalidID) {
					t.Fatalf("Parse(%q) = %v, %v, want ErrInvalidID", tt.in, id, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.in, err)
			}
			if id.TrustDomain() != tt.td || id.Namespace() != tt.ns || id.ServiceName() != tt.svc || id.String() != tt.in {
				t.Errorf("Parse(%q) = %q (td %q ns %q svc %q), want td %q ns %q svc %q", tt.in, id, id.TrustDomain(), id.Namespace(), id.ServiceName(), tt.td, tt.ns, tt.svc)
			}
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := fromURL(u); err != nil || got != id {
				t.Errorf("fromURL(%q) = %v, %v, want %v", tt.in, got, err, id)
			}
		})
	}
}

// TestFromURLRejectsWhatParseRejects covers the URL fields that url.Parse splits off
// before fromURL sees them.
func TestFromURLRejectsWhatParseRejects(t *testing.T) {
	for _, s := range []string{
		"spiffe://gantry.test:1/ns/d/svc/c", "spiffe://u@gantry.test/ns/d/svc/c", "spiffe://gantry.test/ns/d/svc/c?",
		"spiffe://gantry.test/ns/d/svc/c#x", "spiffe://gantry.test/ns/d/svc/%63", "spiffe:opaque",
	} {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		if id, err := fromURL(u); !errors.Is(err, ErrInvalidID) {
			t.Errorf("fromURL(%q) = %v, %v, want ErrInvalidID", s, id, err)
		}
	}
}

func TestNewID(t *testing.T) {
	id, err := NewID("gantry.test", "default", "cart")
	if err != nil || id.String() != "spiffe://gantry.test/ns/default/svc/cart" {
		t.Errorf("NewID = %q, %v", id, err)
	}
	for _, in := range [][3]string{{"", "default", "cart"}, {"gantry.test", "", "cart"}, {"gantry.test", "a/b", "cart"}, {"gantry.test", "d", ".."}} {
		if id, err := NewID(in[0], in[1], in[2]); !errors.Is(err, ErrInvalidID) {
			t.Errorf("NewID(%q) = %v, %v, want ErrInvalidID", in, id, err)
		}
	}
	if (ID{}).String() != "" {
		t.Errorf("ID{}.String() = %q, want empty", ID{}.String())
	}
}

func TestFromURLAllocs(t *testing.T) {
	u, _ := url.Parse("spiffe://gantry.test/ns/default/svc/cart")
	if n := testing.AllocsPerRun(100, func() { _, _ = fromURL(u) }); n != 0 {
		t.Errorf("fromURL allocs/op = %v, want 0", n)
	}
}
