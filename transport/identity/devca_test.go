package identity

import (
	"errors"
	"io"
	"os"
	"path/filepath"
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

// TestDevCAWriteFiles: the files WriteFiles writes are what a files-mode source
// loads, so two processes given such files (docker compose) talk mTLS; the key is
// private to its owner.
func TestDevCAWriteFiles(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	dirs := map[string]string{}
	for _, svc := range []string{"catalog", "cart"} {
		dirs[svc] = t.TempDir()
		if err := ca.WriteFiles(dirs[svc], mustID(t, "spiffe://gantry.test/ns/default/svc/"+svc), time.Hour); err != nil {
			t.Fatalf("WriteFiles(%s) = %v", svc, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dirs["cart"], "tls.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tls.key mode = %v %v, want 0600", fi.Mode(), err)
	}
	load := func(svc string) *Files {
		t.Helper()
		d := dirs[svc]
		f, err := NewFiles(filesSettings(filepath.Join(d, "tls.crt"), filepath.Join(d, "tls.key"), filepath.Join(d, "ca.crt")), svc)
		if err != nil {
			t.Fatalf("NewFiles(%s) = %v", svc, err)
		}
		return f
	}
	srv := startTLS(t, load("catalog"), callerHandler())
	resp, err := newClient(t, load("cart")).Get(srv.URL + "/x")
	if err != nil {
		t.Fatalf("GET between two files sources = %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != cartID {
		t.Errorf("caller = %q, want %s", body, cartID)
	}
	if err := ca.WriteFiles(t.TempDir(), mustID(t, "spiffe://other.test/ns/default/svc/cart"), time.Hour); !errors.Is(err, ErrForeignTrustDomain) {
		t.Errorf("WriteFiles(foreign id) = %v, want ErrForeignTrustDomain", err)
	}
}
