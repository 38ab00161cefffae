// Package shop wires the four example services (catalog, payment, cart, gateway) into
// one process with static discovery on loopback: the demo of examples/cmd/shop and
// the cross-service tests run exactly this wiring. Each service gets what its own
// main gives it: a SQLite file under the data directory, its own logger, telemetry
// and health registry, the library's API server (gantry.NewServer) with the service's
// load shedder, an admin server (gantry.NewAdmin) on its own port, and for cart and
// gateway the library's client (gantry.NewClient). Calls between the services are
// mutual TLS with certificates from one in-memory development CA, and catalog,
// payment and cart authorize each route by the caller's identity (their Callers
// tables); the gateway's public listener is plain HTTP.
package shop

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/gateway"
	"github.com/gantry-go/gantry/examples/internal/demoidp"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/examples/payment"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

// Services lists the service names in start order.
func Services() []string { return []string{"catalog", "payment", "cart", "gateway"} }

// Options configures New. The zero value listens on random loopback ports, keeps
// data in DataDir (required), and records no telemetry.
type Options struct {
	// DataDir holds catalog.db, payment.db and cart.db. Required.
	DataDir string
	// Addrs maps a service name to its API listen address; missing means
	// "127.0.0.1:0" (a random free port).
	Addrs map[string]string
	// AdminAddrs maps a service name to its admin listen address; missing means
	// "127.0.0.1:0".
	AdminAddrs map[string]string
	// Logger is the base logger; each service logs with service=<name>. Nil discards.
	Logger *slog.Logger
	// Instrument returns a service's tracer and meter providers. Nil means
	// observability.NewTelemetry with the service's name and no exporter. The
	// service's logger is added to what it returns.
	Instrument func(service string) observability.Instrumentation
	// Client configures the cart's client (calls to catalog and payment).
	Client gantry.ClientSettings
	// GatewayClient configures the gateway's client (calls to catalog and cart). Its
	// attempt timeout must cover a whole checkout saga.
	GatewayClient gantry.ClientSettings
	// RateLimit is the gateway's per-client limit; zero means 100/s, bursts of 200,
	// and Connection: close after 10 rejections in a row.
	RateLimit resilience.RateLimitSettings
	// Limits are the gateway's per-user and checkout limits (GATEWAY_USER_*,
	// GATEWAY_CHECKOUT_*; a zero LimitSettings takes their defaults). Nil means
	// none: the tests and the load generator drive the shop as one demo user, at
	// more checkouts per second than the binary's default allows.
	Limits *gateway.LimitSettings
	// Cart and Recovery configure the cart service.
	Cart     cart.Settings
	Recovery cart.RecoverySettings
	// Shutdown configures gantry.Run. Zero means a 100ms drain delay (no load
	// balancer needs to notice the demo going away) and a 10s budget.
	Shutdown gantry.Settings
	// PlainHTTP turns mTLS between the services off (for comparisons): the internal
	// services serve plain HTTP and authorize no one, as with TLS_MODE=off. The cart
	// then believes the gateway's Gantry-Principal from any caller (it trusts the
	// network, as the binaries do with TLS_MODE=off).
	PlainHTTP bool
	// Auth is the gateway's user authentication. The zero Mode means
	// gateway.AuthOIDC with the demo identity provider, whose issuer and audience
	// fill Auth.OIDC.Issuer and Auth.OIDC.Audience when they are empty (set them to
	// use another provider); gateway.AuthOff turns it off, as GATEWAY_AUTH=off.
	Auth gateway.AuthSettings
	// IdP configures the demo identity provider, which runs unless Auth.Mode is
	// off.
	IdP demoidp.Settings
	// Restock tops the catalog's stock up as it sells (cmd/shop -restock): New
	// raises every product to 10000 units, and every 200ms those below 5000 go back
	// to 10000, so that load runs measure capacity, not stock. False keeps the
	// seeded stock, which runs out.
	Restock bool
}

