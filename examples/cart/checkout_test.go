package cart_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/pgtest"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
	"github.com/gantry-go/gantry/examples/payment"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport"
)

type shopEnv struct {
	cat  *shoptest.Catalog
	pay  *shoptest.Payment
	cart *shoptest.Cart
	hc   *http.Client
	// hcUp is the cart's client to catalog and payment.
	hcUp *http.Client
	// payDown makes the payment service answer 503 while true.
	payDown atomic.Bool
	// payInFlight is how many more charges payment answers 409 in flight (Retry-After
	// 1), as it does while a killed replica's claim on the key has not expired; -1 is
	// every charge.
	payInFlight atomic.Int32
	// charges counts the POST /payments that reached payment.
	charges atomic.Int32
	// clock offset added to the cart's clock (Settings.Now: the checkout keys' expiry;
	// the cancel window is the database's clock, see ageOrders).
	offset atomic.Int64
	// databaseURL is the cart's PostgreSQL database, "" for SQLite.
	databaseURL string
}

func newShopEnv(t *testing.T, faults *shoptest.Faults) *shopEnv {
	t.Helper()
	return newShopEnvOn(t, faults, "")
}

// eachBackend runs f as the subtests "sqlite" (databaseURL "") and "postgres" (a
// database of a real PostgreSQL server of the test's own, pgtest; skipped without
// one, failed when CI=true): the cart's store tests, one suite for both repositories.
func eachBackend(t *testing.T, f func(t *testing.T, databaseURL string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "") })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.Start(t)) })
}

