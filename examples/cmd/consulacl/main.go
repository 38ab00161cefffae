// Command consulacl sets up Consul ACLs for the example shop under docker compose, so that
// the agent runs with default_policy "deny" and each service has a token of its own.
//
//	consulacl init  -dir /acl -services catalog,cart,payment,gateway
//	consulacl apply -dir /acl -services catalog,cart,payment,gateway   # CONSUL_HTTP_ADDR set
//
// init runs before the agent: it writes, into dir, a new management token (management),
// one secret per service (<service>.token) and the agent configuration
// acl.hcl (ACLs on, default deny, the management token as the initial management and
// agent token), which the agent loads with -config-file. A dir that already holds them
// all is left as it is, so a restart keeps the tokens the running services use. The files
// are mode 0640: the services read them as their owner (compose runs everything as uid
// 65532) and the agent through its group (run init with the agent's gid, as compose does).
//
// apply runs once the agent is up: with the management token it creates each service's
// token with the secret init chose and the service identity of its name (register
// itself, read every service and node: what a Gantry service needs), retrying until the
// ACL system answers. A token that exists already is left as it is.
//
// The services read their secret with CONSUL_HTTP_TOKEN_FILE. These files are for a
// development setup: every container that mounts dir can read every token.
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
		return errors.New("usage: consulacl init|apply -dir DIR -services a,b,c")
	}
	fs := flag.NewFlagSet("consulacl "+args[0], flag.ContinueOnError)
	dir := fs.String("dir", "acl", "directory of the tokens and acl.hcl")
	services := fs.String("services", "catalog,cart,payment,gateway", "comma-separated service names")
	wait := fs.Duration("wait", 2*time.Minute, "apply: how long to wait for the ACL system")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var names []string
	for _, s := range strings.Split(*services, ",") {
		s = strings.TrimSpace(s)
		if s == "" || strings.ContainsAny(s, `/\. `) {
			return fmt.Errorf("-services %q: want service names separated by commas", *services)
		}
		names = append(names, s)
	}
	if args[0] == "init" {
		return initDir(*dir, names, out)
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	return apply(ctx, *dir, names, out)
}

func initDir(dir string, names []string, out io.Writer) error {
	files := append([]string{"management", "acl.hcl"}, tokenFiles(names)...)
	complete := true
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			complete = false
		}
	}
	if complete {
		fmt.Fprintf(out, "consulacl: %s already holds the tokens\n", dir)
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mgmt := uuid()
	secrets := map[string]string{"management": mgmt}
	for _, n := range names {
		secrets[n+".token"] = uuid()
	}
	secrets["acl.hcl"] = fmt.Sprintf("acl {\n  enabled = true\n  default_policy = \"deny\"\n  down_policy = \"extend-cache\"\n  tokens {\n    initial_management = %q\n    agent = %q\n  }\n}\n", mgmt, mgmt)
	for name, v := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o640); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "consulacl: wrote a management token, acl.hcl and tokens for %s into %s\n", strings.Join(names, ", "), dir)
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

func apply(ctx context.Context, dir string, names []string, out io.Writer) error {
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
	for _, n := range names {
		secret, err := read(n + ".token")
		if err != nil {
			return err
		}
		for {
			err = ensureToken(ctx, c, n, secret)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("token for %s: %w (last error: %v)", n, ctx.Err(), err)
			case <-time.After(500 * time.Millisecond):
			}
		}
		fmt.Fprintf(out, "consulacl: token for %s (service identity %s)\n", n, n)
	}
	return nil
}

// ensureToken creates the token of service with secret, unless it exists.
func ensureToken(ctx context.Context, c *api.Client, service, secret string) error {
	q := (&api.QueryOptions{Token: secret}).WithContext(ctx)
	if _, _, err := c.ACL().TokenReadSelf(q); err == nil {
		return nil
	}
	_, _, err := c.ACL().TokenCreate(&api.ACLToken{
		SecretID:          secret,
		Description:       "gantry example service " + service,
		ServiceIdentities: []*api.ACLServiceIdentity{{ServiceName: service}},
	}, (&api.WriteOptions{}).WithContext(ctx))
	return err
}