// Shop is the running set of services. Build it with New, start it with Run.
type Shop struct {
	// URLs maps each service name to its API base URL, like "http://127.0.0.1:8080"
	// for the gateway and "https://127.0.0.1:8081" for the internal services (plain
	// http:// with Options.PlainHTTP).
	URLs map[string]string
	// Operator calls the internal services directly, over mTLS as the "operator"
	// identity, which their Callers tables allow to read and refund (nil with
	// Options.PlainHTTP). Any other client without a certificate of the shop's CA
	// is refused in the handshake.
	Operator *http.Client
	// CA is the development CA that issued every service's certificate (nil with
	// Options.PlainHTTP), for tests that need a certificate of their own.
	CA *identity.DevCA
	// AdminURLs maps each service name to its admin base URL (/readyz, /metrics,
	// /debug/*).
	AdminURLs map[string]string
	// Processor is payment's card processor; SetFailing makes it fail.
	Processor *SwitchProcessor
	// CartClient is the cart's upstream client (its breakers, retry budget).
	CartClient *gantry.Client
	// GatewayClient is the gateway's upstream client.
	GatewayClient *gantry.Client
	// Cart, CartStore and Recoverer are the cart's domain, store and recovery loop.
	Cart      *cart.Shop
	CartStore *cart.Store
	Recoverer *cart.Recoverer
	// Catalog and Payment are those services' domain APIs.
	Catalog catalog.Service
	Payment payment.Service
	// IdP is the demo identity provider (nil with Options.Auth.Mode off). It serves
	// from New until Run returns or Close.
	IdP *demoidp.Provider

	opts    gantry.Options
	closers []func() error
	ran     atomic.Bool
}