// newShopEnvOn is newShopEnv with the cart kept at databaseURL ("" for SQLite).
func newShopEnvOn(t *testing.T, faults *shoptest.Faults, databaseURL string) *shopEnv {
	t.Helper()
	e := &shopEnv{databaseURL: databaseURL}
	catWrap, payWrap := func(h http.Handler) http.Handler { return h }, func(h http.Handler) http.Handler { return h }
	if faults != nil {
		catWrap, payWrap = faults.WrapCatalog, faults.WrapPayment
	}
	e.cat = shoptest.StartCatalog(t, catWrap)
	e.pay = shoptest.StartPayment(t, nil, func(h http.Handler) http.Handler {
		h = payWrap(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Path == "/payments" {
				e.charges.Add(1)
				if n := e.payInFlight.Load(); n != 0 {
					if n > 0 {
						e.payInFlight.Add(-1)
					}
					w.Header().Set("Retry-After", "1")
					transport.WriteProblem(w, r, &transport.Problem{Type: payment.ProblemInFlight, Status: http.StatusConflict,
						Detail: payment.ErrInFlight.Error()})
					return
				}
			}
			if e.payDown.Load() {
				w.Header().Set("Retry-After", "2")
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	hc := shoptest.NewClient(t, shoptest.StaticResolver(t, map[string]string{"catalog": e.cat.URL, "payment": e.pay.URL}), 5*time.Second)
	e.hcUp = hc
	e.cart = shoptest.StartCart(t, shoptest.CartOptions{Client: hc,
		Settings: cart.Settings{CancelAfter: time.Minute, Now: func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }},
		Recovery: cart.RecoverySettings{MinAge: -1}, Wrap: resilience.Deadline(resilience.DeadlineSettings{}), DatabaseURL: databaseURL})
	e.hc = e.cart.Server.Client()
	return e
}

func (e *shopEnv) put(t *testing.T, cartID, product string, qty int) {
	t.Helper()
	r := do(t, e.hc, http.MethodPut, e.cart.URL+"/carts/"+cartID+"/items/"+product, `{"quantity":`+itoa(qty)+`}`)
	if r.status != http.StatusOK {
		t.Fatalf("PUT %s/%s = %d %s, want 200", cartID, product, r.status, r.body)
	}
}

func itoa(n int) string { return string(rune('0' + n%10)) }

func (e *shopEnv) checkout(t *testing.T, cartID, key string) result {
	t.Helper()
	return do(t, e.hc, http.MethodPost, e.cart.URL+"/carts/"+cartID+"/checkout", "", "Idempotency-Key", key)
}

func (e *shopEnv) order(t *testing.T, id string) cart.OrderBody {
	t.Helper()
	r := do(t, e.hc, http.MethodGet, e.cart.URL+"/orders/"+id, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /orders/%s = %d %s", id, r.status, r.body)
	}
	return decode[cart.OrderBody](t, r)
}

func (e *shopEnv) ledger(t *testing.T, orderID string) (captured, refunded, declined int) {
	t.Helper()
	ps, err := e.pay.Service.ListByOrder(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		switch p.Status {
		case payment.StatusCaptured:
			captured++
		case payment.StatusRefunded:
			refunded++
		case payment.StatusDeclined:
			declined++
		}
	}
	return
}

func (e *shopEnv) stock(t *testing.T, product string) catalog.StockLevel {
	t.Helper()
	inv, err := e.cat.Service.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range inv {
		if s.ProductID == product {
			return s
		}
	}
	t.Fatalf("no product %s in inventory", product)
	return catalog.StockLevel{}
}

func TestCheckoutPaysOnceAndReplaysTheSameOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.put(t, "c1", "p01", 2)
		e.put(t, "c1", "p04", 1)

		r := e.checkout(t, "c1", "key-1")
		if r.status != http.StatusCreated {
			t.Fatalf("checkout = %d %s, want 201", r.status, r.body)
		}
		got := decode[cart.CheckoutBody](t, r)
		if got.Status != "paid" || got.PaymentID == "" || got.TotalCents != 2*2490+650 {
			t.Fatalf("checkout = %+v, want paid with a payment id and total %d", got, 2*2490+650)
		}
		replay := e.checkout(t, "c1", "key-1")
		if replay.status != http.StatusCreated || replay.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay = %d (Idempotent-Replayed %q) %s, want 201 replayed", replay.status, replay.header.Get("Idempotent-Replayed"), replay.body)
		}
		if again := decode[cart.CheckoutBody](t, replay); again != got {
			t.Errorf("replay = %+v, want the same order %+v", again, got)
		}
		if o := e.order(t, got.OrderID); o.Status != "paid" || o.CartID != "c1" || o.PaymentID != got.PaymentID {
			t.Errorf("GET order = %+v, want paid for cart c1 with payment %s", o, got.PaymentID)
		}
		if c, _, _ := e.ledger(t, got.OrderID); c != 1 {
			t.Errorf("captured payments for the order = %d, want 1", c)
		}
		if s := e.stock(t, "p01"); s.Sold != 2 || s.Held != 0 {
			t.Errorf("p01 stock = %+v, want 2 sold, 0 held", s)
		}
		if c := decode[cartJSON](t, do(t, e.hc, http.MethodGet, e.cart.URL+"/carts/c1", "")); len(c.Items) != 0 {
			t.Errorf("cart after a paid checkout = %+v, want empty", c)
		}
		// A new key on the now empty cart is a new checkout, refused as empty.
		if r := e.checkout(t, "c1", "key-2"); r.status != http.StatusConflict {
			t.Errorf("checkout of the emptied cart = %d, want 409", r.status)
		}
		// The key belongs to cart c1.
		e.put(t, "c2", "p01", 1)
		if r := e.checkout(t, "c2", "key-1"); r.status != http.StatusUnprocessableEntity {
			t.Errorf("checkout of c2 with c1's key = %d %s, want 422", r.status, r.body)
		}
	})
}

func TestCheckoutDeclinedFailsAndReleasesStock(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.put(t, "c1", "p23", 1) // 13.13: the simulated processor declines it
		before := e.stock(t, "p23")
		r := e.checkout(t, "c1", "k")
		if r.status != http.StatusPaymentRequired || r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("checkout = %d %s, want 402 problem", r.status, r.body)
		}
		if r2 := e.checkout(t, "c1", "k"); r2.status != http.StatusPaymentRequired {
			t.Errorf("replay of a declined checkout = %d, want 402", r2.status)
		}
		orders, _ := e.cart.Store.Orders(context.Background())
		if len(orders) != 1 || orders[0].Status != cart.StatusFailed || orders[0].Failure != cart.FailureDeclined {
			t.Fatalf("orders = %+v, want one failed (declined)", orders)
		}
		if after := e.stock(t, "p23"); after != before {
			t.Errorf("p23 stock after decline = %+v, want unchanged %+v", after, before)
		}
		if c, _, d := e.ledger(t, orders[0].ID); c != 0 || d != 1 {
			t.Errorf("ledger captured/declined = %d/%d, want 0/1", c, d)
		}
	})
}

