package consul_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul"
	"github.com/gantry-go/gantry/discovery/consul/consultest"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport/identity"
)

// Tests of whole services made mTLS by Consul's built-in CA: gantry.NewServer and
// gantry.NewClient with a CASource as their Identity, the client resolving through
// the Consul Resolver, against a real agent, with real handshakes on loopback.

// connectSource returns the CASource of service from the agent of c.
func connectSource(t *testing.T, c *api.Client, service string) *consul.CASource {
	t.Helper()
	src, err := consul.NewCASource(t.Context(), c, service, consul.ConnectSettings{})
	if err != nil {
		t.Fatalf("NewCASource(%s) = %v", service, err)
	}
	return src
}

// serveService runs h behind gantry.NewServer with src as its Identity, under
// gantry.Run, on a loopback port until the test ends, and registers it in the agent
// of c as an instance of service (ID id, no health check, so it is passing). It
// returns the address.
func serveService(t *testing.T, c *api.Client, service, id string, h http.Handler, src identity.Source, policies ...func(http.Handler) http.Handler) string {
	t.Helper()
	srv, err := gantry.NewServer(h, gantry.ServerSettings{Identity: src}, observability.Instrumentation{}, policies...)
	if err != nil {
		t.Fatal(err)
	}
	srv.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the cart refuses
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- gantry.Run(ctx, gantry.Options{Servers: []gantry.Server{{Server: srv, Listener: ln}},
			Settings: gantry.Settings{DrainDelay: -1, Timeout: 5 * time.Second}, Signals: make(chan os.Signal)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run(%s) = %v", id, err)
		}
	})
	port := ln.Addr().(*net.TCPAddr).Port
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: service, Address: "127.0.0.1", Port: port,
	}); err != nil {
		t.Fatalf("ServiceRegister(%s) = %v", id, err)
	}
	return ln.Addr().String()
}

// watch runs a Resolver of services over c until the test ends.
func watch(t *testing.T, c *api.Client, services ...string) *consul.Resolver {
	t.Helper()
	r, err := consul.NewResolver(c, consul.WatchSettings{Services: services})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Resolver.Run = %v, want nil", err)
		}
	})
	return r
}

// waitInstances waits, event-driven, until the resolver lists exactly addrs for
// service, and fails t after 10s.
func waitInstances(t *testing.T, r *consul.Resolver, service string, addrs ...string) {
	t.Helper()
	f, err := r.Lookup(service)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(sortedCopy(addrs), " ")
	got := make(chan string, 64)
	cancel := f.Subscribe(func(s discovery.Snapshot) {
		var as []string
		for _, in := range s.Instances {
			as = append(as, in.Address)
		}
		select {
		case got <- strings.Join(sortedCopy(as), " "):
		default:
		}
	})
	defer cancel()
	timeout := time.After(10 * time.Second)
	last := ""
	for {
		select {
		case last = <-got:
			if last == want {
				return
			}
		case <-timeout:
			t.Fatalf("resolver lists %s as [%s] after 10s, want [%s]", service, last, want)
		}
	}
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }

