package catalog_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/examples/catalog"
)

// TestExpiredHoldsReturnToSale: a hold that is not confirmed within its TTL is
// released, by the sweeper or by the late confirm itself (409 reservation-released,
// which the cart's saga turns into a refund); a hold within its TTL confirms as
// before; stock stays conserved throughout.
func TestExpiredHoldsReturnToSale(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const ttl = 200 * time.Millisecond
		e, store := b.env(t, catalog.Settings{HoldTTL: time.Hour})
		ctx := context.Background()
		before := e.inventory(t)

		late, _, err := store.Reserve(ctx, "o-late", []catalog.Item{{ProductID: "p01", Quantity: 2}}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		swept, _, err := store.Reserve(ctx, "o-swept", []catalog.Item{{ProductID: "p01", Quantity: 3}}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		// Through the API, with the service's TTL (1h): it outlives the test.
		r := e.do(t, http.MethodPost, "/reservations", reserveBody("o-kept", catalog.Item{ProductID: "p01", Quantity: 1}))
		if r.status != http.StatusCreated {
			t.Fatalf("POST /reservations = %d %s", r.status, r.body)
		}
		kept := decode[catalog.Reservation](t, r)
		if got := e.inventory(t)["p01"]; got.Held != before["p01"].Held+6 {
			t.Fatalf("p01 held = %d, want %d", got.Held, before["p01"].Held+6)
		}

		sweeper := catalog.NewSweeper(store, catalog.Settings{}, nil)
		if n, err := sweeper.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("Sweep before any hold expired = %d, %v; want 0", n, err)
		}
		time.Sleep(ttl + 100*time.Millisecond)

		r = e.do(t, http.MethodPost, "/reservations/"+late.ID+"/confirm", "")
		wantProblem(t, r, http.StatusConflict)
		if !strings.Contains(string(r.body), catalog.ProblemReleased) {
			t.Errorf("late confirm = %s, want problem type %s", r.body, catalog.ProblemReleased)
		}
		if n, err := sweeper.Sweep(ctx); err != nil || n != 1 {
			t.Errorf("Sweep after the TTL = %d, %v; want 1 (o-swept; o-late was released by its confirm)", n, err)
		}
		if n, err := sweeper.Sweep(ctx); err != nil || n != 0 {
			t.Errorf("second Sweep = %d, %v; want 0", n, err)
		}
		for _, id := range []string{late.ID, swept.ID} {
			if got, _ := store.GetReservation(ctx, id); got.Status != catalog.StatusReleased {
				t.Errorf("reservation %s = %s, want released", id, got.Status)
			}
		}
		if r := e.do(t, http.MethodPost, "/reservations/"+kept.ID+"/confirm", ""); r.status != http.StatusOK {
			t.Errorf("confirm within the TTL = %d %s, want 200", r.status, r.body)
		}
		after := e.inventory(t)["p01"]
		if after.Held != before["p01"].Held || after.Sold != before["p01"].Sold+1 || after.Available != before["p01"].Available-1 {
			t.Errorf("p01 after = %+v, want the 5 expired units back on sale and 1 sold (before %+v)", after, before["p01"])
		}
	})
}

func TestSettingsValidate(t *testing.T) {
	for _, tt := range []struct {
		s    catalog.Settings
		want string
	}{
		{catalog.Settings{HoldTTL: 10 * time.Millisecond}, "CATALOG_HOLD_TTL"},
		{catalog.Settings{HoldTTL: -time.Second}, "CATALOG_HOLD_TTL"},
		{catalog.Settings{SweepInterval: time.Microsecond}, "CATALOG_HOLD_SWEEP_INTERVAL"},
	} {
		if err := config.Validate(tt.s); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tt.s, err, tt.want)
		}
	}
	if err := config.Validate(catalog.Settings{}); err != nil {
		t.Errorf("Validate(zero) = %v", err)
	}
}

// TestListProductsByID: GET /products?id=... answers those products in one call
// (unknown ids left out), so a cart prices all its lines at once; too many ids or a
// malformed one is 400.
func TestListProductsByID(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e, _ := b.env(t, catalog.Settings{})
		r := e.do(t, http.MethodGet, "/products?id=p03&id=p01,nope", "")
		if r.status != http.StatusOK {
			t.Fatalf("GET /products?id=p03&id=p01,nope = %d %s", r.status, r.body)
		}
		got := decode[[]catalog.Product](t, r)
		if len(got) != 2 || got[0].ID != "p01" || got[1].ID != "p03" {
			t.Errorf("products = %+v, want p01 and p03", got)
		}
		if all := decode[[]catalog.Product](t, e.do(t, http.MethodGet, "/products", "")); len(all) != 24 {
			t.Errorf("GET /products = %d products, want all 24", len(all))
		}
		many := "/products?id=" + strings.TrimSuffix(strings.Repeat("p01,", catalog.MaxProductIDs+1), ",")
		wantProblem(t, e.do(t, http.MethodGet, many, ""), http.StatusBadRequest)
		wantProblem(t, e.do(t, http.MethodGet, "/products?id=p01,%01", ""), http.StatusBadRequest)
	})
}
