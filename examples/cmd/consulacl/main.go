// Command consulacl sets up Consul ACLs for the example shop under docker compose, so that
// the agent runs with default_policy "deny" and each service has a token of its own.
//
//	consulacl init  -dir /acl -services catalog,cart,payment,gateway -readers prometheus
//	consulacl apply -dir /acl -services catalog,cart,payment,gateway -readers prometheus   # CONSUL_HTTP_ADDR set
//
// init runs before the agent: it writes, into dir, a new management token (management),
// one secret per service (<service>.token) and per reader (<reader>.token), and the
// agent configuration acl.hcl (ACLs on, default deny, the management token as the initial
// management and agent token), which the agent loads with -config-file. It writes only
// what dir lacks, so a restart keeps the tokens the running services use, and a reader
// added later gets its token without the others changing. The files are mode 0640: the
// services read them as their owner (compose runs everything as uid 65532) and the agent,
// and Prometheus, through their group (run init with that gid, as compose does).
//
// apply runs once the agent is up: with the management token it creates each service's
// token with the secret init chose and the service identity of its name (register
// itself, read every service and node: what a Gantry service needs), and each reader's
// token with the policy read-only (read every service, node and agent, write nothing:
// what Prometheus's consul_sd_configs needs, Agent().Self included), retrying until the
// ACL system answers. A token or policy that exists already is left as it is.
//
// The services read their secret with CONSUL_HTTP_TOKEN_FILE, Prometheus with
// credentials_file. These files are for a development setup: every container that mounts
// dir can read every token.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "consulacl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "init" && args[0] != "apply") {
		return errors.New("usage: consulacl init|apply -dir DIR -services a,b,c [-readers x,y]")
	}
	fs := flag.NewFlagSet("consulacl "+args[0], flag.ContinueOnError)
	dir := fs.String("dir", "acl", "directory of the tokens and acl.hcl")
	services := fs.String("services", "catalog,cart,payment,gateway", "comma-separated service names")
	readers := fs.String("readers", "", "comma-separated names of read-only tokens (services, nodes, agents), e.g. prometheus")
	wait := fs.Duration("wait", 2*time.Minute, "apply: how long to wait for the ACL system")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	names, err := nameList("-services", *services, false)
	if err != nil {
		return err
	}
	readerNames, err := nameList("-readers", *readers, true)
	if err != nil {
		return err
	}
	for _, r := range readerNames {
		if slices.Contains(names, r) {
			return fmt.Errorf("-readers %q: %s is a service too, and a name has one token", *readers, r)
		}
	}
	if args[0] == "init" {
		return initDir(*dir, names, readerNames, out)
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	return apply(ctx, *dir, names, readerNames, out)
}

// nameList splits a comma-separated flag value into names (file names in dir, so no
// path separators or dots). An empty value is an error unless emptyOK.
func nameList(flagName, v string, emptyOK bool) ([]string, error) {
	if emptyOK && strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var names []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" || strings.ContainsAny(s, `/\. `) || s == "management" {
			return nil, fmt.Errorf("%s %q: want names separated by commas", flagName, v)
		}
		names = append(names, s)
	}
	return names, nil
}

// initDir writes into dir the files it lacks: the management token, acl.hcl (from the
// management token, new or kept) and one token per service and reader.
func initDir(dir string, names, readers []string, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	missing := func(f string) bool {
		_, err := os.Stat(filepath.Join(dir, f))
		return errors.Is(err, os.ErrNotExist)
	}
	write := func(f, v string) error { return os.WriteFile(filepath.Join(dir, f), []byte(v), 0o640) }
	var wrote []string
	if missing("management") {
		if err := write("management", uuid()); err != nil {
			return err
		}
		wrote = append(wrote, "management")
	}
	if missing("acl.hcl") {
		b, err := os.ReadFile(filepath.Join(dir, "management"))
		if err != nil {
			return err
		}
		mgmt := strings.TrimSpace(string(b))
		hcl := fmt.Sprintf("acl {\n  enabled = true\n  default_policy = \"deny\"\n  down_policy = \"extend-cache\"\n  tokens {\n    initial_management = %q\n    agent = %q\n  }\n}\n", mgmt, mgmt)
		if err := write("acl.hcl", hcl); err != nil {
			return err
		}
		wrote = append(wrote, "acl.hcl")
	}
	for _, f := range tokenFiles(append(slices.Clone(names), readers...)) {
		if missing(f) {
			if err := write(f, uuid()); err != nil {
				return err
			}
			wrote = append(wrote, f)
		}
	}
	if len(wrote) == 0 {
		fmt.Fprintf(out, "consulacl: %s already holds the tokens\n", dir)
		return nil
	}
	fmt.Fprintf(out, "consulacl: wrote %s into %s\n", strings.Join(wrote, ", "), dir)
	return nil
}