// New opens the databases, builds the four services and binds their listeners. Call
// Run to serve, or Close to release everything without running.
func New(ctx context.Context, o Options) (_ *Shop, err error) {
	if o.DataDir == "" {
		return nil, errors.New("shop: a data directory is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Shutdown.DrainDelay == 0 {
		o.Shutdown.DrainDelay = 100 * time.Millisecond
	}
	if o.Shutdown.Timeout == 0 {
		o.Shutdown.Timeout = 10 * time.Second
	}
	if o.RateLimit == (resilience.RateLimitSettings{}) {
		o.RateLimit = resilience.RateLimitSettings{KeyRate: 100, KeyBurst: 200, CloseAfter: 10}
	}
	if o.GatewayClient.Resilience.AttemptTimeout == 0 {
		o.GatewayClient.Resilience.AttemptTimeout = 3 * time.Second
	}
	if o.GatewayClient.Resilience.BreakerKey == nil {
		o.GatewayClient.Resilience.BreakerKey = gateway.BreakerKey
	}
	if o.GatewayClient.Resilience.RequestTimeout == 0 {
		o.GatewayClient.Resilience.RequestTimeout = 10 * time.Second
	}
	s := &Shop{URLs: map[string]string{}, AdminURLs: map[string]string{}}
	defer func() {
		if err != nil {
			_ = s.Close() // release what was opened before the failure
		}
	}()

	// Listeners first: static discovery needs every address before any client.
	listeners, adminListeners := map[string]net.Listener{}, map[string]net.Listener{}
	for _, name := range Services() {
		for _, l := range []struct {
			addrs map[string]string
			lns   map[string]net.Listener
			urls  map[string]string
			api   bool
		}{{o.Addrs, listeners, s.URLs, true}, {o.AdminAddrs, adminListeners, s.AdminURLs, false}} {
			addr := l.addrs[name]
			if addr == "" {
				addr = "127.0.0.1:0"
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("shop: %s: listen on %s: %w", name, addr, err)
			}
			s.closers = append(s.closers, ignoreClosed(ln.Close))
			l.lns[name] = ln
			scheme := "http://"
			if !o.PlainHTTP && name != "gateway" && l.api {
				scheme = "https://"
			}
			l.urls[name] = scheme + ln.Addr().String()
		}
	}
	// Identities: one dev CA, a certificate per service and one for an operator.
	ids := map[string]identity.Source{}
	if !o.PlainHTTP {
		if s.CA, err = identity.NewDevCA("gantry.test"); err != nil {
			return nil, err
		}
		for _, name := range append(Services(), "operator") {
			id, err := identity.NewID("gantry.test", "default", name)
			if err != nil {
				return nil, err
			}
			if ids[name], err = s.CA.Source(id, time.Hour); err != nil {
				return nil, err
			}
		}
		op := identity.NewTransport(ids["operator"], transport.ClientSettings{})
		s.closers = append(s.closers, func() error { op.CloseIdleConnections(); return nil })
		s.Operator = &http.Client{Transport: op, Timeout: 15 * time.Second}
		o.Client.Identity, o.GatewayClient.Identity = ids["cart"], ids["gateway"]
	}
	static := map[string][]discovery.Instance{}
	for _, name := range Services() {
		static[name] = []discovery.Instance{{ID: name + "-1", Address: listeners[name].Addr().String(), Scheme: "http"}}
	}
	resolver := discovery.NewStatic(static)

	s.opts = gantry.Options{Logger: o.Logger, Settings: o.Shutdown}
	type built struct {
		api      http.Handler
		mux      *http.ServeMux // for authorization; nil for the gateway
		health   *health.Registry
		inst     observability.Instrumentation
		metrics  http.Handler
		policies []func(http.Handler) http.Handler
		debug    map[string]http.Handler
		shedder  *resilience.Shedder
	}
	b := map[string]*built{}
	for _, name := range Services() {
		inst, metrics, err := s.instrument(ctx, o, name)
		if err != nil {
			return nil, err
		}
		b[name] = &built{inst: inst, metrics: metrics, debug: map[string]http.Handler{}}
	}
	// Every service sheds load adaptively, as its own main does.
	shed := func(name string) {
		sh := resilience.NewShedder(name, resilience.ShedSettings{}, b[name].inst)
		b[name].shedder = sh
		b[name].policies = append(b[name].policies, sh.Server())
		b[name].debug["resilience"] = resilience.DebugHandler(sh)
	}

	// catalog
	catDB, err := s.openDB(ctx, o.DataDir, "catalog.db")
	if err != nil {
		return nil, err
	}
	catStore, err := catalog.NewStore(ctx, catDB)
	if err != nil {
		return nil, err
	}
	s.Catalog = catalog.NewService(catStore)
	s.opts.Components = append(s.opts.Components, catalog.NewSweeper(catStore, catalog.Settings{}, b["catalog"].inst.Logger))
	if o.Restock {
		r := &restocker{store: catStore, log: b["catalog"].inst.Logger}
		if err := r.restock(ctx); err != nil {
			return nil, err
		}
		s.opts.Components = append(s.opts.Components, r)
	}
	b["catalog"].mux = catalog.NewHTTPHandler(s.Catalog, b["catalog"].inst.Logger)
	b["catalog"].health = health.NewRegistry(health.Settings{}, platform.DBCheck(catDB))
	shed("catalog")

	// payment
	payDB, err := s.openDB(ctx, o.DataDir, "payment.db")
	if err != nil {
		return nil, err
	}
	payStore, err := payment.NewStore(ctx, payDB)
	if err != nil {
		return nil, err
	}
	s.Processor = &SwitchProcessor{Next: payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil)}
	s.Payment = payment.NewService(payStore, s.Processor, payment.Settings{})
	b["payment"].mux = payment.NewHTTPHandler(s.Payment, b["payment"].inst.Logger)
	b["payment"].health = health.NewRegistry(health.Settings{}, platform.DBCheck(payDB))
	shed("payment")

	// cart
	cartDB, err := s.openDB(ctx, o.DataDir, "cart.db")
	if err != nil {
		return nil, err
	}
	if s.CartStore, err = cart.NewStore(ctx, cartDB, nil); err != nil {
		return nil, err
	}
	if s.CartClient, err = gantry.NewClient("cart", resolver, o.Client, b["cart"].inst); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { s.CartClient.Close(); return nil })
	if o.Cart.MeterProvider == nil {
		o.Cart.MeterProvider = b["cart"].inst.MeterProvider
	}
	s.Cart = cart.NewShop(s.CartStore, cart.NewCatalogClient(s.CartClient.HTTP, "http://catalog"),
		cart.NewPaymentClient(s.CartClient.HTTP, "http://payment"), o.Cart)
	s.Recoverer = cart.NewRecoverer(s.Cart, o.Recovery, b["cart"].inst.Logger)
	b["cart"].mux = cart.NewHTTPHandler(cart.MakeEndpoints(s.Cart), b["cart"].inst.Logger)
	b["cart"].health = health.NewRegistry(health.Settings{}, platform.DBCheck(cartDB))
	shed("cart")
	b["cart"].debug = map[string]http.Handler{
		"discovery":  discovery.DebugHandler(resolver, s.CartClient.Router),
		"resilience": resilience.DebugHandler(s.CartClient, b["cart"].shedder),
	}
	s.opts.Components = append(s.opts.Components, s.Recoverer)

	// gateway: the edge, with a per-client rate limit and user authentication.
	if s.GatewayClient, err = gantry.NewClient("gateway", resolver, o.GatewayClient, b["gateway"].inst); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { s.GatewayClient.Close(); return nil })
	if b["gateway"].api, err = gateway.NewHandler(s.GatewayClient.HTTP.Transport, gateway.Upstreams{}, b["gateway"].inst.Logger); err != nil {
		return nil, err
	}
	limiter := resilience.NewRateLimiter("gateway-clients", o.RateLimit, resilience.KeyByClientIP, b["gateway"].inst)
	b["gateway"].policies = append(b["gateway"].policies, limiter.Server())
	authn, err := s.authenticator(ctx, o, b["gateway"].inst)
	if err != nil {
		return nil, err
	}
	lim := gateway.LimitSettings{UserRate: -1, CheckoutRate: -1}
	if o.Limits != nil {
		lim = *o.Limits
	}
	limits, err := gateway.NewLimits(lim, resilience.KeyByClientIP, b["gateway"].inst)
	if err != nil {
		return nil, fmt.Errorf("shop: gateway: %w", err)
	}
	// Inside the per-client limit, the gateway sheds browsing first and checkouts
	// last (gateway.Criticality marks them), as cmd/gateway does.
	b["gateway"].policies = append(b["gateway"].policies, gateway.Criticality())
	shed("gateway")
	b["gateway"].policies = append(b["gateway"].policies, authn, limits.Server())
	b["gateway"].health = health.NewRegistry(health.Settings{})
	b["gateway"].debug = map[string]http.Handler{
		"discovery":  discovery.DebugHandler(resolver, s.GatewayClient.Router),
		"resilience": resilience.DebugHandler(s.GatewayClient, limiter, limits, b["gateway"].shedder),
	}

	// Authorization by caller identity, before shedding, as in each service's main.
	callers := map[string]func() (map[string][]string, []string){
		"catalog": catalog.Callers, "payment": payment.Callers, "cart": cart.Callers,
	}
	edgeRoles := map[string]map[string]string{"catalog": catalog.EdgeRoles(), "payment": payment.EdgeRoles()}
	for name, table := range callers {
		sv := b[name]
		sv.api = sv.mux
		routes, unlisted := table()
		authz, err := platform.Identity{Source: ids[name]}.Authorize(sv.mux, routes, unlisted, edgeRoles[name], sv.inst)
		if err != nil {
			return nil, err
		}
		sv.policies = append([]func(http.Handler) http.Handler{authz}, sv.policies...)
	}

	// Servers: each service's API server and admin server, as in its own main.
	for _, name := range Services() {
		sv := b[name]
		settings := gantry.ServerSettings{HTTP: transport.ServerSettings{Addr: listeners[name].Addr().String()}, Edge: name == "gateway"}
		if name != "gateway" {
			settings.Identity = ids[name]
		}
		api, err := gantry.NewServer(sv.api, settings, sv.inst, sv.policies...)
		if err != nil {
			return nil, err
		}
		adminSettings := gantry.AdminSettings{Addr: adminListeners[name].Addr().String()}
		if name == "gateway" { // its dashboard shows the whole shop, read from the others' admin servers
			adminSettings.DashboardPeers = map[string]string{}
			for _, peer := range Services() {
				if peer != name {
					adminSettings.DashboardPeers[peer] = s.AdminURLs[peer]
				}
			}
		}
		admin, err := gantry.NewAdmin(adminSettings,
			gantry.Admin{Name: name, Health: sv.health, Metrics: sv.metrics, Debug: sv.debug}, sv.inst)
		if err != nil {
			return nil, err
		}
		s.opts.Servers = append(s.opts.Servers, gantry.Server{Server: api, Listener: listeners[name]},
			gantry.Server{Server: admin, Listener: adminListeners[name]})
		s.opts.Components = append(s.opts.Components, sv.health)
	}
	return s, nil
}

