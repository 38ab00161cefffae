package shop_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/internal/shop"
)

// startShop runs a shop built from o until the test ends.
func startShop(t *testing.T, o shop.Options) *shop.Shop {
	t.Helper()
	o.DataDir = t.TempDir()
	s, err := shop.New(context.Background(), o)
	if err != nil {
		t.Fatalf("shop.New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run() = %v", err)
		}
	})
	return s
}

// TestRestockSellsMoreThanTheSeededStock checks out 3 carts of 2 Last-Chance Lamps,
// of which the catalog seeds 3: with Options.Restock every checkout succeeds.
func TestRestockSellsMoreThanTheSeededStock(t *testing.T) {
	s := startShop(t, shop.Options{Restock: true})
	tok, err := s.Token(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path, body, key string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, s.URLs["gateway"]+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s = %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, cart := range []string{"r1", "r2", "r3"} {
		if st, body := do(http.MethodPut, "/api/carts/"+cart+"/items/p22", `{"quantity":2}`, ""); st != http.StatusOK {
			t.Fatalf("PUT /api/carts/%s/items/p22 = %d %s, want 200", cart, st, body)
		}
		if st, body := do(http.MethodPost, "/api/carts/"+cart+"/checkout", "", "order-"+cart); st != http.StatusCreated {
			t.Errorf("POST /api/carts/%s/checkout (2 lamps) = %d %s, want 201", cart, st, body)
		}
	}
}
