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
