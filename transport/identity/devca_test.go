package identity

import (
	"testing"
	"time"
)

// TestDevCertsNeverExpireEarly: X.509 keeps whole seconds, and a NotAfter truncated on
// encoding would end a certificate before the lifetime its DevSource renews it by
// (a handshake just before the renewal then met an expired certificate under load).
func TestDevCertsNeverExpireEarly(t *testing.T) {
	ca, err := NewDevCA("gantry.test")
	if err != nil {
		t.Fatal(err)
	}
	id, err := Parse("spiffe://gantry.test/ns/default/svc/cart")
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 1500 * time.Millisecond
	for range 20 {
		before := time.Now()
		c, err := ca.Issue(id, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if want := before.Add(ttl); c.Leaf.NotAfter.Before(want) {
			t.Fatalf("Issue(ttl %v) at %v: NotAfter = %v, want at least %v", ttl, before, c.Leaf.NotAfter, want)
		}
		time.Sleep(37 * time.Millisecond) // land on other fractions of a second
	}
}
