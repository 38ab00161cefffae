package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/resilience"
)

// browser starts headless Chromium (Debian's chromium) for the test and stops it at
// the end. Without one the test is skipped, or fails when CI=true.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no chromium on PATH (CI=true: scripts/test.sh installs Debian's chromium)")
		}
		t.Skip("SKIPPED: no chromium on PATH (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// paymentBreaker reads the cart's breaker to payment from the cart's admin JSON.
func paymentBreaker(t *testing.T, s *shop.Shop) (name, state string) {
	t.Helper()
	resp, err := http.Get(s.AdminURLs["cart"] + "/debug/resilience")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap struct {
		Breakers []struct{ Name, State string } `json:"breakers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	for _, b := range snap.Breakers {
		if b.Name == "cart/payment" {
			return b.Name, b.State
		}
	}
	return "", ""
}

// TestGatewayDashboardShowsTheShop reads the gateway's admin server as its dashboard
// page does: a section per other service, each fetched by the gateway from that
// service's admin server, with its sources and readiness and no error.
func TestGatewayDashboardShowsTheShop(t *testing.T) {
	s := runShop(t, shop.Options{})
	page, err := http.Get(s.AdminURLs["gateway"] + "/debug/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(body), `data-peers="cart,catalog,payment"`) {
		t.Errorf("the gateway's GET /debug/ does not name cart, catalog and payment in data-peers:\n%s", body)
	}
	for _, svc := range []string{"catalog", "cart", "payment"} {
		resp, err := http.Get(s.AdminURLs["gateway"] + "/debug/_/peers/" + svc)
		if err != nil {
			t.Fatal(err)
		}
		var snap struct {
			Title  string                     `json:"title"`
			Data   map[string]json.RawMessage `json:"data"`
			Readyz json.RawMessage            `json:"readyz"`
			Errors map[string]string          `json:"errors"`
			Error  string                     `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&snap)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("gateway admin GET /debug/_/peers/%s = %d (%v), want 200 and JSON", svc, resp.StatusCode, err)
		}
		if snap.Title != svc || snap.Error != "" || len(snap.Errors) != 0 || snap.Data["resilience"] == nil || snap.Readyz == nil {
			t.Errorf("gateway's section of %s: title %q, sources %d, readyz %s, error %q, errors %v; want its resilience and readiness, no errors",
				svc, snap.Title, len(snap.Data), snap.Readyz, snap.Error, snap.Errors)
		}
	}
}

// TestDashboardShowsTheBreakerLive drives a real browser at the gateway's admin
// dashboard, which shows the whole shop: the payment service's own section (its
// shedder and readiness, read by the gateway from payment's admin server), and, when
// payment starts failing, the cart's payment breaker turning open in the cart's
// section within 2s of opening, and closed again within 2s of closing after payment
// recovers. The browser only ever talks to the gateway's admin port. The page's
// screenshot is saved (DASHBOARD_SCREENSHOT names the file; the README's picture
// comes from it).
func TestDashboardShowsTheBreakerLive(t *testing.T) {
	ctx := browser(t)
	s := runShop(t, shop.Options{RateLimit: resilience.RateLimitSettings{KeyRate: 10000, KeyBurst: 10000}})
	tok, err := s.Token(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	gatewayAdmin := s.AdminURLs["gateway"]
	var mu sync.Mutex
	var requested []string // every URL the page loads
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	})
	// payment's own section, with its shedder and readiness.
	paymentSection := `section#peer-payment[data-ticks] tr[data-shedder="payment"]`
	openCtx, cancelOpen := context.WithTimeout(ctx, 30*time.Second)
	defer cancelOpen()
	if err := chromedp.Run(openCtx, network.Enable(), chromedp.Navigate(gatewayAdmin+"/debug/"),
		chromedp.WaitVisible(`body[data-ticks]`, chromedp.ByQuery),
		chromedp.WaitVisible(paymentSection, chromedp.ByQuery),
		chromedp.WaitVisible(`section#peer-payment .status-pass`, chromedp.ByQuery)); err != nil {
		t.Fatalf("open the gateway's dashboard and see payment's section: %v", err)
	}
	n := 0
	checkout := func() {
		n++
		cart := fmt.Sprintf("dash%d", n)
		if a := call(t, s, tok, "PUT", "/api/carts/"+cart+"/items/p01", `{"quantity":1}`); a.status != http.StatusOK {
			t.Fatalf("PUT item = %d %s", a.status, a.body)
		}
		_ = call(t, s, tok, "POST", "/api/carts/"+cart+"/checkout", "", "Idempotency-Key", cart)
	}
	// waitPage waits until the page shows the payment breaker in state, within d.
	waitPage := func(state string, d time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		sel := `section#peer-cart tr[data-breaker="cart/payment"][data-state="` + state + `"]`
		if err := chromedp.Run(wctx, chromedp.WaitReady(sel, chromedp.ByQuery)); err != nil {
			t.Fatalf("the dashboard did not show the payment breaker %s within %v: %v", state, d, err)
		}
		return time.Since(start)
	}

	s.Processor.SetFailing(true)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, st := paymentBreaker(t, s); st == "open" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cart's payment breaker did not open within 30s of payment failing")
		}
		checkout()
		time.Sleep(20 * time.Millisecond)
	}
	opened := waitPage("open", 2*time.Second)
	var shot []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&shot, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := os.Getenv("DASHBOARD_SCREENSHOT")
	if path == "" {
		path = t.TempDir() + "/dashboard.png"
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}

	s.Processor.SetFailing(false)
	deadline = time.Now().Add(30 * time.Second)
	for {
		if _, st := paymentBreaker(t, s); st == "closed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cart's payment breaker did not close within 30s of payment recovering")
		}
		checkout()
		time.Sleep(200 * time.Millisecond)
	}
	closed := waitPage("closed", 2*time.Second)
	mu.Lock()
	for _, u := range requested {
		if !strings.HasPrefix(u, gatewayAdmin+"/") {
			t.Errorf("the gateway's dashboard loaded %s, want the gateway's admin port only", u)
		}
	}
	if len(requested) == 0 {
		t.Error("the browser reported no request of the page")
	}
	mu.Unlock()
	t.Logf("dashboard: payment breaker shown open %v and closed %v after the admin JSON said so; screenshot %s (%d bytes)",
		opened.Round(time.Millisecond), closed.Round(time.Millisecond), path, len(shot))
}
