package shoptest

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/examples/payment"
	"github.com/gantry-go/gantry/transport"
)

// Wrap is server middleware applied around a service's handler; service is
// "catalog", "payment", "cart" or "gateway".
type Wrap func(service string, h http.Handler) http.Handler

// Catalog is a catalog service running on loopback.
type Catalog struct {
	URL     string
	Service catalog.Service
	Store   catalog.Repository
	Server  *httptest.Server
}

// StartCatalog starts a catalog over a fresh SQLite file in t.TempDir(). wrap may be
// nil.
func StartCatalog(t testing.TB, wrap func(http.Handler) http.Handler) *Catalog {
	t.Helper()
	return StartCatalogOn(t, wrap, "")
}

// StartCatalogOn is StartCatalog over the PostgreSQL database databaseURL, opened with
// catalog.OpenStore ("" means a fresh SQLite file).
func StartCatalogOn(t testing.TB, wrap func(http.Handler) http.Handler, databaseURL string) *Catalog {
	t.Helper()
	be, err := catalog.OpenStore(context.Background(), databaseURL, filepath.Join(t.TempDir(), "catalog.db"), sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("catalog.OpenStore() = %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	store := be.Repository
	svc := catalog.NewService(store)
	srv := httptest.NewServer(apply(wrap, catalog.NewHTTPHandler(svc, nil)))
	t.Cleanup(srv.Close)
	return &Catalog{URL: srv.URL, Service: svc, Store: store, Server: srv}
}

// Payment is a payment service running on loopback.
type Payment struct {
	URL     string
	Service payment.Service
	Store   payment.Ledger
	Server  *httptest.Server
}

// StartPayment starts a payment service over a fresh SQLite file in t.TempDir().
// proc nil means an always-available simulated processor; wrap may be nil.
func StartPayment(t testing.TB, proc payment.Processor, wrap func(http.Handler) http.Handler) *Payment {
	t.Helper()
	return StartPaymentOn(t, proc, wrap, "")
}

// StartPaymentOn is StartPayment over the PostgreSQL database databaseURL, opened with
// payment.OpenStore ("" means a fresh SQLite file).
func StartPaymentOn(t testing.TB, proc payment.Processor, wrap func(http.Handler) http.Handler, databaseURL string) *Payment {
	t.Helper()
	be, err := payment.OpenStore(context.Background(), databaseURL, filepath.Join(t.TempDir(), "payment.db"), sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("payment.OpenStore() = %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	store := be.Repository
	if proc == nil {
		proc = payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil)
	}
	svc := payment.NewService(store, proc, payment.Settings{})
	srv := httptest.NewServer(apply(wrap, payment.NewHTTPHandler(svc, nil)))
	t.Cleanup(srv.Close)
	return &Payment{URL: srv.URL, Service: svc, Store: store, Server: srv}
}

// Cart is a cart service running on loopback.
type Cart struct {
	URL       string
	Shop      *cart.Shop
	Store     cart.Repository
	Recoverer *cart.Recoverer
	Server    *httptest.Server
	// SQLitePath is the cart's SQLite file, for tests that write around the store
	// (empty when CartOptions.DatabaseURL is set).
	SQLitePath string
}

// CartOptions configures StartCart.
type CartOptions struct {
	// Client calls catalog and payment; nil means NewClient(StaticResolver(...), 2s).
	Client *http.Client
	// CatalogURL and PaymentURL are the upstream base URLs used by the clients.
	// Defaults "http://catalog" and "http://payment".
	CatalogURL, PaymentURL string
	Settings               cart.Settings
	Recovery               cart.RecoverySettings
	Wrap                   func(http.Handler) http.Handler
	// DatabaseURL, when set, keeps the cart in that PostgreSQL database (replicas
	// may share it), opened with cart.OpenStore; empty means a fresh SQLite file.
	DatabaseURL string
}

// StartCart starts a cart over a fresh SQLite file in t.TempDir(), or over
// o.DatabaseURL.
func StartCart(t testing.TB, o CartOptions) *Cart {
	t.Helper()
	if o.CatalogURL == "" {
		o.CatalogURL = "http://catalog"
	}
	if o.PaymentURL == "" {
		o.PaymentURL = "http://payment"
	}
	path := ""
	if o.DatabaseURL == "" {
		path = filepath.Join(t.TempDir(), "cart.db")
	}
	be, err := cart.OpenStore(context.Background(), o.DatabaseURL, path, sqlitedb.Settings{}, nil)
	if err != nil {
		t.Fatalf("cart.OpenStore() = %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	store := be.Repository
	shop := cart.NewShop(store, cart.NewCatalogClient(o.Client, o.CatalogURL), cart.NewPaymentClient(o.Client, o.PaymentURL), o.Settings)
	srv := httptest.NewServer(apply(o.Wrap, cart.NewHTTPHandler(cart.MakeEndpoints(shop), nil)))
	t.Cleanup(srv.Close)
	return &Cart{URL: srv.URL, Shop: shop, Store: store, Recoverer: cart.NewRecoverer(shop, o.Recovery, nil), Server: srv, SQLitePath: path}
}

// StaticResolver returns a discovery resolver naming each service's loopback URL.
func StaticResolver(t testing.TB, urls map[string]string) *discovery.Static {
	t.Helper()
	m := map[string][]discovery.Instance{}
	for name, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("url.Parse(%q) = %v", raw, err)
		}
		m[name] = []discovery.Instance{{ID: name + "-1", Address: u.Host, Scheme: u.Scheme}}
	}
	return discovery.NewStatic(m)
}

// NewClient returns a client whose transport resolves http://<service>/ through r,
// with the given whole-call timeout, deadline and request-id propagation, and
// outlier ejection disabled (a test's faults must reach the saga, not be routed
// around). mw wraps the chain outermost (tracing, breakers).
func NewClient(t testing.TB, r discovery.Resolver, timeout time.Duration, mw ...func(http.RoundTripper) http.RoundTripper) *http.Client {
	t.Helper()
	base := transport.NewRoundTripper(transport.ClientSettings{})
	dt := discovery.NewRouter(r, base, discovery.BalancerSettings{EjectAfter: -1, SlowStart: -1})
	t.Cleanup(func() { dt.Close(); base.CloseIdleConnections() })
	all := append(append([]func(http.RoundTripper) http.RoundTripper{}, mw...), transport.PropagateDeadline(), transport.PropagateRequestID())
	return &http.Client{Transport: transport.ClientChain(all...)(dt), Timeout: timeout}
}

// OpenDB opens a fresh SQLite database named name in t.TempDir(), closed at cleanup.
func OpenDB(t testing.TB, name string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), name), sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("sqlitedb.Open(%s) = %v", name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func apply(wrap func(http.Handler) http.Handler, h http.Handler) http.Handler {
	if wrap == nil {
		return h
	}
	return wrap(h)
}
