package auth

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/internal/envdoc"
)

// TestSettingsNameTheirVariables loads bad environments and checks that every
// problem names its variable, prefix included.
func TestSettingsNameTheirVariables(t *testing.T) {
	type service struct {
		Auth Settings `envPrefix:"GATEWAY_"`
	}
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"GATEWAY_AUTH_ALGORITHMS": "RS256,none"}, []string{"GATEWAY_AUTH_ALGORITHMS"}},
		{map[string]string{"GATEWAY_AUTH_ALGORITHMS": "HS256"}, []string{"GATEWAY_AUTH_ALGORITHMS"}},
		{map[string]string{"GATEWAY_AUTH_ALGORITHMS": "hs512"}, []string{"GATEWAY_AUTH_ALGORITHMS"}},
		{map[string]string{"GATEWAY_AUTH_ISSUER": "http://idp.example.com"}, []string{"GATEWAY_AUTH_ISSUER"}},
		{map[string]string{"GATEWAY_AUTH_ISSUER": "idp.example.com"}, []string{"GATEWAY_AUTH_ISSUER"}},
		{map[string]string{"GATEWAY_AUTH_JWKS_URL": "ftp://idp/keys"}, []string{"GATEWAY_AUTH_JWKS_URL"}},
		{map[string]string{"GATEWAY_AUTH_AUDIENCE": "a,,b"}, []string{"GATEWAY_AUTH_AUDIENCE"}},
		{map[string]string{"GATEWAY_AUTH_LEEWAY": "-1s", "GATEWAY_AUTH_JWKS_REFRESH_INTERVAL": "-1m", "GATEWAY_AUTH_JWKS_MIN_REFRESH_INTERVAL": "-1s"},
			[]string{"GATEWAY_AUTH_LEEWAY", "GATEWAY_AUTH_JWKS_REFRESH_INTERVAL", "GATEWAY_AUTH_JWKS_MIN_REFRESH_INTERVAL"}},
		{map[string]string{"GATEWAY_AUTH_LEEWAY": "soon"}, []string{"GATEWAY_AUTH_LEEWAY"}},
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
	ok := map[string]string{
		"GATEWAY_AUTH_ISSUER": "https://idp.example.com/realms/shop", "GATEWAY_AUTH_AUDIENCE": "shop-api,admin-api",
		"GATEWAY_AUTH_ALGORITHMS": "RS256,PS256,ES384,EdDSA", "GATEWAY_AUTH_JWKS_URL": "http://127.0.0.1:8080/keys",
	}
	got, err := config.Load[service](config.WithEnvironment(ok))
	if err != nil {
		t.Fatalf("Load(%v) = %v", ok, err)
	}
	if diff := cmp.Diff([]string{"shop-api", "admin-api"}, got.Auth.Audience); diff != "" {
		t.Errorf("Audience (-want +got):\n%s", diff)
	}
}

// TestDocumentedDefaults proves that the defaults the field comments state are the
// ones the code applies.
func TestDocumentedDefaults(t *testing.T) {
	envdoc.CheckDefaults(t, nil, func(s Settings) any {
		d := s.withDefaults()
		return []any{d.Algorithms, d.Leeway, d.RefreshInterval, d.MinRefreshInterval, d.RolesClaim, d.ScopesClaim}
	})
}
