package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/resilience"
)

// tour walks a customer through the shop over HTTP, through the gateway, and checks
// each step's outcome. Every number it prints was observed during the run.
type tour struct {
	s   *shop.Shop
	out io.Writer
	hc  *http.Client
	gw  string
	id  string
	// token is the bearer token sent to the gateway: alice's, from the demo
	// identity provider ("" when the shop authenticates no one).
	token string
}

func newTour(s *shop.Shop, out io.Writer) *tour {
	return &tour{s: s, out: out, hc: &http.Client{Timeout: 15 * time.Second}, gw: s.URLs["gateway"],
		id: time.Now().UTC().Format("150405")}
}

type reply struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

func (t *tour) call(ctx context.Context, method, url, body, key string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if t.token != "" && strings.HasPrefix(url, t.gw) {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	hc := t.hc
	if !strings.HasPrefix(url, t.gw) && t.s.Operator != nil {
		hc = t.s.Operator // an internal service: mTLS, as the operator
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b, elapsed: time.Since(start)}, err
}

// expect calls and fails unless the status is want, decoding the body into out.
func (t *tour) expect(ctx context.Context, want int, method, url, body, key string, out any) (reply, error) {
	r, err := t.call(ctx, method, url, body, key)
	if err != nil {
		return r, err
	}
	if r.status != want {
		return r, fmt.Errorf("%s %s answered %d, want %d: %s", method, url, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			return r, fmt.Errorf("%s %s: decode %s: %w", method, url, r.body, err)
		}
	}
	return r, nil
}

func (t *tour) say(format string, args ...any) { fmt.Fprintf(t.out, format+"\n", args...) }

type product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int64  `json:"stock"`
}

type checkout struct {
	OrderID    string `json:"order_id"`
	Status     string `json:"status"`
	PaymentID  string `json:"payment_id"`
	TotalCents int64  `json:"total_cents"`
}

func money(c int64) string { return fmt.Sprintf("$%d.%02d", c/100, c%100) }

