package cart_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
)

// priced is a catalog stand-in for what the shipped catalog cannot produce (every
// seeded product is in USD, none costs more than an int64 of cents can total): a
// fast fake beside the real-catalog tests, not instead of them.
type priced map[string]cart.Product

func (c priced) Product(_ context.Context, id string) (cart.Product, error) {
	if p, ok := c[id]; ok {
		return p, nil
	}
	return cart.Product{}, cart.ErrProductNotFound
}

func (c priced) Products(_ context.Context, ids []string) (map[string]cart.Product, error) {
	out := map[string]cart.Product{}
	for _, id := range ids {
		if p, ok := c[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

func (priced) Reserve(context.Context, string, []cart.Item) (string, error) { return "", nil }
func (priced) ConfirmReservation(context.Context, string) error             { return nil }
func (priced) ReleaseReservation(context.Context, string) error             { return nil }

// TestOneCurrencyAndBoundedTotals: a cart is in one currency (a product priced in
// another is refused, 409, and the cart is unchanged), holds at most MaxLines lines,
// and a total that would overflow is refused rather than wrapped.
func TestOneCurrencyAndBoundedTotals(t *testing.T) {
	cat := priced{
		"mug":  {ID: "mug", PriceCents: 1400, Currency: "USD"},
		"tea":  {ID: "tea", PriceCents: 900, Currency: "EUR"},
		"gold": {ID: "gold", PriceCents: math.MaxInt64 / 2, Currency: "USD"},
	}
	for i := range cart.MaxLines + 1 {
		id := fmt.Sprintf("x%03d", i)
		cat[id] = cart.Product{ID: id, PriceCents: 1, Currency: "USD"}
	}
	store, err := cart.NewStore(context.Background(), shoptest.OpenDB(t, "cart.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	shop := cart.NewShop(store, cat, nil, cart.Settings{})
	ctx := context.Background()
	if _, err := shop.PutItem(ctx, "alice", "c1", "mug", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := shop.PutItem(ctx, "alice", "c1", "tea", 1); !errors.Is(err, cart.ErrCurrencyMismatch) {
		t.Errorf("PutItem(EUR into a USD cart) = %v, want ErrCurrencyMismatch", err)
	}
	if c, _ := shop.GetCart(ctx, "alice", "c1"); len(c.Items) != 1 || c.Currency != "USD" {
		t.Errorf("cart after the refused line = %+v, want the mug alone, in USD", c)
	}
	if _, err := shop.PutItem(ctx, "alice", "c1", "gold", 3); !errors.Is(err, cart.ErrTotalTooLarge) {
		t.Errorf("PutItem(a total past int64) = %v, want ErrTotalTooLarge", err)
	}
	if c, err := shop.GetCart(ctx, "alice", "c1"); err != nil || len(c.Items) != 1 {
		t.Errorf("cart after the refused total = %+v, %v; want the mug alone", c, err)
	}
	for i := range cart.MaxLines {
		_, err := shop.PutItem(ctx, "alice", "c2", fmt.Sprintf("x%03d", i), 1)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
	}
	if _, err := shop.PutItem(ctx, "alice", "c2", fmt.Sprintf("x%03d", cart.MaxLines), 1); !errors.Is(err, cart.ErrCartFull) {
		t.Errorf("PutItem(line %d) = %v, want ErrCartFull", cart.MaxLines+1, err)
	}
	if _, err := shop.PutItem(ctx, "alice", "c2", "x000", 5); err != nil {
		t.Errorf("changing a line of a full cart = %v, want nil", err)
	}
}