// newServiceClient returns the client of service name, resolving through r, mTLS
// with src.
func newServiceClient(t *testing.T, name string, r discovery.Resolver, src identity.Source) *gantry.Client {
	t.Helper()
	c, err := gantry.NewClient(name, r, gantry.ClientSettings{Identity: src}, observability.Instrumentation{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// charge posts a payment through c, bounded by 5s so that a hang fails the test.
func charge(t *testing.T, c *http.Client) (*http.Response, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", "http://payment/payments", strings.NewReader(`{"amount":100}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// payments returns the payment API, counting the charges it takes and answering
// with the caller's SPIFFE ID.
func payments(n *atomic.Int64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /payments", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		id, _ := identity.FromContext(r.Context())
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, id.String())
	})
	return mux
}

// TestRogueInstanceGetsNoCharges registers a rogue server, with a valid Consul CA
// certificate for "evil", under the service name "payment" beside the real one. The
// cart resolves both through Consul, yet every charge succeeds, the real payment
// server takes all of them, the rogue none, and the cart's balancer counts the
// rogue's refused handshakes as failures.
func TestRogueInstanceGetsNoCharges(t *testing.T) {
	agent := consultest.Start(t)
	c := agent.Client()

	var realCharges, rogueCharges atomic.Int64
	real := serveService(t, c, "payment", "payment-1", payments(&realCharges), connectSource(t, c, "payment"))
	rogue := serveService(t, c, "payment", "payment-rogue", payments(&rogueCharges), connectSource(t, c, "evil"))

	r := watch(t, c, "payment")
	waitInstances(t, r, "payment", real, rogue)

	cart := newServiceClient(t, "cart", r, connectSource(t, c, "cart"))
	const calls = 50
	for i := range calls {
		// No Idempotency-Key: a POST is retried elsewhere only because a refused
		// handshake is a dial error, so nothing was sent.
		resp, body, err := charge(t, cart.HTTP)
		if err != nil {
			t.Fatalf("charge %d from cart = %v, want 201", i, err)
		}
		if resp.StatusCode != http.StatusCreated || !strings.HasSuffix(body, "/svc/cart") {
			t.Fatalf("charge %d from cart = %d %q, want 201 and the cart's SPIFFE ID", i, resp.StatusCode, body)
		}
		if resp.TLS == nil {
			t.Fatalf("charge %d went in plain HTTP, want mTLS", i)
		}
	}
	if got := realCharges.Load(); got != calls {
		t.Errorf("the payment server took %d charges, want %d", got, calls)
	}
	if got := rogueCharges.Load(); got != 0 {
		t.Errorf("the rogue instance registered as payment took %d of %d charges, want 0", got, calls)
	}

	b, err := cart.Router.Balancer("payment")
	if err != nil {
		t.Fatal(err)
	}
	var counted bool
	for _, e := range b.Endpoints() {
		if e.Address == rogue && (e.Ejected || e.Ejections > 0 || e.ConsecutiveFailures > 0) {
			counted = true
			t.Logf("the rogue in the cart's balancer: ejected %v, %d ejections, %d consecutive failures", e.Ejected, e.Ejections, e.ConsecutiveFailures)
		}
	}
	if !counted {
		t.Errorf("the cart's balancer never counted the rogue %s as failing: %+v", rogue, b.Endpoints())
	}
}

// TestIntentionsDenyFailsFastAndHeals protects payment with the Consul intentions
// authorizer. The cart's charges succeed while no intention exists; a deny intention
// cart → payment set through the Consul API turns them, within the cache TTL and a
// round, into a 403 problem+json (not a hang, not a 5xx) that takes no charge; and
// deleting the intention lets them through again.
func TestIntentionsDenyFailsFastAndHeals(t *testing.T) {
	const ttl = 200 * time.Millisecond
	agent := consultest.Start(t)
	c := agent.Client()

	authz, err := consul.NewIntentions(c, "payment", consul.ConnectSettings{CacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	var charges atomic.Int64
	addr := serveService(t, c, "payment", "payment-1", payments(&charges), connectSource(t, c, "payment"),
		identity.Authorize(authz, identity.AuthorizeSettings{}))
	r := watch(t, c, "payment")
	waitInstances(t, r, "payment", addr)
	cart := newServiceClient(t, "cart", r, connectSource(t, c, "cart"))

	// outcome is one charge's result: "allowed", "denied" or what went wrong.
	outcome := func() string {
		t.Helper()
		resp, body, err := charge(t, cart.HTTP)
		switch {
		case err != nil:
			return "error " + err.Error()
		case resp.StatusCode == http.StatusCreated:
			return "allowed"
		case resp.StatusCode == http.StatusForbidden:
			var p struct {
				Status int `json:"status"`
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				return "403 with Content-Type " + ct
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != http.StatusForbidden {
				return "403 with body " + strconv.Quote(body)
			}
			return "denied"
		default:
			return strconv.Itoa(resp.StatusCode) + " " + body
		}
	}
	// until charges until one has outcome want and returns how long that took. Any
	// outcome but the old and the new one fails t, and so does not getting there
	// within 10s.
	until := func(from, want string) time.Duration {
		t.Helper()
		start := time.Now()
		tick := time.NewTicker(20 * time.Millisecond) // polling: the agent has no event to wait on
		defer tick.Stop()
		deadline := time.After(10 * time.Second)
		for {
			switch got := outcome(); got {
			case want:
				return time.Since(start)
			case from:
			default:
				t.Fatalf("charge while going from %s to %s = %s, want one of them", from, want, got)
			}
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatalf("charges still %s 10s after the intention changed, want %s", from, want)
			}
		}
	}

	if got := outcome(); got != "allowed" {
		t.Fatalf("charge with no intention = %s, want allowed (201)", got)
	}

	if _, _, err := c.ConfigEntries().Set(&api.ServiceIntentionsConfigEntry{
		Kind: api.ServiceIntentions, Name: "payment",
		Sources: []*api.SourceIntention{{Name: "cart", Action: api.IntentionActionDeny}},
	}, nil); err != nil {
		t.Fatalf("setting the deny intention cart → payment: %v", err)
	}
	took := until("allowed", "denied")
	t.Logf("deny intention enforced after %v (cache TTL %v)", took, ttl)
	before := charges.Load()
	for i := range 5 {
		if got := outcome(); got != "denied" {
			t.Fatalf("charge %d after the deny took effect = %s, want denied (403 problem+json)", i, got)
		}
	}
	if got := charges.Load(); got != before {
		t.Errorf("denied charges reached the payment handler %d times, want 0", got-before)
	}

	if _, err := c.ConfigEntries().Delete(api.ServiceIntentions, "payment", nil); err != nil {
		t.Fatalf("deleting the deny intention: %v", err)
	}
	took = until("denied", "allowed")
	t.Logf("calls allowed again %v after the intention was deleted (cache TTL %v)", took, ttl)
	for i := range 5 {
		if got := outcome(); got != "allowed" {
			t.Fatalf("charge %d after the intention was deleted = %s, want allowed (201)", i, got)
		}
	}
}