func TestCheckoutOutOfStock(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.put(t, "c1", "p22", 4) // only 3 in stock
		if r := e.checkout(t, "c1", "k"); r.status != http.StatusConflict {
			t.Fatalf("checkout = %d %s, want 409", r.status, r.body)
		}
		if s := e.stock(t, "p22"); s.Available != 3 {
			t.Errorf("p22 = %+v, want 3 available", s)
		}
	})
}

func TestCheckoutResumesAfterPaymentOutage(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.put(t, "c1", "p01", 1)
		e.payDown.Store(true)
		r := e.checkout(t, "c1", "k")
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "2" {
			t.Fatalf("checkout with payment down = %d (Retry-After %q) %s, want 503 with Retry-After 2", r.status, r.header.Get("Retry-After"), r.body)
		}
		orders, _ := e.cart.Store.Orders(context.Background())
		if len(orders) != 1 || orders[0].Status != cart.StatusPending {
			t.Fatalf("orders = %+v, want one pending", orders)
		}
		if s := e.stock(t, "p01"); s.Held != 1 {
			t.Errorf("p01 while pending = %+v, want 1 held", s)
		}
		if again := e.checkout(t, "c1", "k"); again.status != http.StatusServiceUnavailable {
			t.Errorf("retry while still down = %d, want 503", again.status)
		}
		e.payDown.Store(false)
		ok := e.checkout(t, "c1", "k")
		if ok.status != http.StatusCreated {
			t.Fatalf("retry after healing = %d %s, want 201", ok.status, ok.body)
		}
		if got := decode[cart.CheckoutBody](t, ok); got.OrderID != orders[0].ID {
			t.Errorf("retry order = %s, want the pending order %s", got.OrderID, orders[0].ID)
		}
		if n, _ := e.cart.Store.Orders(context.Background()); len(n) != 1 {
			t.Errorf("orders = %d, want 1", len(n))
		}
		if c, _, _ := e.ledger(t, orders[0].ID); c != 1 {
			t.Errorf("captured = %d, want 1", c)
		}
	})
}

func TestConcurrentCheckoutsWithOneKeyMakeOneOrderAndOneCharge(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.put(t, "c1", "p02", 1)
		var wg sync.WaitGroup
		ids := make([]string, 20)
		statuses := make([]int, 20)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.checkout(t, "c1", "same")
				statuses[i] = r.status
				if r.status == http.StatusCreated {
					ids[i] = decode[cart.CheckoutBody](t, r).OrderID
				}
			}()
		}
		wg.Wait()
		for i := range ids {
			if statuses[i] != http.StatusCreated || ids[i] != ids[0] {
				t.Fatalf("checkout %d = %d order %q, want 201 for order %q", i, statuses[i], ids[i], ids[0])
			}
		}
		if c, _, _ := e.ledger(t, ids[0]); c != 1 {
			t.Errorf("captured = %d, want 1", c)
		}
		if s := e.stock(t, "p02"); s.Sold != 1 {
			t.Errorf("p02 = %+v, want 1 sold", s)
		}
	})
}

func TestRecoveryFinishesPendingOrders(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.put(t, "c1", "p01", 1)
		e.payDown.Store(true)
		if r := e.checkout(t, "c1", "k"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("checkout = %d, want 503", r.status)
		}
		res, err := e.cart.Recoverer.Sweep(context.Background())
		if err != nil || res != (cart.SweepResult{Examined: 1, StillPending: 1}) {
			t.Fatalf("Sweep() while down = %+v, %v, want 1 examined, still pending", res, err)
		}
		e.payDown.Store(false)
		res, err = e.cart.Recoverer.Sweep(context.Background())
		if err != nil || res != (cart.SweepResult{Examined: 1, Finished: 1}) {
			t.Fatalf("Sweep() after healing = %+v, %v, want 1 finished", res, err)
		}
		orders, _ := e.cart.Store.Orders(context.Background())
		if orders[0].Status != cart.StatusPaid {
			t.Errorf("order = %+v, want paid", orders[0])
		}
		if c, _, _ := e.ledger(t, orders[0].ID); c != 1 {
			t.Errorf("captured = %d, want 1", c)
		}
	})
}