func (t *tour) run(ctx context.Context) error {
	t.say("\n== 1. Browse")
	var products []product
	if _, err := t.expect(ctx, 200, "GET", t.gw+"/api/products", "", "", &products); err != nil {
		return err
	}
	if len(products) < 20 {
		return fmt.Errorf("catalog lists %d products, want at least 20", len(products))
	}
	byID := map[string]product{}
	for _, p := range products {
		byID[p.ID] = p
	}
	beans, mug := byID["p01"], byID["p08"]
	t.say("GET /api/products: %d products, e.g. %s at %s (%d in stock) and %s at %s.",
		len(products), beans.Name, money(beans.PriceCents), beans.Stock, mug.Name, money(mug.PriceCents))

	cartURL := t.gw + "/api/carts/tour-" + t.id
	if t.s.IdP != nil {
		t.say("\n== 2. Log in")
		r, err := t.expect(ctx, http.StatusUnauthorized, "PUT", cartURL+"/items/p01", `{"quantity":2}`, "", nil)
		if err != nil {
			return err
		}
		if t.token, err = t.s.Token(ctx, "alice"); err != nil {
			return err
		}
		t.say("Browsing needs no login; a cart does: without a token, PUT answers 401 with WWW-Authenticate: %s.", r.header.Get("WWW-Authenticate"))
		t.say("The demo identity provider (OIDC discovery and JWKS at %s) issues alice a token; the gateway verifies it", t.s.IdP.Issuer())
		t.say("and tells the cart, over mTLS, whose cart it is. Her carts and orders are hers alone.")
	}

	t.say("\n== 3. Fill a cart")
	if _, err := t.expect(ctx, 200, "PUT", cartURL+"/items/p01", `{"quantity":2}`, "", nil); err != nil {
		return err
	}
	var c struct {
		TotalCents int64 `json:"total_cents"`
	}
	if _, err := t.expect(ctx, 200, "PUT", cartURL+"/items/p08", `{"quantity":1}`, "", &c); err != nil {
		return err
	}
	want := 2*beans.PriceCents + mug.PriceCents
	if c.TotalCents != want {
		return fmt.Errorf("cart total %s, want %s", money(c.TotalCents), money(want))
	}
	t.say("PUT 2 x %s and 1 x %s: the cart, priced by catalog, totals %s.", beans.Name, mug.Name, money(c.TotalCents))

	t.say("\n== 4. Check out")
	key := "tour-" + t.id + "-checkout"
	var order checkout
	r, err := t.expect(ctx, 201, "POST", cartURL+"/checkout", "", key, &order)
	if err != nil {
		return err
	}
	var after product
	if _, err := t.expect(ctx, 200, "GET", t.gw+"/api/products/p01", "", "", &after); err != nil {
		return err
	}
	if order.Status != "paid" || after.Stock != beans.Stock-2 {
		return fmt.Errorf("checkout = %+v and stock %d, want paid and stock %d", order, after.Stock, beans.Stock-2)
	}
	t.say("POST /checkout with Idempotency-Key %q: 201 in %v. Order %s is %s, payment %s, %s.",
		key, r.elapsed.Round(time.Millisecond), order.OrderID, order.Status, order.PaymentID, money(order.TotalCents))
	t.say("The saga reserved stock at catalog, charged at payment, then confirmed: %s stock went %d -> %d.",
		beans.Name, beans.Stock, after.Stock)

	t.say("\n== 5. Replay the same checkout (a client retry after a lost response)")
	var replay checkout
	r, err = t.expect(ctx, 201, "POST", cartURL+"/checkout", "", key, &replay)
	if err != nil {
		return err
	}
	var ledger []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	ledgerURL, how := t.s.URLs["payment"]+"/payments?order_id="+order.OrderID, "read directly, over mTLS as the operator"
	if t.s.IdP != nil {
		// The ledger is an operator's route at the gateway: alice's token is refused.
		ledgerURL, how = t.gw+"/api/payments?order_id="+order.OrderID, "read through the gateway with the operator's token; alice's gets 403"
		if _, err := t.expect(ctx, http.StatusForbidden, "GET", ledgerURL, "", "", nil); err != nil {
			return err
		}
		op, err := t.s.Token(ctx, "operator")
		if err != nil {
			return err
		}
		alice := t.token
		t.token = op
		_, err = t.expect(ctx, 200, "GET", ledgerURL, "", "", &ledger)
		t.token = alice
		if err != nil {
			return err
		}
	} else if _, err := t.expect(ctx, 200, "GET", ledgerURL, "", "", &ledger); err != nil {
		return err
	}
	if replay != order || r.header.Get("Idempotent-Replayed") != "true" || len(ledger) != 1 {
		return fmt.Errorf("replay = %+v (replayed %q), ledger %d payments; want the same order, replayed, 1 payment",
			replay, r.header.Get("Idempotent-Replayed"), len(ledger))
	}
	t.say("Same key again: 201 with Idempotent-Replayed: true, the same order %s. Payment's ledger (%s) holds %d payment for it (%s).",
		replay.OrderID, how, len(ledger), ledger[0].Status)
	if t.s.IdP != nil {
		bob, err := t.s.Token(ctx, "bob")
		if err != nil {
			return err
		}
		alice := t.token
		t.token = bob
		rc, err := t.expect(ctx, http.StatusNotFound, "GET", cartURL, "", "", nil)
		if err == nil {
			_, err = t.expect(ctx, http.StatusNotFound, "GET", t.gw+"/api/orders/"+order.OrderID, "", "", nil)
		}
		t.token = alice
		if err != nil {
			return err
		}
		t.say("Bob, logged in too, asks for alice's cart and order: %d and 404, as for ones that do not exist.", rc.status)
	}

	return t.flaky(ctx)
}

func (t *tour) breaker(name string) string {
	var snap resilience.Snapshot
	t.s.CartClient.Inspect(&snap)
	t.s.GatewayClient.Inspect(&snap)
	for _, b := range snap.Breakers {
		if b.Name == name {
			return b.State
		}
	}
	return "closed"
}

