// Command devcerts writes development certificates for the example shop's services,
// so that processes that cannot share an in-memory CA (docker compose) talk mutual TLS
// with TLS_MODE=files. It makes one new development CA (identity.NewDevCA) and, for
// each service, DIR/<service>/tls.crt, tls.key and ca.crt, with the SPIFFE ID
// spiffe://<trust domain>/ns/<namespace>/svc/<service>. The CA's key is never
// written: to issue more, run it again, which replaces every set.
//
//	devcerts -dir ./certs -services catalog,cart,payment,gateway,operator
//
// With -keep, a DIR that already holds a complete set for every service whose
// certificates are valid for at least another day is left as it is (a compose
// restart keeps the certificates the running services trust).
//
// These are for development only: a production deployment takes its certificates
// from its own CA (cert-manager, Consul's CA, SPIFFE), as docs/containers.md says.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-go/gantry/transport/identity"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devcerts:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("devcerts", flag.ContinueOnError)
	dir := fs.String("dir", "certs", "directory to write <service>/tls.crt, tls.key and ca.crt into")
	services := fs.String("services", "catalog,cart,payment,gateway,operator", "comma-separated service names")
	td := fs.String("trust-domain", "gantry.test", "trust domain of the SPIFFE IDs (TLS_TRUST_DOMAIN)")
	ns := fs.String("namespace", "default", "namespace of the SPIFFE IDs")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "lifetime of each certificate")
	keep := fs.Bool("keep", false, "leave a complete, valid set as it is")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *ttl < time.Hour {
		return fmt.Errorf("-ttl %s: want at least 1h", *ttl)
	}
	var ids []identity.ID
	for _, svc := range strings.Split(*services, ",") {
		id, err := identity.NewID(*td, *ns, strings.TrimSpace(svc))
		if err != nil {
			return fmt.Errorf("-services %q: %w", svc, err)
		}
		ids = append(ids, id)
	}
	if *keep && complete(*dir, ids) {
		fmt.Fprintf(out, "devcerts: %s already holds valid certificates for %s\n", *dir, *services)
		return nil
	}
	ca, err := identity.NewDevCA(*td)
	if err != nil {
		return fmt.Errorf("-trust-domain %q: %w", *td, err)
	}
	for _, id := range ids {
		d := filepath.Join(*dir, id.ServiceName())
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := ca.WriteFiles(d, id, *ttl); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		fmt.Fprintf(out, "devcerts: %s/{tls.crt,tls.key,ca.crt} for %s, valid %s\n", d, id, *ttl)
	}
	return nil
}

// complete reports whether dir holds, for every id, a key pair that loads, for that
// id, valid for at least another day, all under one CA file.
func complete(dir string, ids []identity.ID) bool {
	var ca []byte
	for _, id := range ids {
		d := filepath.Join(dir, id.ServiceName())
		pair, err := tls.LoadX509KeyPair(filepath.Join(d, "tls.crt"), filepath.Join(d, "tls.key"))
		if err != nil || len(pair.Leaf.URIs) != 1 || pair.Leaf.URIs[0].String() != id.String() ||
			time.Until(pair.Leaf.NotAfter) < 24*time.Hour {
			return false
		}
		b, err := os.ReadFile(filepath.Join(d, "ca.crt"))
		if err != nil || (ca != nil && string(b) != string(ca)) {
			return false
		}
		ca = b
	}
	return true
}
