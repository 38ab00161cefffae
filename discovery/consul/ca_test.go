package consul

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery/consul/consultest"
	"github.com/gantry-go/gantry/internal/envdoc"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

// connectCalls is an http.RoundTripper that reports each Connect query the api
// client starts, with its blocking index, and counts authorize calls.
type connectCalls struct {
	next       http.RoundTripper
	queries    chan string // "leaf 12", "roots 7"
	mu         sync.Mutex
	authorizes int
}

func (c *connectCalls) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/agent/connect/ca/leaf/"):
		c.report("leaf " + r.URL.Query().Get("index"))
	case p == "/v1/agent/connect/ca/roots":
		c.report("roots " + r.URL.Query().Get("index"))
	case p == "/v1/agent/connect/authorize":
		c.mu.Lock()
		c.authorizes++
		c.mu.Unlock()
	}
	return c.next.RoundTrip(r)
}

func (c *connectCalls) report(q string) {
	select {
	case c.queries <- q:
	default:
	}
}

func connectClient(t *testing.T, a *consultest.Agent) (*api.Client, *connectCalls) {
	t.Helper()
	cfg := a.Config()
	calls := &connectCalls{next: cfg.Transport, queries: make(chan string, 64)}
	cfg.HttpClient = &http.Client{Transport: calls}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, calls
}

func caSource(t *testing.T, c *api.Client, service string) *CASource {
	t.Helper()
	src, err := NewCASource(t.Context(), c, service, ConnectSettings{})
	if err != nil {
		t.Fatalf("NewCASource(%s) = %v", service, err)
	}
	return src
}

