package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery/consul/consultest"
)

// TestInitAndApply against a real agent started with the acl.hcl init writes: each
// service's token registers that service and no other, reads the others, and no
// token registers nothing; a reader's token reads what Prometheus's Consul discovery
// reads (the catalog, each service's health, the agent) and registers nothing; init and
// apply run twice change nothing, and init with a reader added later keeps the tokens.
func TestInitAndApply(t *testing.T) {
	dir := t.TempDir()
	if err := run(t.Context(), []string{"init", "-dir", dir, "-services", "catalog,payment"}, io.Discard); err != nil {
		t.Fatalf("init = %v", err)
	}
	read := func(f string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if fi, err := os.Stat(filepath.Join(dir, "management")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("management mode = %v %v, want 0640", fi.Mode(), err)
	}
	mgmt, hcl, catalogToken := read("management"), read("acl.hcl"), read("catalog.token")
	if _, err := os.Stat(filepath.Join(dir, "prometheus.token")); err == nil {
		t.Fatal("init without -readers wrote prometheus.token")
	}
	withReader := []string{"-dir", dir, "-services", "catalog,payment", "-readers", "prometheus"}
	for range 2 {
		if err := run(t.Context(), append([]string{"init"}, withReader...), io.Discard); err != nil {
			t.Fatal(err)
		}
		if read("management") != mgmt || read("acl.hcl") != hcl || read("catalog.token") != catalogToken {
			t.Fatal("a second init replaced the tokens")
		}
	}
	promToken := read("prometheus.token")
	if promToken == "" || promToken == mgmt || promToken == catalogToken {
		t.Fatalf("prometheus.token = %q, want a secret of its own", promToken)
	}

	agent := consultest.StartWith(t, consultest.Options{Token: mgmt, HCL: []string{hcl}})
	t.Setenv("CONSUL_HTTP_ADDR", agent.HTTPAddr())
	for range 2 {
		if err := run(t.Context(), append([]string{"apply"}, withReader...), io.Discard); err != nil {
			t.Fatalf("apply = %v", err)
		}
	}
	client := func(token string) *api.Client {
		t.Helper()
		cfg := agent.Config()
		cfg.Token = token
		c, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	register := func(token, name string) error {
		return client(token).Agent().ServiceRegister(&api.AgentServiceRegistration{ID: name + "-1", Name: name, Port: 1})
	}
	forbidden := func(err error) bool {
		var se api.StatusError
		return errors.As(err, &se) && se.Code == http.StatusForbidden
	}
	if err := register(catalogToken, "catalog"); err != nil {
		t.Errorf("catalog's token registering catalog = %v, want nil", err)
	}
	if err := register(read("payment.token"), "payment"); err != nil {
		t.Errorf("payment's token registering payment = %v, want nil", err)
	}
	if err := register(catalogToken, "payment"); !forbidden(err) {
		t.Errorf("catalog's token registering payment = %v, want 403", err)
	}
	if err := register("", "rogue"); !forbidden(err) {
		t.Errorf("no token registering rogue = %v, want 403", err)
	}
	if _, _, err := client(catalogToken).Health().Service("payment", "", false, nil); err != nil {
		t.Errorf("catalog's token reading payment's instances = %v, want nil", err)
	}

	// What Prometheus's consul_sd_configs asks with the reader's token: the agent's
	// datacenter, the catalog's services, each one's instances with their health. Consul
	// filters what a token may not read out of an answer instead of refusing it, so the
	// answers are counted.
	prom := client(promToken)
	if self, err := prom.Agent().Self(); err != nil || self["Config"]["Datacenter"] == nil {
		t.Errorf("prometheus's token: Agent().Self() = %v, %v, want the datacenter", self["Config"], err)
	}
	services, _, err := prom.Catalog().Services(nil)
	if _, ok := services["payment"]; err != nil || !ok {
		t.Errorf("prometheus's token: Catalog().Services() = %v, %v, want payment listed", services, err)
	}
	if entries, _, err := prom.Health().Service("payment", "", false, nil); err != nil || len(entries) != 1 {
		t.Errorf("prometheus's token: Health().Service(payment) = %d entries, %v, want 1", len(entries), err)
	}
	if err := register(promToken, "prometheus"); !forbidden(err) {
		t.Errorf("prometheus's token registering prometheus = %v, want 403", err)
	}

	for _, args := range [][]string{{}, {"nope"}, {"init", "-services", "a,,b"}, {"init", "-services", "a/b"}, {"apply", "extra"},
		{"init", "-readers", "a.b"}, {"init", "-services", "catalog", "-readers", "catalog"}, {"init", "-readers", "management"}} {
		if err := run(t.Context(), args, io.Discard); err == nil {
			t.Errorf("consulacl %q = nil, want an error", args)
		}
	}
}
