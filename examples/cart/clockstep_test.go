package cart_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
	"github.com/gantry-go/gantry/examples/payment"
	"github.com/gantry-go/gantry/resilience"
)

// committed is an acquirer whose authorization, once sent, completes whatever the
// caller does (a slow network call the service cannot take back): the simulated
// processor behind it, without the request's cancellation. Refunds are quick.
type committed struct{ *payment.SimulatedProcessor }

func (c committed) Authorize(ctx context.Context, key string, req payment.ChargeRequest) (payment.Decision, error) {
	return c.SimulatedProcessor.Authorize(context.WithoutCancel(ctx), key, req)
}

func (c committed) Refund(context.Context, payment.Payment) error { return nil }

// TestClockStepMidChargeNeverCapturesOnACancelledOrder: the cart gives up waiting for
// a slow charge (its attempt times out), the charge is still being decided at payment,
// and the order's cancel window passes (on the database's clock, where it is
// measured) while the cart's own clock steps an hour forward. The recovery loop must
// not cancel the order while the charge is in flight (it would capture on a
// cancelled order): compensation settles the charge by its key first, and waits while
// it is in flight; once the charge has captured, cancelling refunds it. At no point
// is a cancelled order left with money taken.
func TestClockStepMidChargeNeverCapturesOnACancelledOrder(t *testing.T) {
	cat := shoptest.StartCatalog(t, nil)
	proc := committed{payment.NewSimulatedProcessor(payment.ProcessorSettings{Latency: 1500 * time.Millisecond}, nil)}
	pay := shoptest.StartPayment(t, proc, nil)
	var offset atomic.Int64
	hc := shoptest.NewClient(t, shoptest.StaticResolver(t, map[string]string{"catalog": cat.URL, "payment": pay.URL}), 300*time.Millisecond)
	c := shoptest.StartCart(t, shoptest.CartOptions{Client: hc,
		Settings: cart.Settings{CancelAfter: time.Minute, Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }},
		Recovery: cart.RecoverySettings{MinAge: -1}, Wrap: resilience.Deadline(resilience.DeadlineSettings{})})
	hcCart := c.Server.Client()
	ctx := context.Background()

	if r := do(t, hcCart, http.MethodPut, c.URL+"/carts/c1/items/p05", `{"quantity":1}`); r.status != http.StatusOK {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	if r := do(t, hcCart, http.MethodPost, c.URL+"/carts/c1/checkout", "", "Idempotency-Key", "k"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("checkout with the charge slower than the cart waits = %d %s, want 503", r.status, r.body)
	}
	orders, _ := c.Store.Orders(ctx)
	if len(orders) != 1 || orders[0].Step != cart.StepCharging {
		t.Fatalf("orders = %+v, want one at step charging", orders)
	}
	id := orders[0].ID
	captured := func() (capt, refunded int) {
		ps, err := pay.Service.ListByOrder(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			switch p.Status {
			case payment.StatusCaptured:
				capt++
			case payment.StatusRefunded:
				refunded++
			}
		}
		return
	}

	offset.Store(int64(time.Hour))                // the cart's clock steps forward by an hour mid-charge
	ageOrders(t, "", c.SQLitePath, 2*time.Minute) // and the order is past its window on the database's clock
	if res, _ := c.Recoverer.Sweep(ctx); res.StillPending != 1 {
		t.Errorf("Sweep while the charge is in flight = %+v, want the order left pending", res)
	}
	if o, _ := c.Store.Order(ctx, id); o.Status == cart.StatusCancelled {
		t.Fatalf("order cancelled while its charge was still in flight at payment")
	}
	deadline := time.Now().Add(10 * time.Second)
	for { // the acquirer decides; payment records the capture
		if capt, _ := captured(); capt == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow charge never captured")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, _ := c.Recoverer.Sweep(ctx); res.Finished != 1 {
		t.Errorf("Sweep after the charge captured = %+v, want the order finished", res)
	}
	o, _ := c.Store.Order(ctx, id)
	capt, refunded := captured()
	if o.Status != cart.StatusCancelled || capt != 0 || refunded != 1 {
		t.Errorf("order %s %s with %d captured, %d refunded; want cancelled with its charge refunded", o.Status, o.Failure, capt, refunded)
	}
	if proc.Authorized() != 1 {
		t.Errorf("acquirer authorizations = %d, want 1", proc.Authorized())
	}
}
