package platform_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery/dns"
	"github.com/gantry-go/gantry/examples/internal/platform"
	"github.com/gantry-go/gantry/observability"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	closed := httptest.NewServer(http.NotFoundHandler())
	_, closedPort, _ := net.SplitHostPort(closed.Listener.Addr().String())
	closed.Close()

	for _, tc := range []struct {
		name, addr string
		status     int
		ok         bool
	}{
		{"ready, any host", ":" + port, 200, true},
		{"ready, explicit loopback", "127.0.0.1:" + port, 200, true},
		{"ready, unspecified host", "0.0.0.0:" + port, 200, true},
		{"not ready", ":" + port, 503, false},
		{"nothing listening", ":" + closedPort, 200, false},
		{"bad address", "8081", 200, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status = tc.status
			err := platform.Healthcheck(t.Context(), tc.addr)
			if (err == nil) != tc.ok {
				t.Errorf("Healthcheck(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
			}
		})
	}
}

func TestEnvironDefaultsOnlyFillGaps(t *testing.T) {
	t.Setenv("HTTP_ADDR", ":9999")
	env := platform.Environ(map[string]string{"HTTP_ADDR": ":8081", "OTEL_SERVICE_NAME": "catalog"})
	if env["HTTP_ADDR"] != ":9999" || env["OTEL_SERVICE_NAME"] != "catalog" {
		t.Errorf("Environ() HTTP_ADDR=%q OTEL_SERVICE_NAME=%q, want :9999 (set) and catalog (default)", env["HTTP_ADDR"], env["OTEL_SERVICE_NAME"])
	}
}

func TestSettingsErrorsNameTheVariables(t *testing.T) {
	_, err := config.Load[platform.Settings](config.WithEnvironment(map[string]string{
		"HTTP_ADDR":        "no-port",
		"DISCOVERY_STATIC": "catalog",
		"DISCOVERY_CHECK":  "tcp",
		"ADMIN_ADDR":       "9090",
		"LOG_LEVEL":        "loud",
	}))
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Load(bad env) = %v, want config.ErrInvalid", err)
	}
	for _, v := range []string{"HTTP_ADDR", "DISCOVERY_STATIC", "DISCOVERY_CHECK", "ADMIN_ADDR", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), v+": ") {
			t.Errorf("Load(bad env) = %v, want it to name %s", err, v)
		}
	}
	s, err := config.Load[platform.Settings](config.WithEnvironment(map[string]string{}))
	if err != nil || s.DataDir != "data" {
		t.Errorf("Load(empty env) = DATA_DIR %q, %v, want data, nil", s.DataDir, err)
	}
}

func TestStaticResolverWithoutConsul(t *testing.T) {
	s := platform.DiscoverySettings{}
	s.Static.Services = "payment=http://127.0.0.1:8083,http://127.0.0.1:9083"
	c, err := platform.ConsulClient(s)
	if err != nil || c != nil {
		t.Fatalf("ConsulClient(no CONSUL_HTTP_ADDR) = %v, %v, want nil, nil", c, err)
	}
	if reg, err := platform.NewRegistrar(c, nil, "payment", platform.Settings{Discovery: s}, observability.Instrumentation{}); reg != nil || err != nil {
		t.Errorf("NewRegistrar(no consul) = %v, %v, want nil, nil", reg, err)
	}
	r, run, err := platform.NewResolver(c, []string{"payment"}, s, observability.Instrumentation{})
	if err != nil || run != nil {
		t.Fatalf("NewResolver(static) = %v, %v, want a resolver and no runner", run, err)
	}
	f, err := r.Lookup("payment")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Snapshot().Instances); n != 2 {
		t.Errorf("static payment instances = %d, want 2", n)
	}
}

// TestDNSResolverWithoutConsul: DISCOVERY_DNS (the Kubernetes headless-Service setup)
// resolves peers through the system resolver; localhost comes from /etc/hosts, so the
// test needs no DNS server.
func TestDNSResolverWithoutConsul(t *testing.T) {
	s := platform.DiscoverySettings{}
	s.DNS.Targets = "catalog=localhost:8081"
	r, run, err := platform.NewResolver(nil, []string{"catalog"}, s, observability.Instrumentation{})
	if err != nil || run == nil {
		t.Fatalf("NewResolver(DISCOVERY_DNS) = %v, %v, want a resolver that runs", run, err)
	}
	dr, ok := r.(*dns.Resolver)
	if !ok {
		t.Fatalf("NewResolver(DISCOVERY_DNS) = %T, want *dns.Resolver", r)
	}
	if err := dr.Refresh(t.Context(), "catalog"); err != nil {
		t.Fatalf("Refresh(catalog) = %v", err)
	}
	f, err := r.Lookup("catalog")
	if err != nil {
		t.Fatal(err)
	}
	ins := f.Snapshot().Instances
	if len(ins) == 0 {
		t.Fatalf("catalog instances = none, want localhost's addresses")
	}
	for _, in := range ins {
		if host, port, _ := net.SplitHostPort(in.Address); port != "8081" || !net.ParseIP(host).IsLoopback() {
			t.Errorf("catalog instance %q, want a loopback address on port 8081", in.Address)
		}
	}
}

func TestStaticAndDNSTogetherIsAnError(t *testing.T) {
	_, err := config.Load[platform.Settings](config.WithEnvironment(map[string]string{
		"DISCOVERY_STATIC": "catalog=http://127.0.0.1:8081",
		"DISCOVERY_DNS":    "catalog=catalog:8081",
	}))
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "DISCOVERY_DNS: ") {
		t.Errorf("Load(DISCOVERY_STATIC and DISCOVERY_DNS) = %v, want an error naming DISCOVERY_DNS", err)
	}
}
