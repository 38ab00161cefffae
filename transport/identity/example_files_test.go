package identity_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/transport/identity"
)

// ExampleNewFiles shows a bad file failing at start-up, named by its variable. With
// good files, hand the *Files to gantry.Run (Options.Components) to reload them.
func ExampleNewFiles() {
	dir, _ := os.MkdirTemp("", "tls")
	defer os.RemoveAll(dir)
	for _, name := range []string{"tls.crt", "tls.key", "ca.crt"} {
		_ = os.WriteFile(filepath.Join(dir, name), []byte("not PEM"), 0o600)
	}
	_, err := identity.NewFiles(identity.Settings{
		CertFile: filepath.Join(dir, "tls.crt"),
		KeyFile:  filepath.Join(dir, "tls.key"),
		CAFile:   filepath.Join(dir, "ca.crt"),
	}, "catalog")
	var ce *config.Error
	fmt.Println(errors.As(err, &ce), ce.Vars())
	// Output: true [TLS_CA_FILE]
}

// ExampleNewSource configures identity from the environment, as main does.
func ExampleNewSource() {
	s, err := config.Load[identity.Settings](config.WithEnvironment(map[string]string{
		"TLS_MODE": "dev", "TLS_TRUST_DOMAIN": "shop.test",
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	src, err := identity.NewSource(s, "catalog")
	if err != nil {
		fmt.Println(err)
		return
	}
	cert, _ := src.Certificate()
	fmt.Println(cert.Leaf.URIs[0])

	_, err = identity.NewSource(identity.Settings{Mode: identity.ModeFiles, CertFile: "/etc/tls/tls.crt"}, "catalog")
	fmt.Println(err)
	// Output:
	// spiffe://shop.test/ns/default/svc/catalog
	// config: invalid configuration (2 problems): TLS_KEY_FILE: required in files mode (TLS_MODE=files); TLS_CA_FILE: required in files mode (TLS_MODE=files)
}