// authenticator starts the demo identity provider unless o.Auth.Mode is off and
// returns the gateway's user policy (nil when off).
func (s *Shop) authenticator(ctx context.Context, o Options, inst observability.Instrumentation) (func(http.Handler) http.Handler, error) {
	a := o.Auth
	if a.Mode == gateway.AuthOff {
		return nil, nil
	}
	a.Mode = gateway.AuthOIDC
	if a.OIDC.Issuer == "" {
		idp, err := demoidp.New(o.IdP)
		if err != nil {
			return nil, err
		}
		s.IdP = idp
		idpCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan error, 1)
		go func() { done <- idp.Run(idpCtx) }()
		s.closers = append(s.closers, func() error { cancel(); return <-done })
		a.OIDC.Issuer = idp.Issuer()
		if len(a.OIDC.Audience) == 0 {
			a.OIDC.Audience = []string{idp.Audience()}
		}
	}
	a.OIDC.Logger = inst.Logger
	authn, verifier, err := gateway.NewAuthenticator(ctx, a, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("shop: gateway: %w", err)
	}
	s.opts.Components = append(s.opts.Components, verifier)
	return authn, nil
}

// Token returns an access token of the demo identity provider for user ("alice",
// "bob" or "operator"), for tests and the tour. It fails with the provider's
// demoidp.ErrUnknownUser for another user, and when the shop runs without the
// demo provider.
func (s *Shop) Token(ctx context.Context, user string) (string, error) {
	if s.IdP == nil {
		return "", errors.New("shop: no demo identity provider (authentication is off or uses another provider)")
	}
	return s.IdP.Token(ctx, user)
}