func TestRecoveryCancelsAbandonedOrdersAndRefunds(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		// The charge commits but its response is lost (connection reset), and the client
		// never comes back. After CancelAfter the recovery loop cancels the order: it finds
		// the captured payment in the ledger, refunds it and releases the stock.
		faults := shoptest.NewFaults(1, []shoptest.Fault{{Step: shoptest.StepCharge, Kind: shoptest.Reset}})
		e := newShopEnvOn(t, faults, databaseURL)
		e.put(t, "c1", "p05", 1)
		e.payDown.Store(false)
		r := e.checkout(t, "c1", "k")
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("checkout with the charge response lost = %d %s, want 503", r.status, r.body)
		}
		orders, _ := e.cart.Store.Orders(context.Background())
		if c, _, _ := e.ledger(t, orders[0].ID); c != 1 || orders[0].Step != cart.StepCharging {
			t.Fatalf("order %+v with %d captured, want step charging with 1 captured", orders[0], c)
		}
		e.payDown.Store(true) // payment down: cancelling cannot refund yet
		e.ageOrders(t, 2*time.Minute)
		if res, _ := e.cart.Recoverer.Sweep(context.Background()); res.StillPending != 1 {
			t.Fatalf("Sweep() with payment down = %+v, want still pending", res)
		}
		e.payDown.Store(false)
		if res, _ := e.cart.Recoverer.Sweep(context.Background()); res.Finished != 1 {
			t.Fatalf("Sweep() = %+v, want 1 finished", res)
		}
		o, _ := e.cart.Store.Order(context.Background(), orders[0].ID)
		if o.Status != cart.StatusCancelled {
			t.Errorf("order = %+v, want cancelled", o)
		}
		if c, ref, _ := e.ledger(t, o.ID); c != 0 || ref != 1 {
			t.Errorf("ledger captured/refunded = %d/%d, want 0/1", c, ref)
		}
		if s := e.stock(t, "p05"); s.Held != 0 || s.Sold != 0 || s.Available != s.Initial {
			t.Errorf("p05 = %+v, want all available again", s)
		}
		// The client coming back with its key learns the order was cancelled.
		if r := e.checkout(t, "c1", "k"); r.status != http.StatusConflict {
			t.Errorf("checkout of a cancelled order = %d, want 409", r.status)
		}
	})
}

func TestLostReservationIsRefunded(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		// The confirm step fails once (503), leaving the order charged; then the hold
		// disappears at catalog (released behind the cart's back). Resuming finds confirm
		// refused, refunds the captured payment and fails the order.
		faults := shoptest.NewFaults(3, []shoptest.Fault{{Step: shoptest.StepConfirm, Kind: shoptest.Unavailable}})
		e := newShopEnvOn(t, faults, databaseURL)
		e.put(t, "c1", "p06", 1)
		if r := e.checkout(t, "c1", "k"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("checkout with confirm failing = %d %s, want 503", r.status, r.body)
		}
		orders, _ := e.cart.Store.Orders(context.Background())
		o := orders[0]
		if o.Step != cart.StepCharged {
			t.Fatalf("order = %+v, want step charged", o)
		}
		if _, err := e.cat.Service.Release(context.Background(), o.ReservationID); err != nil {
			t.Fatal(err)
		}
		if r := e.checkout(t, "c1", "k"); r.status != http.StatusConflict {
			t.Fatalf("resumed checkout = %d %s, want 409 (checkout failed)", r.status, r.body)
		}
		o, _ = e.cart.Store.Order(context.Background(), o.ID)
		if o.Status != cart.StatusFailed || o.Failure != cart.FailureRejected {
			t.Errorf("order = %+v, want failed (%s)", o, cart.FailureRejected)
		}
		if c, ref, _ := e.ledger(t, o.ID); c != 0 || ref != 1 {
			t.Errorf("ledger captured/refunded = %d/%d, want 0/1", c, ref)
		}
		if s := e.stock(t, "p06"); s.Available != s.Initial {
			t.Errorf("p06 = %+v, want all available", s)
		}
	})
}

