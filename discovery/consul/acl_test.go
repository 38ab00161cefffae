package consul

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/internal/consultest"
)

// With ACLs on and default deny, the registrar and the watcher work with the token
// Consul's own tools would use (CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE, read by
// api.DefaultConfig), and fail with 403 without it. Not parallel: it sets the
// process environment, as a user's deployment would.
func TestACLTokenFromConsulEnvironment(t *testing.T) {
	const root = "7d4e8b2c-0000-4000-8000-gantrytest01"
	agent := consultest.StartWith(t, consultest.Options{
		Token: root,
		HCL:   []string{`acl { enabled = true, default_policy = "deny", tokens { initial_management = "` + root + `", agent = "` + root + `" } }`},
	})
	fromEnv := func(t *testing.T) *api.Client {
		t.Helper()
		t.Setenv("CONSUL_HTTP_ADDR", agent.HTTPAddr())
		cfg := api.DefaultConfig()
		c, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	register := func(c *api.Client) error {
		reg, err := NewRegistrar(c, nil, Registration{Name: "acl", ID: "acl-1", Address: "127.0.0.1", Port: 1})
		if err != nil {
			t.Fatal(err)
		}
		return reg.register(context.Background())
	}

	t.Run("no token", func(t *testing.T) {
		t.Setenv("CONSUL_HTTP_TOKEN", "")
		t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
		err := register(fromEnv(t))
		var se api.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusForbidden {
			t.Errorf("register without a token: error = %v, want a 403", err)
		}
	})
	t.Run("CONSUL_HTTP_TOKEN", func(t *testing.T) {
		t.Setenv("CONSUL_HTTP_TOKEN", root)
		c := fromEnv(t)
		if err := register(c); err != nil {
			t.Fatalf("register with CONSUL_HTTP_TOKEN: %v", err)
		}
		r, _ := NewResolver(c, WatchSettings{Services: []string{"acl"}})
		run(t, r.Run)
		waitFeed(t, feed(t, r, "acl"), 5*time.Second, "resolved with the token", hasID("acl-1"))
	})
	t.Run("CONSUL_HTTP_TOKEN_FILE", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte(root+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("CONSUL_HTTP_TOKEN", "")
		t.Setenv("CONSUL_HTTP_TOKEN_FILE", file)
		if err := register(fromEnv(t)); err != nil {
			t.Fatalf("register with CONSUL_HTTP_TOKEN_FILE: %v", err)
		}
	})
}