// instrument returns a service's instrumentation and its /metrics handler (nil when
// Options.Instrument provides the providers).
func (s *Shop) instrument(ctx context.Context, o Options, name string) (observability.Instrumentation, http.Handler, error) {
	logger := o.Logger.With("service", name)
	if o.Instrument != nil {
		inst := o.Instrument(name)
		inst.Logger = logger
		return inst, nil, nil
	}
	tel, err := observability.NewTelemetry(ctx, observability.TelemetrySettings{ServiceName: name})
	if err != nil {
		return observability.Instrumentation{}, nil, fmt.Errorf("shop: %s telemetry: %w", name, err)
	}
	s.opts.Components = append(s.opts.Components, tel)
	return tel.Instrumentation(logger), tel.MetricsHandler(), nil
}

func (s *Shop) openDB(ctx context.Context, dir, file string) (*sql.DB, error) {
	db, err := sqlitedb.Open(ctx, filepath.Join(dir, file), sqlitedb.Settings{})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, db.Close)
	return db, nil
}

// Run serves until ctx is cancelled or a signal arrives, then shuts every service
// down in order (gantry.Run) and closes the databases. Run may be called once.
func (s *Shop) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("shop: Run called twice")
	}
	err := gantry.Run(ctx, s.opts)
	return errors.Join(err, s.Close())
}

// Close releases the listeners, client stacks and databases. Run calls it.
func (s *Shop) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

func ignoreClosed(f func() error) func() error {
	return func() error {
		if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}

// SwitchProcessor wraps a payment processor with a failure switch, so the tour can
// make payment flaky while the shop runs: while failing, every charge and refund
// fails before any money moves, as PAYMENT_PROCESSOR_FAILURE_RATE=1 would. It is
// safe for concurrent use.
type SwitchProcessor struct {
	Next    payment.Processor
	failing atomic.Bool
}

var _ payment.Processor = (*SwitchProcessor)(nil)

// SetFailing turns the failure switch on or off.
func (p *SwitchProcessor) SetFailing(on bool) { p.failing.Store(on) }

// Authorize implements payment.Processor.
func (p *SwitchProcessor) Authorize(ctx context.Context, key string, req payment.ChargeRequest) (payment.Decision, error) {
	if p.failing.Load() {
		return payment.Decision{}, &payment.UnavailableError{Retry: time.Second}
	}
	return p.Next.Authorize(ctx, key, req)
}

// Refund implements payment.Processor.
func (p *SwitchProcessor) Refund(ctx context.Context, pay payment.Payment) error {
	if p.failing.Load() {
		return &payment.UnavailableError{Retry: time.Second}
	}
	return p.Next.Refund(ctx, pay)
}
