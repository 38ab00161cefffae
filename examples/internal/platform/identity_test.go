package platform_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul/consultest"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/transport/identity"
)

// TestConsulModeIdentity: with TLS_MODE=consul a service's certificate comes from a
// real agent's CA, and its Authorize applies the service's table and Consul's
// intentions both: the cart reaches catalog's route until a deny intention
// cart → catalog, then gets 403; a route the table does not give the cart is 403
// whatever Consul says. Without Consul, consul mode is a start-up error naming
// TLS_MODE.
func TestConsulModeIdentity(t *testing.T) {
	none := observability.Instrumentation{}
	settings := platform.Settings{}
	settings.TLS.Mode = identity.ModeConsul
	settings.TLSConsul.CacheTTL = 100 * time.Millisecond
	if _, err := platform.NewIdentity(t.Context(), "catalog", settings, nil, none); err == nil || !strings.Contains(err.Error(), "TLS_MODE") {
		t.Errorf("NewIdentity(consul mode, no Consul) = %v, want an error naming TLS_MODE", err)
	}

	agent := consultest.Start(t)
	c, err := platform.ConsulClient(platform.DiscoverySettings{ConsulAddr: agent.HTTPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	idOf := func(svc string) platform.Identity {
		t.Helper()
		id, err := platform.NewIdentity(t.Context(), svc, settings, c, none)
		if err != nil {
			t.Fatalf("NewIdentity(%s, consul) = %v", svc, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- id.Reload.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return id
	}
	catalogID, cartID := idOf("catalog"), idOf("cart")
	if cert, err := catalogID.Source.Certificate(); err != nil || !strings.HasSuffix(cert.Leaf.URIs[0].Path, "/svc/catalog") {
		t.Fatalf("catalog's certificate = %v, %v; want a SPIFFE ID for catalog", cert, err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /products", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /inventory", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	authz, err := catalogID.Authorize(mux, map[string][]string{"GET /products": {"cart"}, "GET /inventory": {"operator"}}, nil, nil, none)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gantry.NewServer(mux, gantry.ServerSettings{Identity: catalogID.Source}, none, authz)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- gantry.Run(ctx, gantry.Options{Servers: []gantry.Server{{Server: srv, Listener: ln}},
			Settings: gantry.Settings{DrainDelay: -1, Timeout: 5 * time.Second}, Signals: make(chan os.Signal)})
	}()
	t.Cleanup(func() { cancel(); <-served })
	client, err := gantry.NewClient("cart", discovery.NewStatic(map[string][]discovery.Instance{"catalog": {{Address: ln.Addr().String()}}}),
		gantry.ClientSettings{Identity: cartID.Source}, none)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	get := func(path string) int {
		t.Helper()
		resp, err := client.HTTP.Get("http://catalog" + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/products"); code != http.StatusOK {
		t.Fatalf("GET /products as cart with no intention = %d, want 200", code)
	}
	if code := get("/inventory"); code != http.StatusForbidden {
		t.Errorf("GET /inventory as cart (not in the table) = %d, want 403", code)
	}
	if _, _, err := c.ConfigEntries().Set(&api.ServiceIntentionsConfigEntry{
		Kind: api.ServiceIntentions, Name: "catalog",
		Sources: []*api.SourceIntention{{Name: "cart", Action: api.IntentionActionDeny}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get("/products") != http.StatusForbidden {
		if time.Now().After(deadline) {
			t.Fatal("GET /products as cart still allowed 10s after a deny intention")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
