package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// withCaller returns a request whose r.TLS carries a verified chain for id, as the
// handshake of ServerConfig leaves it.
func withCaller(t testing.TB, ca *DevCA, method, target, id string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if id != "" {
		c, err := ca.Issue(mustID(t, id), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c.Leaf}}}
	}
	return r
}

func TestAuthorize(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	const td = "spiffe://gantry.test/ns/"
	policy, err := NewPolicy(map[string][]string{
		"GET /items/{id}": {"cart", td + "ops/svc/admin"},
		"POST /orders":    {"gateway"},
		"GET /public":     {Any},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	open, err := NewPolicy(map[string][]string{"POST /orders": {"gateway"}}, []string{Any})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, caller string
		policy                     *Policy
		want                       int
	}{
		{"listed caller by name", "GET", "/items/7", td + "default/svc/cart", policy, 200},
		{"a name matches no namespace", "GET", "/items/7", td + "cart/svc/payment", policy, 403},
		{"listed name in another namespace", "GET", "/items/7", td + "shop/svc/cart", policy, 200},
		{"listed full ID", "GET", "/items/7", td + "ops/svc/admin", policy, 200},
		{"full ID in another namespace", "GET", "/items/7", td + "default/svc/admin", policy, 403},
		{"caller not listed", "GET", "/items/7", td + "default/svc/payment", policy, 403},
		{"other method of a listed path", "DELETE", "/items/7", td + "default/svc/cart", policy, 403},
		{"any caller", "GET", "/public", td + "default/svc/payment", policy, 200},
		{"any caller needs an identity", "GET", "/public", "", policy, 403},
		{"unlisted route, default deny", "GET", "/other", td + "default/svc/cart", policy, 403},
		{"unlisted route, unlisted allowed", "GET", "/other", td + "default/svc/cart", open, 200},
		{"listed route of an open policy", "POST", "/orders", td + "default/svc/cart", open, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Placed both ways: outside the mux (with Mux) and around the route's handler.
			mux := http.NewServeMux()
			inner := http.NewServeMux()
			authz := Authorize(tt.policy, AuthorizeSettings{})
			ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
			for _, p := range []string{"GET /items/{id}", "DELETE /items/{id}", "POST /orders", "GET /public", "GET /other"} {
				mux.Handle(p, ok)
				inner.Handle(p, authz(ok))
			}
			for name, h := range map[string]http.Handler{
				"outside": Authorize(tt.policy, AuthorizeSettings{Mux: mux})(mux),
				"inside":  inner,
			} {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, withCaller(t, ca, tt.method, tt.path, tt.caller))
				if w.Code != tt.want {
					t.Errorf("%s the mux: %s %s by %q = %d, want %d", name, tt.method, tt.path, tt.caller, w.Code, tt.want)
				}
			}
		})
	}
}

func TestAuthorizeCountsDenials(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	policy, _ := NewPolicy(map[string][]string{"GET /items": {"cart"}}, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /items", http.NotFoundHandler())
	h := Authorize(policy, AuthorizeSettings{Mux: mux, MeterProvider: mp})(mux)
	for _, caller := range []string{"spiffe://gantry.test/ns/default/svc/payment", "spiffe://gantry.test/ns/default/svc/payment", "", "spiffe://gantry.test/ns/default/svc/cart"} {
		h.ServeHTTP(httptest.NewRecorder(), withCaller(t, ca, "GET", "/items", caller))
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "identity.authorization.denials" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				route, _ := dp.Attributes.Value(attribute.Key("http.route"))
				caller, _ := dp.Attributes.Value(attribute.Key("identity.caller"))
				got[route.AsString()+" "+caller.AsString()] = dp.Value
			}
		}
	}
	want := map[string]int64{"GET /items spiffe://gantry.test/ns/default/svc/payment": 2, "GET /items ": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity.authorization.denials (-want +got):\n%s", diff)
	}
}

type failing struct{}

func (failing) Authorize(context.Context, string, ID) error { return errors.New("agent unreachable") }

func TestAuthorizeFailsClosed(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	called := false
	h := Authorize(failing{}, AuthorizeSettings{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, withCaller(t, ca, "GET", "/x", "spiffe://gantry.test/ns/default/svc/cart"))
	if w.Code != http.StatusServiceUnavailable || called || w.Header().Get("Retry-After") != "1" {
		t.Errorf("Authorize with a failing Authorizer = %d (Retry-After %q, handler called %v), want 503, 1, false", w.Code, w.Header().Get("Retry-After"), called)
	}
}

func TestNewPolicyErrors(t *testing.T) {
	for name, routes := range map[string]map[string][]string{
		"bad pattern":   {"GET items": {"cart"}},
		"empty pattern": {"": {"cart"}},
		"bad method":    {"G:ET /items": {"cart"}},
		"bad service":   {"GET /items": {"ca/rt"}},
		"bad spiffe id": {"GET /items": {"spiffe://gantry.test/svc/cart"}},
		"conflicting":   {"GET /{a}": {"cart"}, "GET /{b}": {"cart"}},
		"empty caller":  {"GET /items": {""}},
	} {
		if _, err := NewPolicy(routes, nil); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("NewPolicy(%s: %v) = %v, want ErrInvalidPolicy", name, routes, err)
		}
	}
	if _, err := NewPolicy(nil, []string{"x y"}); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("NewPolicy(unlisted x y) = %v, want ErrInvalidPolicy", err)
	}
}

// TestAuthorizeAllocs proves that an allowed request costs no allocation in the
// middleware, placed around a route's handler (r.Pattern) and outside the mux with
// a pattern without wildcards.
func TestAuthorizeAllocs(t *testing.T) {
	ca := mustCA(t, "gantry.test")
	policy, _ := NewPolicy(map[string][]string{"GET /items/{id}": {"cart"}, "GET /items": {"cart"}}, nil)
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("GET /items", ok)
	w := &discardWriter{h: http.Header{}}
	const cart = "spiffe://gantry.test/ns/default/svc/cart"

	inner := withCaller(t, ca, "GET", "/items/7", cart)
	inner.Pattern = "GET /items/{id}" // as ServeMux sets it for the route's handler
	outer := withCaller(t, ca, "GET", "/items", cart)
	for name, tt := range map[string]struct {
		h http.Handler
		r *http.Request
	}{
		"around the route": {Authorize(policy, AuthorizeSettings{})(ok), inner},
		"outside the mux":  {Authorize(policy, AuthorizeSettings{Mux: mux})(ok), outer},
	} {
		base := testing.AllocsPerRun(500, func() { ok.ServeHTTP(w, tt.r) })
		got := testing.AllocsPerRun(500, func() { tt.h.ServeHTTP(w, tt.r) })
		t.Logf("%s: allocs/op %v (bare %v)", name, got, base)
		if got-base != 0 {
			t.Errorf("Authorize %s: allocs/op = %v, bare %v, want 0 more", name, got, base)
		}
		if w.code != 0 {
			t.Fatalf("Authorize %s wrote %d, want the request allowed", name, w.code)
		}
	}
}

// discardWriter is a ResponseWriter that allocates nothing.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(c int)           { w.code = c }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
