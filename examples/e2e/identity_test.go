package e2e_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/examples/payment"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

// TestInternalEndpointsAnswerOnlyTheirCallers: in the shop, every route of catalog,
// payment and cart refuses callers without a certificate of the shop's CA (the
// handshake fails) and callers of the CA with an identity the route does not allow
// (403 problem+json, before the handler runs), and answers the callers it allows.
// Charges, refunds and reservations, which move money and hold stock, are checked
// against the issue's own list rather than the services' tables, and with valid
// bodies, so that a missing check would show as a 2xx.
func TestInternalEndpointsAnswerOnlyTheirCallers(t *testing.T) {
	s := runShop(t, shop.Options{})
	as := func(name string) *http.Client {
		t.Helper()
		id, err := identity.NewID("gantry.test", "default", name)
		if err != nil {
			t.Fatal(err)
		}
		src, err := s.CA.Source(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tr := identity.NewTransport(src, transport.ClientSettings{})
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	callers := map[string]*http.Client{}
	for _, name := range []string{"gateway", "cart", "catalog", "payment", "operator", "evil"} {
		callers[name] = as(name)
	}
	otherCA, err := identity.NewDevCA("gantry.test")
	if err != nil {
		t.Fatal(err)
	}
	cartID, _ := identity.NewID("gantry.test", "default", "cart")
	foreignSrc, err := otherCA.Source(cartID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreignCert, _ := foreignSrc.Certificate()
	strangers := map[string]*http.Client{
		"no certificate": {Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second},
		"a cart certificate from another CA": {Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, Certificates: []tls.Certificate{*foreignCert}}}, Timeout: 10 * time.Second},
	}

	send := func(c *http.Client, method, url, body string) (int, string, error) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "authz-"+method+strings.ReplaceAll(url, "/", "-"))
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), nil
	}

	pay := s.URLs["payment"]
	code, _, err := send(s.Operator, "GET", pay+"/payments?order_id=none", "")
	if err != nil || code != 200 {
		t.Fatalf("operator GET /payments = %d %v, want 200", code, err)
	}
	critical := []struct {
		method, url, body string
		allowed           []string
	}{
		{"POST", pay + "/payments", `{"order_id":"ord_authz","amount_cents":100,"currency":"USD"}`, []string{"cart"}},
		{"POST", pay + "/payments/pay_missing/refund", "", []string{"cart", "operator"}},
		{"POST", s.URLs["catalog"] + "/reservations", `{"order_id":"ord_authz","items":[{"product_id":"p01","quantity":1}]}`, []string{"cart"}},
		{"GET", s.URLs["catalog"] + "/inventory", "", []string{"operator"}},
	}
	for _, c := range critical {
		for name, client := range callers {
			allowed := false
			for _, a := range c.allowed {
				allowed = allowed || a == name
			}
			code, ct, err := send(client, c.method, c.url, c.body)
			if err != nil {
				t.Errorf("%s %s as %s: %v", c.method, c.url, name, err)
				continue
			}
			if allowed && code == http.StatusForbidden {
				t.Errorf("%s %s as %s = 403, want it allowed", c.method, c.url, name)
			}
			if !allowed && (code != http.StatusForbidden || ct != transport.ContentTypeProblem) {
				t.Errorf("%s %s as %s = %d %q, want 403 problem+json", c.method, c.url, name, code, ct)
			}
		}
	}

	// Every route of every internal service: strangers never get past the handshake,
	// and "evil" (a valid certificate of the CA, no rights) always gets 403.
	wildcard := regexp.MustCompile(`\{[^}]+\}`)
	for svc, table := range map[string]func() (map[string][]string, []string){
		"catalog": catalog.Callers, "payment": payment.Callers, "cart": cart.Callers,
	} {
		routes, _ := table()
		for pattern := range routes {
			method, path, _ := strings.Cut(pattern, " ")
			url := s.URLs[svc] + wildcard.ReplaceAllString(path, "x1")
			for name, c := range strangers {
				if code, _, err := send(c, method, url, "{}"); err == nil {
					t.Errorf("%s %s with %s = %d, want a failed handshake", method, url, name, code)
				}
			}
			if code, ct, err := send(callers["evil"], method, url, "{}"); err != nil || code != http.StatusForbidden || ct != transport.ContentTypeProblem {
				t.Errorf("%s %s as evil = %d %q %v, want 403 problem+json", method, url, code, ct, err)
			}
			// Plain HTTP to the TLS port is no API answer either.
			if resp, err := http.Get("http://" + strings.TrimPrefix(s.URLs[svc], "https://") + "/"); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("plain HTTP to %s = %d, want 400", svc, resp.StatusCode)
				}
			}
		}
	}

	// Denials are counted, on the service's /metrics.
	resp, err := http.Get(s.AdminURLs["payment"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	if !regexp.MustCompile(`(?m)^identity_authorization_denials_total\{[^}]*\} [1-9]`).Match(metrics) {
		t.Errorf("payment /metrics has no positive identity_authorization_denials_total:\n%s", grepLines(string(metrics), "identity"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
