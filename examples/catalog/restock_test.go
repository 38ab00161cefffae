package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/catalog"
)

func TestRestockTopsUpLowProductsAndKeepsTheBooks(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		store := b.open(t, b.place(t)).Repository
		// Sell all 3 Last-Chance Lamps and hold 1 Tamper (35 in stock).
		res, _, err := store.Reserve(ctx, "o-lamps", []catalog.Item{{ProductID: "p22", Quantity: 3}}, time.Hour)
		if err != nil {
			t.Fatalf("Reserve(3 x p22) = %v", err)
		}
		if _, err := store.Confirm(ctx, res.ID); err != nil {
			t.Fatalf("Confirm() = %v", err)
		}
		if _, _, err := store.Reserve(ctx, "o-tamper", []catalog.Item{{ProductID: "p17", Quantity: 1}}, time.Hour); err != nil {
			t.Fatalf("Reserve(p17) = %v", err)
		}
		before := levels(t, store)

		n, err := store.Restock(ctx, 40, 50)
		if err != nil {
			t.Fatalf("Restock(40, 50) = %v", err)
		}
		after := levels(t, store)
		topped := 0
		for id, b := range before {
			a := after[id]
			if a.Available+a.Held+a.Sold != a.Initial {
				t.Errorf("%s after Restock = %+v, want available+held+sold = initial", id, a)
			}
			if a.Held != b.Held || a.Sold != b.Sold {
				t.Errorf("%s held/sold after Restock = %d/%d, want %d/%d", id, a.Held, a.Sold, b.Held, b.Sold)
			}
			switch {
			case b.Available < 40:
				topped++
				if a.Available != 50 {
					t.Errorf("%s available after Restock(40, 50) = %d (was %d), want 50", id, a.Available, b.Available)
				}
			case a != b:
				t.Errorf("%s after Restock(40, 50) = %+v, want unchanged %+v (it had %d available)", id, a, b, b.Available)
			}
		}
		if n != topped || topped < 2 {
			t.Errorf("Restock(40, 50) = %d, want %d (p22, p17 and the other products below 40)", n, topped)
		}
		// The lamps sell again.
		if _, _, err := store.Reserve(ctx, "o-more-lamps", []catalog.Item{{ProductID: "p22", Quantity: 4}}, time.Hour); err != nil {
			t.Errorf("Reserve(4 x p22) after Restock = %v, want it held", err)
		}
		for _, bad := range [][2]int64{{-1, 5}, {5, -1}, {6, 5}} {
			if _, err := store.Restock(ctx, bad[0], bad[1]); err == nil {
				t.Errorf("Restock(%d, %d) = nil error, want one", bad[0], bad[1])
			}
		}
	})
}

func levels(t *testing.T, s catalog.Repository) map[string]catalog.StockLevel {
	t.Helper()
	ls, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatalf("Inventory() = %v", err)
	}
	m := map[string]catalog.StockLevel{}
	for _, l := range ls {
		m[l.ProductID] = l
	}
	return m
}