func tokenFiles(names []string) []string {
	var fs []string
	for _, n := range names {
		fs = append(fs, n+".token")
	}
	return fs
}

// uuid returns a random version 4 UUID, the form Consul requires of a SecretID.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func apply(ctx context.Context, dir string, names, readers []string, out io.Writer) error {
	read := func(f string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		return strings.TrimSpace(string(b)), err
	}
	mgmt, err := read("management")
	if err != nil {
		return fmt.Errorf("%w (run consulacl init first)", err)
	}
	cfg := api.DefaultNonPooledConfig() // CONSUL_HTTP_ADDR and the other CONSUL_* variables
	cfg.Token = mgmt
	cfg.TokenFile = ""
	c, err := api.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("CONSUL_HTTP_ADDR: %w", err)
	}
	// retry runs f until it succeeds or ctx ends: the ACL system answers a while after
	// the agent's HTTP API does.
	retry := func(what string, f func() error) error {
		for {
			err := f()
			if err == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	for _, n := range names {
		secret, err := read(n + ".token")
		if err != nil {
			return err
		}
		if err := retry("token for "+n, func() error {
			return ensureToken(ctx, c, secret, &api.ACLToken{
				SecretID:          secret,
				Description:       "gantry example service " + n,
				ServiceIdentities: []*api.ACLServiceIdentity{{ServiceName: n}},
			})
		}); err != nil {
			return err
		}
		fmt.Fprintf(out, "consulacl: token for %s (service identity %s)\n", n, n)
	}
	if len(readers) == 0 {
		return nil
	}
	if err := retry("policy "+readOnlyPolicy, func() error { return ensurePolicy(ctx, c) }); err != nil {
		return err
	}
	for _, n := range readers {
		secret, err := read(n + ".token")
		if err != nil {
			return err
		}
		if err := retry("token for "+n, func() error {
			return ensureToken(ctx, c, secret, &api.ACLToken{
				SecretID:    secret,
				Description: "gantry example reader " + n,
				Policies:    []*api.ACLTokenPolicyLink{{Name: readOnlyPolicy}},
			})
		}); err != nil {
			return err
		}
		fmt.Fprintf(out, "consulacl: token for %s (policy %s)\n", n, readOnlyPolicy)
	}
	return nil
}

// readOnlyPolicy is the policy of the readers' tokens: read every service, node and
// agent. Prometheus's Consul service discovery lists the catalog's services, reads each
// one's health (which needs node read too) and asks the local agent for its datacenter
// (GET /v1/agent/self, agent read).
const (
	readOnlyPolicy      = "read-only"
	readOnlyPolicyRules = `service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
agent_prefix "" { policy = "read" }
`
)

// ensureToken creates token (whose SecretID is secret), unless a token with that
// secret exists.
func ensureToken(ctx context.Context, c *api.Client, secret string, token *api.ACLToken) error {
	q := (&api.QueryOptions{Token: secret}).WithContext(ctx)
	if _, _, err := c.ACL().TokenReadSelf(q); err == nil {
		return nil
	}
	_, _, err := c.ACL().TokenCreate(token, (&api.WriteOptions{}).WithContext(ctx))
	return err
}

// ensurePolicy creates readOnlyPolicy, unless a policy of that name exists.
func ensurePolicy(ctx context.Context, c *api.Client) error {
	p, _, err := c.ACL().PolicyReadByName(readOnlyPolicy, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if p != nil {
		return nil
	}
	_, _, err = c.ACL().PolicyCreate(&api.ACLPolicy{
		Name:        readOnlyPolicy,
		Description: "gantry example readers: read every service, node and agent",
		Rules:       readOnlyPolicyRules,
	}, (&api.WriteOptions{}).WithContext(ctx))
	return err
}