// TestCASourceMutualTLS runs mTLS between services with certificates from a real
// agent's CA: the caller reaches the service it meant, a server of another service
// fails the dial, and a caller that an intention denies gets 403.
func TestCASourceMutualTLS(t *testing.T) {
	agent := consultest.Start(t)
	c, _ := connectClient(t, agent)
	if _, _, err := c.ConfigEntries().Set(&api.ServiceIntentionsConfigEntry{
		Kind: api.ServiceIntentions, Name: "web",
		Sources: []*api.SourceIntention{{Name: "rogue", Action: api.IntentionActionDeny}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	authz, err := NewIntentions(c, "web", ConnectSettings{})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(service string) *httptest.Server {
		srv := httptest.NewUnstartedServer(identity.Authorize(authz, identity.AuthorizeSettings{})(http.NotFoundHandler()))
		srv.TLS = identity.ServerConfig(caSource(t, c, service))
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	web, db := serve("web"), serve("db")

	tests := []struct {
		name, caller, service, url string
		status                     int  // 0: the dial fails
		wrong                      bool // with ErrWrongIdentity
	}{
		{"allowed caller", "api", "web", web.URL, http.StatusNotFound, false},
		{"caller denied by an intention", "rogue", "web", web.URL, http.StatusForbidden, false},
		{"server of another service", "api", "web", db.URL, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := identity.NewTransport(caSource(t, c, tt.caller), transport.ClientSettings{})
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequestWithContext(identity.WithService(t.Context(), tt.service), "GET", tt.url, nil)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if tt.status == 0 {
				if !errors.Is(err, identity.ErrWrongIdentity) {
					t.Fatalf("Do = %v, want ErrWrongIdentity", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do = %v, want %d", err, tt.status)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("Do = %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// TestCASourceFollowsRotation rotates the agent's CA and checks that Run picks up
// the new roots and the leaf re-signed by them. Run starts its next blocking query
// only after storing what the previous one returned, so that query is the signal.
func TestCASourceFollowsRotation(t *testing.T) {
	agent := consultest.Start(t)
	c, calls := connectClient(t, agent)
	src := caSource(t, c, "web")
	before, _ := src.Certificate()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- src.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	}()

	if _, err := c.Connect().CASetConfig(&api.CAConfig{Provider: "consul",
		Config: map[string]any{"PrivateKeyType": "ec", "PrivateKeyBits": 384}}, nil); err != nil {
		t.Fatal(err)
	}
	// Consul's agent waits a random time of up to 30s (its leaf cache's
	// caChangeJitterWindow) before it re-signs a leaf after a root change, to spread
	// the CSRs: 19.9 to 26.0s were seen here. The bound is that window plus the time
	// the blocking query takes to answer.
	wait := func(kind string, after uint64) {
		t.Helper()
		timeout := time.After(45 * time.Second)
		for {
			select {
			case q := <-calls.queries:
				k, idx, _ := strings.Cut(q, " ")
				if n, _ := strconv.ParseUint(idx, 10, 64); k == kind && n > after {
					return
				}
			case <-timeout:
				t.Fatalf("no %s query after index %d within 45s", kind, after)
			}
		}
	}
	wait("roots", src.indexes[1])
	wait("leaf", src.indexes[0])

	after, _ := src.Certificate()
	if after.Leaf.SerialNumber.Cmp(before.Leaf.SerialNumber) == 0 {
		t.Fatalf("the leaf is still serial %s after the CA rotation", before.Leaf.SerialNumber)
	}
	roots, _ := src.Roots()
	inter := x509.NewCertPool()
	for _, der := range after.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	if _, err := after.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("the new leaf does not verify against the new roots: %v", err)
	}
	if bytes.Equal(after.Leaf.AuthorityKeyId, before.Leaf.AuthorityKeyId) {
		t.Errorf("the new leaf is signed by the old CA key %x", before.Leaf.AuthorityKeyId)
	}
}

// TestIntentionsCache checks that an answer is kept for TLS_CONSUL_CACHE_TTL per
// caller, and asked again after it.
func TestIntentionsCache(t *testing.T) {
	agent := consultest.Start(t)
	c, calls := connectClient(t, agent)
	td := caSource(t, c, "api").leaf.Load().Leaf.URIs[0].Host
	id := func(svc string) identity.ID {
		v, err := identity.Parse("spiffe://" + td + "/ns/default/dc/dc1/svc/" + svc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	count := func() int { calls.mu.Lock(); defer calls.mu.Unlock(); return calls.authorizes }
	for _, tt := range []struct {
		ttl  time.Duration
		want int
	}{{time.Hour, 2}, {time.Nanosecond, 4}} {
		a, err := NewIntentions(c, "web", ConnectSettings{CacheTTL: tt.ttl})
		if err != nil {
			t.Fatal(err)
		}
		start := count()
		for _, svc := range []string{"api", "api", "cart", "cart"} {
			if err := a.Authorize(t.Context(), "", id(svc)); err != nil {
				t.Fatalf("Authorize(%s) = %v, want allowed (no intention, default allow)", svc, err)
			}
		}
		if got := count() - start; got != tt.want {
			t.Errorf("CacheTTL %v: %d agent calls for 4 checks of 2 callers, want %d", tt.ttl, got, tt.want)
		}
	}
}

func TestConnectSettings(t *testing.T) {
	for _, s := range []ConnectSettings{{Wait: -time.Second}, {Wait: time.Hour}, {CacheTTL: -1}} {
		if _, err := NewIntentions(nil, "web", s); err == nil {
			t.Errorf("NewIntentions(%+v) = nil error, want one", s)
		}
	}
	if _, err := NewIntentions(nil, "", ConnectSettings{}); !errors.Is(err, ErrInvalidConnect) {
		t.Errorf("NewIntentions(no service) = %v, want ErrInvalidConnect", err)
	}
	if _, err := NewCASource(t.Context(), nil, "", ConnectSettings{}); !errors.Is(err, ErrInvalidConnect) {
		t.Errorf("NewCASource(no service) = %v, want ErrInvalidConnect", err)
	}
	envdoc.CheckDefaults(t, nil, func(s ConnectSettings) any {
		d := s.withDefaults()
		return []any{d.Wait, d.CacheTTL}
	})
}

func ExampleNewCASource() {
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	// In main: src, err := NewCASource(ctx, client, "catalog", ConnectSettings{}); it
	// fetches the leaf and roots from the agent before returning. Then serve with
	// identity.ServerConfig(src), call with identity.NewTransport(src, ...), and hand
	// src to gantry.Run (Options.Components) to follow renewals and rotations.
	_, err = NewCASource(context.Background(), client, "", ConnectSettings{})
	fmt.Println(err)
	// Output: consul: invalid connect certificate or service: empty service name
}

func ExampleNewIntentions() {
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	authz, err := NewIntentions(client, "catalog", ConnectSettings{CacheTTL: 30 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Put it in the server chain: identity.Authorize(authz, identity.AuthorizeSettings{}).
	fmt.Println(authz != nil)
	// Output: true
}
