package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/transport/identity"
)

// TestDevcerts: the sets it writes load as files-mode sources of the right identity,
// -keep leaves a valid set alone and replaces an incomplete one, and bad flags are
// errors naming the flag.
func TestDevcerts(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"-dir", dir, "-services", "catalog,cart"}, io.Discard); err != nil {
		t.Fatalf("devcerts = %v", err)
	}
	for _, svc := range []string{"catalog", "cart"} {
		d := filepath.Join(dir, svc)
		src, err := identity.NewFiles(identity.Settings{CertFile: filepath.Join(d, "tls.crt"), KeyFile: filepath.Join(d, "tls.key"),
			CAFile: filepath.Join(d, "ca.crt"), TrustDomain: "gantry.test"}, svc)
		if err != nil {
			t.Fatalf("NewFiles(%s) = %v", svc, err)
		}
		cert, _ := src.Certificate()
		if got := cert.Leaf.URIs[0].String(); got != "spiffe://gantry.test/ns/default/svc/"+svc {
			t.Errorf("%s: certificate for %s", svc, got)
		}
		if d := time.Until(cert.Leaf.NotAfter); d < 29*24*time.Hour {
			t.Errorf("%s: valid for %s, want the default 30 days", svc, d)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "cart", "tls.crt"))
	if err := run([]string{"-dir", dir, "-services", "catalog,cart", "-keep"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "cart", "tls.crt")); string(after) != string(before) {
		t.Error("-keep replaced a complete, valid set")
	}
	if err := os.Remove(filepath.Join(dir, "catalog", "tls.key")); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-dir", dir, "-services", "catalog,cart", "-keep"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "cart", "tls.crt")); string(after) == string(before) {
		t.Error("-keep kept a set with a missing key: want every set replaced (one new CA)")
	}
	for args, want := range map[string]string{
		"-services cart,,payment": "-services",
		"-services cart/x":        "-services",
		"-ttl 1m":                 "-ttl",
		"extra":                   "unexpected",
	} {
		err := run(append([]string{"-dir", t.TempDir()}, strings.Fields(args)...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("devcerts %s = %v, want an error naming %s", args, err, want)
		}
	}
}