func TestCancelFindsAReservationWhoseResponseWasLost(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		// The reserve call commits at catalog but its response is lost, so the order is
		// still at step created with no reservation id. Cancelling it must still release
		// the stock held for it.
		faults := shoptest.NewFaults(4, []shoptest.Fault{{Step: shoptest.StepReserve, Kind: shoptest.Reset}})
		e := newShopEnvOn(t, faults, databaseURL)
		e.put(t, "c1", "p07", 2)
		if r := e.checkout(t, "c1", "k"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("checkout with the reserve response lost = %d %s, want 503", r.status, r.body)
		}
		if s := e.stock(t, "p07"); s.Held != 2 {
			t.Fatalf("p07 = %+v, want 2 held by the lost reservation", s)
		}
		e.ageOrders(t, 2*time.Minute)
		if res, err := e.cart.Recoverer.Sweep(context.Background()); err != nil || res.Finished != 1 {
			t.Fatalf("Sweep() = %+v, %v, want 1 finished", res, err)
		}
		orders, _ := e.cart.Store.Orders(context.Background())
		if orders[0].Status != cart.StatusCancelled {
			t.Errorf("order = %+v, want cancelled", orders[0])
		}
		if s := e.stock(t, "p07"); s.Held != 0 || s.Available != s.Initial {
			t.Errorf("p07 after cancelling = %+v, want nothing held", s)
		}
		if c, _, _ := e.ledger(t, orders[0].ID); c != 0 {
			t.Errorf("captured = %d, want 0", c)
		}
	})
}

func TestRecovererRunSweepsOnStartAndStopsOnCancel(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.put(t, "c1", "p01", 1)
		e.payDown.Store(true)
		if r := e.checkout(t, "c1", "k"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("checkout = %d, want 503", r.status)
		}
		e.payDown.Store(false)
		swept := make(chan cart.SweepResult, 1)
		r := cart.NewRecoverer(e.cart.Shop, cart.RecoverySettings{Interval: time.Hour, MinAge: -1,
			OnSweep: func(res cart.SweepResult, _ error) {
				select {
				case swept <- res:
				default:
				}
			}}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		if res := <-swept; res != (cart.SweepResult{Examined: 1, Finished: 1}) {
			t.Errorf("first sweep of Run = %+v, want the pending order finished", res)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() after cancel = %v, want nil", err)
		}
		orders, _ := e.cart.Store.Orders(context.Background())
		if orders[0].Status != cart.StatusPaid {
			t.Errorf("order = %+v, want paid", orders[0])
		}
	})
}

func TestCheckoutWaitsOutAChargeInFlight(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.put(t, "c1", "p01", 1)
		e.payInFlight.Store(1) // the first charge finds the key claimed by a killed replica
		r := e.checkout(t, "c1", "k")
		if r.status != http.StatusCreated {
			t.Fatalf("checkout with one 409 in flight = %d %s, want 201", r.status, r.body)
		}
		got := decode[cart.CheckoutBody](t, r)
		if got.Status != "paid" {
			t.Errorf("checkout status = %q, want paid", got.Status)
		}
		if n := e.charges.Load(); n != 2 {
			t.Errorf("charges sent = %d, want 2 (the 409, then the same key again)", n)
		}
		if c, rf, _ := e.ledger(t, got.OrderID); c != 1 || rf != 0 {
			t.Errorf("ledger = %d captured %d refunded, want 1 captured 0 refunded", c, rf)
		}
	})
}

func TestCheckoutInFlightBeyondTheDeadlineStaysPending(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		e.put(t, "c1", "p01", 1)
		e.payInFlight.Store(-1)
		// 1.2s left: too short to wait a Retry-After of 1s and charge again.
		r := do(t, e.hc, http.MethodPost, e.cart.URL+"/carts/c1/checkout", "", "Idempotency-Key", "k", transport.HeaderTimeout, "1200")
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
			t.Fatalf("checkout with payment in flight = %d (Retry-After %q) %s, want 503 with Retry-After 1", r.status, r.header.Get("Retry-After"), r.body)
		}
		if n := e.charges.Load(); n != 1 {
			t.Errorf("charges sent = %d, want 1 (no wait that the deadline cannot fit)", n)
		}
		orders, _ := e.cart.Store.Orders(context.Background())
		if len(orders) != 1 || orders[0].Status != cart.StatusPending {
			t.Fatalf("orders = %+v, want one pending", orders)
		}
		e.payInFlight.Store(0) // the claim expired
		ok := e.checkout(t, "c1", "k")
		if ok.status != http.StatusCreated {
			t.Fatalf("retry after the claim expired = %d %s, want 201", ok.status, ok.body)
		}
		if got := decode[cart.CheckoutBody](t, ok); got.OrderID != orders[0].ID || got.Status != "paid" {
			t.Errorf("retry = %+v, want the pending order %s paid", got, orders[0].ID)
		}
		if c, _, _ := e.ledger(t, orders[0].ID); c != 1 {
			t.Errorf("captured = %d, want 1", c)
		}
	})
}
