package demoidp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gantry-go/gantry/examples/internal/demoidp"
	"github.com/gantry-go/gantry/transport/auth"
)

// start runs a provider until the test ends.
func start(t *testing.T) *demoidp.Provider {
	t.Helper()
	p, err := demoidp.New(demoidp.Settings{})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	return p
}

func verifier(t *testing.T, p *demoidp.Provider) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(t.Context(), auth.Settings{Issuer: p.Issuer(), Audience: []string{p.Audience()}}, nil)
	if err != nil {
		t.Fatalf("NewVerifier(issuer %s) = %v", p.Issuer(), err)
	}
	return v
}

// TestTokensVerifyThroughDiscovery: a stock transport/auth Verifier, given only the
// issuer and audience, finds the JWKS through discovery and accepts the demo users'
// tokens with their roles.
func TestTokensVerifyThroughDiscovery(t *testing.T) {
	p := start(t)
	v := verifier(t, p)
	if p.DiscoveryRequests() != 1 || p.JWKSRequests() != 1 {
		t.Errorf("after NewVerifier: %d discovery and %d JWKS requests, want 1 and 1", p.DiscoveryRequests(), p.JWKSRequests())
	}
	for user, wantOperator := range map[string]bool{"alice": false, "bob": false, "operator": true} {
		tok, err := p.Token(t.Context(), user)
		if err != nil {
			t.Fatalf("Token(%s) = %v", user, err)
		}
		pr, err := v.Verify(t.Context(), tok)
		if err != nil {
			t.Fatalf("Verify(token of %s) = %v", user, err)
		}
		if pr.Subject != user || pr.HasRole(demoidp.RoleOperator) != wantOperator {
			t.Errorf("Verify(token of %s) = %+v, want subject %s, operator role %v", user, pr, user, wantOperator)
		}
	}
	if _, err := p.Token(t.Context(), "mallory"); !errors.Is(err, demoidp.ErrUnknownUser) {
		t.Errorf("Token(mallory) = %v, want ErrUnknownUser", err)
	}
}

// TestRotateKeepsTokensValid: the next key is published before it signs, so a
// verifier that read the key set before a rotation accepts tokens signed after it
// without fetching again; a token signed before a rotation stays valid until the
// following one.
func TestRotateKeepsTokensValid(t *testing.T) {
	p := start(t)
	v := verifier(t, p)
	before, _ := p.Token(t.Context(), "alice")
	old := p.KeyID()
	kid, err := p.Rotate()
	if err != nil || kid == old || p.KeyID() != kid {
		t.Fatalf("Rotate() = %q, %v; KeyID() = %q; want a new key id", kid, err, p.KeyID())
	}
	after, _ := p.Token(t.Context(), "alice")
	for name, tok := range map[string]string{"signed before": before, "signed after": after} {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Errorf("Verify(token %s the rotation) = %v, want it accepted", name, err)
		}
	}
	if got := p.JWKSRequests(); got != 1 { // before the fresh verifier below
		t.Errorf("JWKS requests after one rotation = %d, want 1 (the new key was published in advance)", got)
	}
	// A verifier that reads the key set after the rotation still accepts the old key.
	if _, err := verifier(t, p).Verify(t.Context(), before); err != nil {
		t.Errorf("fresh Verifier: Verify(token signed before the rotation) = %v, want it accepted", err)
	}
	// A second rotation retires the first key. A fresh verifier no longer sees it.
	if _, err := p.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, err := verifier(t, p).Verify(t.Context(), before); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("Verify(token of a key retired two rotations ago) = %v, want ErrUnknownKey", err)
	}
}

func TestNewRefusesNonLoopbackAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:80", "10.0.0.1:0"} {
		if p, err := demoidp.New(demoidp.Settings{Addr: addr}); err == nil {
			p.Close()
			t.Errorf("New(Addr %q) = nil error, want a refusal", addr)
		}
	}
}
