package cart_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// ageOrders moves every order of the cart's database d into the past on the
// database's clock (created_at and updated_at), as if d had gone by: the cancel
// window is measured there, not on a replica's clock. databaseURL is the cart's
// PostgreSQL database, or "" for the SQLite file at sqlitePath.
func ageOrders(t *testing.T, databaseURL, sqlitePath string, d time.Duration) {
	t.Helper()
	if databaseURL != "" {
		pool, err := pgxpool.New(context.Background(), databaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if _, err := pool.Exec(context.Background(), `UPDATE orders SET created_at = created_at - $1, updated_at = updated_at - $1`, d.Milliseconds()); err != nil {
			t.Fatalf("age the orders by %v: %v", d, err)
		}
		return
	}
	db, err := sqlitedb.Open(context.Background(), sqlitePath, sqlitedb.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `UPDATE orders SET created_at = created_at - ?1, updated_at = updated_at - ?1`, d.Milliseconds()); err != nil {
		t.Fatalf("age the orders by %v: %v", d, err)
	}
}

// ageOrders ages e's cart orders by d on its database's clock (see ageOrders).
func (e *shopEnv) ageOrders(t *testing.T, d time.Duration) {
	t.Helper()
	ageOrders(t, e.databaseURL, e.cart.SQLitePath, d)
}

// skewedReplica is another cart replica on e's database whose clock is skew off:
// on PostgreSQL a store (pools) of its own, on SQLite the one store of the file (one
// cart process per SQLite file) under a Shop with its own clock. It returns the
// replica's recovery loop.
func (e *shopEnv) skewedReplica(t *testing.T, skew time.Duration) *cart.Recoverer {
	t.Helper()
	store := e.cart.Store
	if e.databaseURL != "" {
		be, err := cart.OpenStore(context.Background(), e.databaseURL, "", sqlitedb.Settings{}, func() time.Time { return time.Now().Add(skew) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = be.Close() })
		store = be.Repository
	}
	shop := cart.NewShop(store, cart.NewCatalogClient(e.hcUp, "http://catalog"), cart.NewPaymentClient(e.hcUp, "http://payment"),
		cart.Settings{CancelAfter: time.Minute, Now: func() time.Time { return time.Now().Add(skew) }})
	return cart.NewRecoverer(shop, cart.RecoverySettings{MinAge: -1}, nil)
}

// TestSkewedReplicaKeepsTheCancelWindow: the cancel window (CancelAfter, a minute
// here) is measured on the database's clock. A replica whose clock is an hour ahead
// finds another replica's order pending for a moment and finishes it (paid), never
// cancels it; a replica an hour behind finds an order pending for two minutes on the
// database's clock and cancels it.
func TestSkewedReplicaKeepsTheCancelWindow(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		e := newShopEnvOn(t, nil, databaseURL)
		ctx := context.Background()
		e.put(t, "fresh", "p03", 1)
		e.payDown.Store(true) // the order is left pending at the charge
		if r := e.checkout(t, "fresh", "k-fresh"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("checkout with payment down = %d %s, want 503", r.status, r.body)
		}
		e.payDown.Store(false)
		ahead := e.skewedReplica(t, time.Hour)
		if res, err := ahead.Sweep(ctx); err != nil || res != (cart.SweepResult{Examined: 1, Finished: 1}) {
			t.Errorf("Sweep() on the replica an hour ahead = %+v, %v, want 1 examined, 1 finished", res, err)
		}
		orders, _ := e.cart.Store.Orders(ctx)
		if len(orders) != 1 || orders[0].Status != cart.StatusPaid {
			t.Fatalf("orders after the ahead replica's sweep = %+v, want the fresh order paid, not cancelled", orders)
		}
		if c, ref, _ := e.ledger(t, orders[0].ID); c != 1 || ref != 0 {
			t.Errorf("ledger captured/refunded = %d/%d, want 1/0", c, ref)
		}

		e.put(t, "old", "p03", 1)
		e.payDown.Store(true)
		if r := e.checkout(t, "old", "k-old"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("checkout with payment down = %d %s, want 503", r.status, r.body)
		}
		e.payDown.Store(false)
		e.ageOrders(t, 2*time.Minute) // pending two minutes, on the database's clock
		behind := e.skewedReplica(t, -time.Hour)
		if res, err := behind.Sweep(ctx); err != nil || res != (cart.SweepResult{Examined: 1, Finished: 1}) {
			t.Errorf("Sweep() on the replica an hour behind = %+v, %v, want 1 examined, 1 finished", res, err)
		}
		orders, _ = e.cart.Store.Orders(ctx)
		var old cart.Order
		for _, o := range orders {
			if o.CartID == "old" {
				old = o
			}
		}
		if old.Status != cart.StatusCancelled {
			t.Errorf("the order pending past the window = %s (%s), want cancelled", old.Status, old.Failure)
		}
		if c, _, _ := e.ledger(t, old.ID); c != 0 {
			t.Errorf("captured for the cancelled order = %d, want 0", c)
		}
	})
}

// TestOrdersAreStampedOnTheDatabasesClock: a store whose own clock is an hour behind
// still writes an order's times on the database's clock, so PendingOrders sees it
// fresh (not overdue, and younger than a MinAge of a minute) until it has aged on
// the database's clock.
func TestOrdersAreStampedOnTheDatabasesClock(t *testing.T) {
	eachBackend(t, func(t *testing.T, databaseURL string) {
		ctx := context.Background()
		path := ""
		if databaseURL == "" {
			path = filepath.Join(t.TempDir(), "cart.db")
		}
		be, err := cart.OpenStore(ctx, databaseURL, path, sqlitedb.Settings{}, func() time.Time { return time.Now().Add(-time.Hour) })
		if err != nil {
			t.Fatal(err)
		}
		defer be.Close()
		s := be.Repository
		if err := s.PutItem(ctx, "", "c1", "p01", 1); err != nil {
			t.Fatal(err)
		}
		o := cart.Order{ID: "ord_1", CartID: "c1", IdempotencyKey: "k", TotalCents: 100, Currency: "USD",
			Items: []cart.Item{{ProductID: "p01", Quantity: 1, PriceCents: 100}}}
		if _, _, err := s.CreateOrder(ctx, o, time.Now().Add(-24*time.Hour)); err != nil {
			t.Fatalf("CreateOrder() = %v", err)
		}
		pending := func(minAge time.Duration) []cart.PendingOrder {
			t.Helper()
			p, err := s.PendingOrders(ctx, minAge, time.Minute, 10)
			if err != nil {
				t.Fatalf("PendingOrders(%v, 1m) = %v", minAge, err)
			}
			return p
		}
		if p := pending(0); len(p) != 1 || p[0].ID != "ord_1" || p[0].Overdue {
			t.Errorf("PendingOrders(0, 1m) of a new order = %+v, want ord_1 not overdue", p)
		}
		if p := pending(time.Minute); len(p) != 0 {
			t.Errorf("PendingOrders(1m, 1m) of a new order = %+v, want none (updated just now)", p)
		}
		ageOrders(t, databaseURL, path, 2*time.Minute)
		if p := pending(time.Minute); len(p) != 1 || !p[0].Overdue {
			t.Errorf("PendingOrders(1m, 1m) of an order two minutes old = %+v, want it overdue", p)
		}
	})
}