// flaky makes payment fail, shows cart's breaker to payment opening and checkouts
// failing fast, heals payment and shows the breaker closing and the pending orders
// finishing with one charge each.
func (t *tour) flaky(ctx context.Context) error {
	const payBreaker, edgeBreaker = "cart/payment", "gateway/cart/checkout"
	t.say("\n== 6. Payment's card processor starts failing")
	t.s.Processor.SetFailing(true)
	type attempt struct {
		key     string
		status  int
		elapsed time.Duration
		state   string
		edge    string
		retry   string
	}
	var attempts []attempt
	openedAt := -1
	for i := 0; i < 12 && (openedAt < 0 || i < openedAt+4); i++ {
		cartURL := fmt.Sprintf("%s/api/carts/tour-%s-f%d", t.gw, t.id, i)
		if _, err := t.expect(ctx, 200, "PUT", cartURL+"/items/p04", `{"quantity":1}`, "", nil); err != nil {
			return err
		}
		key := fmt.Sprintf("tour-%s-f%d", t.id, i)
		r, err := t.call(ctx, "POST", cartURL+"/checkout", "", key)
		if err != nil {
			return err
		}
		a := attempt{key: key, status: r.status, elapsed: r.elapsed, state: t.breaker(payBreaker), edge: t.breaker(edgeBreaker),
			retry: r.header.Get("Retry-After")}
		attempts = append(attempts, a)
		t.say("  checkout %2d: %d in %8v, Retry-After %s; breakers: cart->payment %s, gateway->cart checkout %s", i+1, a.status,
			a.elapsed.Round(100*time.Microsecond), a.retry, a.state, a.edge)
		if a.status != http.StatusServiceUnavailable || a.retry == "" {
			return fmt.Errorf("checkout while payment fails answered %d (Retry-After %q), want 503 with Retry-After", a.status, a.retry)
		}
		if (a.state == "open" || a.edge == "open") && openedAt < 0 {
			openedAt = i
		}
	}
	if openedAt < 0 {
		return fmt.Errorf("cart's breaker to payment never opened in %d failing checkouts", len(attempts))
	}
	slow, fast := median(attempts[:openedAt+1], func(a attempt) time.Duration { return a.elapsed }),
		median(attempts[openedAt+1:], func(a attempt) time.Duration { return a.elapsed })
	if fast >= slow {
		return fmt.Errorf("failures after the breaker opened took %v (median), not faster than before (%v)", fast, slow)
	}
	t.say("A breaker opened after checkout %d. Before, a failing checkout took %v (median): cart retried payment within its budget.",
		openedAt+1, slow.Round(100*time.Microsecond))
	t.say("Once open, checkouts failed fast in %v (median) with 503 + Retry-After, without waiting on payment.", fast.Round(100*time.Microsecond))
	t.say("Cart's breaker guards payment; the gateway's per-route breaker guards cart's checkout route only, so browsing and carts kept working.")
	t.say("Each of these orders is pending: its stock is held and a retry with the same key resumes it.")

	t.say("\n== 7. Payment recovers")
	t.s.Processor.SetFailing(false)
	deadline := time.Now().Add(15 * time.Second)
	start := time.Now()
	var paid int
	for i, a := range attempts {
		cartURL := fmt.Sprintf("%s/api/carts/tour-%s-f%d", t.gw, t.id, i)
		for {
			var o checkout
			r, err := t.call(ctx, "POST", cartURL+"/checkout", "", a.key)
			if err != nil {
				return err
			}
			if r.status == http.StatusCreated {
				if err := json.Unmarshal(r.body, &o); err != nil || o.Status != "paid" {
					return fmt.Errorf("resumed checkout %s: %s", a.key, r.body)
				}
				paid++
				break
			}
			if r.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
				return fmt.Errorf("retrying checkout %s after healing: %d %s", a.key, r.status, r.body)
			}
			select { // the breaker is still open: wait as told
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	for _, b := range []string{payBreaker, edgeBreaker} {
		if st := t.breaker(b); st != "closed" {
			return fmt.Errorf("breaker %s is %s after recovery, want closed", b, st)
		}
	}
	orders, err := t.s.CartStore.Orders(ctx)
	if err != nil {
		return err
	}
	charges := 0
	for _, o := range orders {
		ps, err := t.s.Payment.ListByOrder(ctx, o.ID)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.Status == "captured" {
				charges++
			}
		}
		if o.Status != "paid" {
			return fmt.Errorf("order %s is %s after the tour, want paid", o.ID, o.Status)
		}
	}
	if charges != len(orders) {
		return fmt.Errorf("%d captured payments for %d orders, want one each", charges, len(orders))
	}
	t.say("Retrying the %d pending checkouts with their own keys: after the open period the breakers let probes through,", len(attempts))
	t.say("the probes succeeded and both closed again (%v after healing). All %d resumed orders are paid.", time.Since(start).Round(10*time.Millisecond), paid)
	t.say("\nIn all: %d orders, %d captured payments, no double charge. Breakers: cart->payment %s, gateway->cart checkout %s.",
		len(orders), charges, t.breaker(payBreaker), t.breaker(edgeBreaker))
	t.say("See %s/debug/resilience and %s/metrics for the counters behind this story.", t.s.AdminURLs["cart"], t.s.AdminURLs["cart"])
	return nil
}

func median[T any](xs []T, f func(T) time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		ds[i] = f(x)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}
