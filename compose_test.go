package gantry_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

// TestConstructorsNameTheBadVariable: each composition rejects invalid settings with
// a config error naming the variable, never a server or client that half works.
func TestConstructorsNameTheBadVariable(t *testing.T) {
	none := observability.Instrumentation{}
	mux := http.NewServeMux()
	_, errServer := gantry.NewServer(mux, gantry.ServerSettings{HTTP: transport.ServerSettings{Addr: "8080"}}, none)
	_, errDeadline := gantry.NewServer(mux, gantry.ServerSettings{Deadline: resilience.DeadlineSettings{Default: -1}}, none)
	_, errAdmin := gantry.NewAdmin(gantry.AdminSettings{Addr: "9090"}, gantry.Admin{}, none)
	_, errClient := gantry.NewClient("c", nil, gantry.ClientSettings{Resilience: resilience.ClientSettings{
		RateLimit: resilience.RateLimitSettings{Rate: -1}}}, none)
	_, errBalancer := gantry.NewClient("c", nil, gantry.ClientSettings{Balancer: discovery.BalancerSettings{Policy: "random"}}, none)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"NewServer", errServer, "HTTP_ADDR"},
		{"NewServer deadline", errDeadline, "DEADLINE_DEFAULT"},
		{"NewAdmin", errAdmin, "ADMIN_ADDR"},
		{"NewClient rate limit", errClient, "CLIENT_RATELIMIT_RATE"},
		{"NewClient balancer", errBalancer, "BALANCER_POLICY"},
	} {
		if !errors.Is(tc.err, config.ErrInvalid) || !strings.Contains(tc.err.Error(), tc.want+": ") {
			t.Errorf("%s(bad %s) = %v, want config.ErrInvalid naming %s", tc.name, tc.want, tc.err, tc.want)
		}
	}
}

// TestAdminIsNeverBehindTheAPIPolicies: while the API's rate limit rejects a flood,
// the admin server still answers its probes, and the API port serves none of them.
func TestAdminIsNeverBehindTheAPIPolicies(t *testing.T) {
	none := observability.Instrumentation{}
	api := http.NewServeMux()
	api.HandleFunc("GET /work", func(http.ResponseWriter, *http.Request) {})
	limiter := resilience.NewRateLimiter("api", resilience.RateLimitSettings{Rate: 1, Burst: 1}, nil, none)
	apiSrv, err := gantry.NewServer(api, gantry.ServerSettings{}, none, limiter.Server())
	if err != nil {
		t.Fatal(err)
	}
	checks := health.NewRegistry(health.Settings{})
	adminSrv, err := gantry.NewAdmin(gantry.AdminSettings{}, gantry.Admin{Health: checks,
		Debug: map[string]http.Handler{"resilience": resilience.DebugHandler(limiter)}}, none)
	if err != nil {
		t.Fatal(err)
	}
	apiTS, adminTS := httptest.NewServer(apiSrv.Handler), httptest.NewServer(adminSrv.Handler)
	defer apiTS.Close()
	defer adminTS.Close()
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	rejected := 0
	for range 20 {
		if code, _ := get(apiTS.URL + "/work"); code == http.StatusTooManyRequests {
			rejected++
		}
	}
	if rejected < 18 {
		t.Fatalf("API rejected %d of 20 requests against 1/s, burst 1; want at least 18", rejected)
	}
	for _, path := range []string{"/readyz", "/livez", "/startupz", "/debug/resilience"} {
		if code, body := get(adminTS.URL + path); code != http.StatusOK {
			t.Errorf("admin GET %s during the flood = %d %s, want 200", path, code, body)
		}
		if code, _ := get(apiTS.URL + path); code != http.StatusNotFound && code != http.StatusTooManyRequests {
			t.Errorf("API GET %s = %d, want 404 (or 429): never served on the API port", path, code)
		}
	}
	if code, body := get(adminTS.URL + "/nowhere"); code != http.StatusNotFound || !strings.Contains(body, `"status":404`) {
		t.Errorf("admin GET /nowhere = %d %s, want a 404 problem", code, body)
	}
}

// TestAdminDashboard: the admin server serves a self-contained, read-only page at
// /debug/ that names the JSON sources it polls, with its assets and a CSP that allows
// its own origin only; debug names that would collide with it are refused.
func TestAdminDashboard(t *testing.T) {
	none := observability.Instrumentation{}
	limiter := resilience.NewRateLimiter("api", resilience.RateLimitSettings{Rate: 1, Burst: 1}, nil, none)
	adminSrv, err := gantry.NewAdmin(gantry.AdminSettings{}, gantry.Admin{Name: "cart", Health: health.NewRegistry(health.Settings{}),
		Debug: map[string]http.Handler{"resilience": resilience.DebugHandler(limiter)}}, none)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(adminSrv.Handler)
	defer ts.Close()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/debug/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /debug/ = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET /debug/ CSP = %q, want the page's own origin only", csp)
	}
	for _, want := range []string{`data-sources="resilience"`, `data-health="true"`, "<title>cart</title>", `src="_/dashboard.js"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /debug/ lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("GET /debug/ loads something from another origin:\n%s", body)
	}
	for path, ct := range map[string]string{"/debug/_/dashboard.js": "javascript", "/debug/_/dashboard.css": "text/css"} {
		resp, body := get(path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), ct) || len(body) < 100 {
			t.Errorf("GET %s = %d %q (%d bytes)", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	if resp, _ := get("/debug/_/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /debug/_/nothing = %d, want 404", resp.StatusCode)
	}
	for _, name := range []string{"_", "a/b", ""} {
		_, err := gantry.NewAdmin(gantry.AdminSettings{}, gantry.Admin{Debug: map[string]http.Handler{name: http.NotFoundHandler()}}, none)
		if !errors.Is(err, gantry.ErrInvalidOptions) {
			t.Errorf("NewAdmin(Debug name %q) = %v, want ErrInvalidOptions", name, err)
		}
	}
}
