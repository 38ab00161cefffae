package identity

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/internal/envdoc"
)

// TestSettingsNameTheirVariables loads bad environments and checks that every
// problem names its variable, prefix included.
func TestSettingsNameTheirVariables(t *testing.T) {
	type service struct {
		TLS Settings `envPrefix:"CATALOG_"`
	}
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"CATALOG_TLS_MODE": "on"}, []string{"CATALOG_TLS_MODE"}},
		{map[string]string{"CATALOG_TLS_MODE": "files", "CATALOG_TLS_CERT_FILE": "/c"}, []string{"CATALOG_TLS_KEY_FILE", "CATALOG_TLS_CA_FILE"}},
		{map[string]string{"CATALOG_TLS_TRUST_DOMAIN": "Gantry.test"}, []string{"CATALOG_TLS_TRUST_DOMAIN"}},
		{map[string]string{"CATALOG_TLS_NAMESPACE": "a/b"}, []string{"CATALOG_TLS_NAMESPACE"}},
		{map[string]string{"CATALOG_TLS_RELOAD_INTERVAL": "-1s", "CATALOG_TLS_DEV_CERT_TTL": "-1h"}, []string{"CATALOG_TLS_RELOAD_INTERVAL", "CATALOG_TLS_DEV_CERT_TTL"}},
		{map[string]string{"CATALOG_TLS_RELOAD_INTERVAL": "soon"}, []string{"CATALOG_TLS_RELOAD_INTERVAL"}},
	}
	for _, tt := range tests {
		_, err := config.Load[service](config.WithEnvironment(tt.env))
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Errorf("Load(%v) = %v, want a *config.Error", tt.env, err)
			continue
		}
		if diff := cmp.Diff(tt.want, ce.Vars()); diff != "" {
			t.Errorf("Load(%v) = %v; variables (-want +got):\n%s", tt.env, err, diff)
		}
	}
	if _, err := config.Load[service](config.WithEnvironment(map[string]string{"CATALOG_TLS_MODE": "dev"})); err != nil {
		t.Errorf("Load(dev) = %v", err)
	}
}

func TestNewSource(t *testing.T) {
	src, err := NewSource(Settings{}, "cart")
	if err != nil || src != nil {
		t.Errorf("NewSource(off) = %v, %v, want nil, nil", src, err)
	}
	ca := mustCA(t, "shop.test")
	src, err = NewSource(Settings{Mode: ModeDev, DevCA: ca, Namespace: "prod", DevCertTTL: time.Minute}, "cart")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := src.Certificate()
	if id, _ := idOf(c.Leaf); id.String() != "spiffe://shop.test/ns/prod/svc/cart" || c.Leaf.NotAfter.Sub(c.Leaf.NotBefore) != time.Minute+backdate {
		t.Errorf("NewSource(dev) issued %s valid %v, want spiffe://shop.test/ns/prod/svc/cart for 1m", id, c.Leaf.NotAfter.Sub(c.Leaf.NotBefore))
	}
	if roots, _ := src.Roots(); roots != ca.Roots() {
		t.Errorf("NewSource(dev).Roots() is not the DevCA's")
	}
	src, err = NewSource(Settings{Mode: ModeDev}, "cart")
	if err != nil {
		t.Fatal(err)
	}
	c, _ = src.Certificate()
	if id, _ := idOf(c.Leaf); id.String() != "spiffe://gantry.test/ns/default/svc/cart" {
		t.Errorf("NewSource(dev, defaults) issued %s, want spiffe://gantry.test/ns/default/svc/cart", id)
	}
	if _, err := NewSource(Settings{Mode: ModeDev}, "ca/rt"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("NewSource(dev, ca/rt) = %v, want ErrInvalidID", err)
	}
	_, err = NewSource(Settings{Mode: ModeFiles}, "cart")
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Vars()) != 3 {
		t.Errorf("NewSource(files without files) = %v, want the three variables named", err)
	}
}

// TestDocumentedDefaults proves that the defaults the field comments state are the
// ones the code applies.
func TestDocumentedDefaults(t *testing.T) {
	envdoc.CheckDefaults(t, nil, func(s Settings) any {
		d := s.withDefaults()
		return []any{d.Mode, d.ReloadInterval, d.devTrustDomain(), d.Namespace, d.DevCertTTL}
	})
}
