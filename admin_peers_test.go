package gantry_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/observability/health"
	"github.com/gantry-go/gantry/resilience"
)

// peerSnapshot is the JSON of GET /debug/_/peers/{name}.
type peerSnapshot struct {
	Name    string                     `json:"name"`
	Title   string                     `json:"title"`
	Sources []string                   `json:"sources"`
	Data    map[string]json.RawMessage `json:"data"`
	Readyz  json.RawMessage            `json:"readyz"`
	Errors  map[string]string          `json:"errors"`
	Error   string                     `json:"error"`
}

// TestAdminDashboardShowsPeers runs a "gateway" admin server whose dashboard lists four
// peers on loopback: a payment admin server with an open breaker, one that has stopped
// (connection refused), one that hangs and one without a dashboard. The gateway's
// page names them; each peer's section is fetched by the gateway, within
// ADMIN_DASHBOARD_PEER_TIMEOUT, and is a 200 whatever the peer did: the breaker's state
// for payment, the reason for the others.
func TestAdminDashboardShowsPeers(t *testing.T) {
	none := observability.Instrumentation{}
	breaker := resilience.NewBreaker("payment/processor", resilience.BreakerSettings{ConsecutiveFailures: 1}, none)
	if err := breaker.Do(func() error { return errors.New("declined") }); err == nil {
		t.Fatal("the breaker's call did not fail")
	}
	// A check that has not run yet: payment is not ready, /readyz is a 503 with JSON.
	notRun := health.Check{Name: "db", Func: func(context.Context) error { return nil }}
	paySrv, err := gantry.NewAdmin(gantry.AdminSettings{}, gantry.Admin{Name: "payment", Health: health.NewRegistry(health.Settings{}, notRun),
		Debug: map[string]http.Handler{"resilience": resilience.DebugHandler(breaker)}}, none)
	if err != nil {
		t.Fatal(err)
	}
	payment := httptest.NewServer(paySrv.Handler)
	defer payment.Close()
	bareSrv, err := gantry.NewAdmin(gantry.AdminSettings{}, gantry.Admin{Name: "bare"}, none)
	if err != nil {
		t.Fatal(err)
	}
	bare := httptest.NewServer(bareSrv.Handler)
	defer bare.Close()
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hung.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopped := "http://" + ln.Addr().String()
	ln.Close()

	env := map[string]string{
		"ADMIN_DASHBOARD_PEERS":        "payment=" + payment.URL + ",stopped=" + stopped + ",hung=" + hung.URL + "/,bare=" + bare.URL,
		"ADMIN_DASHBOARD_PEER_TIMEOUT": "300ms",
	}
	s, err := config.Load[gantry.AdminSettings](config.WithEnvironment(env))
	if err != nil {
		t.Fatalf("Load(%v) = %v", env, err)
	}
	gwSrv, err := gantry.NewAdmin(s, gantry.Admin{Name: "gateway"}, none)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(gwSrv.Handler)
	defer gw.Close()
	defer gwSrv.Shutdown(t.Context()) // closes the peer client's idle connections

	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(gw.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, page := get("/debug/"); code != http.StatusOK || !strings.Contains(string(page), `data-peers="bare,hung,payment,stopped"`) {
		t.Errorf("GET /debug/ = %d, want 200 naming the peers in data-peers:\n%s", code, page)
	}
	peer := func(name string) (peerSnapshot, time.Duration) {
		t.Helper()
		start := time.Now()
		code, body := get("/debug/_/peers/" + name)
		took := time.Since(start)
		var snap peerSnapshot
		if err := json.Unmarshal(body, &snap); code != http.StatusOK || err != nil {
			t.Fatalf("GET /debug/_/peers/%s = %d %s (%v), want 200 and JSON", name, code, body, err)
		}
		return snap, took
	}

	pay, _ := peer("payment")
	var res struct {
		Breakers []struct{ Name, State string } `json:"breakers"`
	}
	if err := json.Unmarshal(pay.Data["resilience"], &res); err != nil || len(res.Breakers) != 1 ||
		res.Breakers[0].Name != "payment/processor" || res.Breakers[0].State != "open" {
		t.Errorf("payment peer resilience = %s (%v), want the open breaker payment/processor", pay.Data["resilience"], err)
	}
	var ready struct {
		Status string
		Checks []struct{ Name string }
	}
	if err := json.Unmarshal(pay.Readyz, &ready); err != nil || ready.Status != "fail" || len(ready.Checks) != 1 || ready.Checks[0].Name != "db" {
		t.Errorf("payment peer readyz = %s (%v), want status fail with the check db (the 503's JSON)", pay.Readyz, err)
	}
	if pay.Title != "payment" || len(pay.Sources) != 1 || pay.Error != "" || len(pay.Errors) != 0 {
		t.Errorf("payment peer: title %q, sources %v, error %q, errors %v; want payment, [resilience], no errors", pay.Title, pay.Sources, pay.Error, pay.Errors)
	}

	for _, tc := range []struct{ name, want string }{
		{"stopped", "connection refused"},
		{"hung", "no answer within 300ms"},
		{"bare", "404 Not Found"},
	} {
		snap, took := peer(tc.name)
		if !strings.Contains(snap.Error, tc.want) || snap.Data != nil {
			t.Errorf("peer %s: error %q, data %s; want an error with %q and no data", tc.name, snap.Error, snap.Data, tc.want)
		}
		if took > 2*time.Second {
			t.Errorf("GET /debug/_/peers/%s took %v, want about ADMIN_DASHBOARD_PEER_TIMEOUT (300ms) at most", tc.name, took)
		}
	}
	if code, _ := get("/debug/_/peers/nobody"); code != http.StatusNotFound {
		t.Errorf("GET /debug/_/peers/nobody = %d, want 404", code)
	}
}

func TestAdminDashboardPeerSettings(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string // the bad variables
	}{
		{map[string]string{"ADMIN_DASHBOARD_PEERS": "catalog=http://catalog:9090,cart=https://cart:9090/"}, nil},
		{map[string]string{"ADMIN_DASHBOARD_PEERS": "catalog=catalog:9090"}, []string{"ADMIN_DASHBOARD_PEERS"}},
		{map[string]string{"ADMIN_DASHBOARD_PEERS": "a/b=http://catalog:9090"}, []string{"ADMIN_DASHBOARD_PEERS"}},
		{map[string]string{"ADMIN_DASHBOARD_PEERS": "cart=http://cart:9090?x=1"}, []string{"ADMIN_DASHBOARD_PEERS"}},
		{map[string]string{"ADMIN_DASHBOARD_PEER_TIMEOUT": "-1s", "ADMIN_ADDR": "9090"}, []string{"ADMIN_ADDR", "ADMIN_DASHBOARD_PEER_TIMEOUT"}},
	}
	for _, tt := range tests {
		_, err := config.Load[gantry.AdminSettings](config.WithEnvironment(tt.env))
		var got []string
		var cerr *config.Error
		if errors.As(err, &cerr) {
			got = cerr.Vars()
		} else if err != nil {
			t.Fatalf("Load(%v) = %v, want nil or a *config.Error", tt.env, err)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("Load(%v) bad variables = %v, want %v (%v)", tt.env, got, tt.want, err)
		}
	}
}
