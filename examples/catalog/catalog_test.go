package catalog_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/examples/catalog"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

type env struct {
	srv *httptest.Server
	db  *sql.DB // SQLite's, for newEnv
}

func openStore(t testing.TB, path string) (*sql.DB, *catalog.Store) {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), path, sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("sqlitedb.Open() = %v", err)
	}
	store, err := catalog.NewStore(context.Background(), db)
	if err != nil {
		t.Fatalf("catalog.NewStore() = %v", err)
	}
	return db, store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, store := openStore(t, path)
	srv := httptest.NewServer(catalog.NewHTTPHandler(catalog.NewService(store), nil))
	t.Cleanup(func() {
		srv.Close()
		_ = db.Close()
	})
	return &env{srv: srv, db: db}
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t testing.TB, method, path, body string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

func decode[T any](t testing.TB, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, r.body, err)
	}
	return v
}

func (e *env) inventory(t testing.TB) map[string]catalog.StockLevel {
	t.Helper()
	r := e.do(t, http.MethodGet, "/inventory", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /inventory = %d %s", r.status, r.body)
	}
	out := map[string]catalog.StockLevel{}
	for _, l := range decode[[]catalog.StockLevel](t, r) {
		if l.Initial != l.Available+l.Held+l.Sold {
			t.Errorf("stock of %s: initial %d != available %d + held %d + sold %d", l.ProductID, l.Initial, l.Available, l.Held, l.Sold)
		}
		out[l.ProductID] = l
	}
	return out
}

func reserveBody(order string, items ...catalog.Item) string {
	b, _ := json.Marshal(catalog.ReserveRequest{OrderID: order, Items: items})
	return string(b)
}

func wantProblem(t testing.TB, r result, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
}

func TestProducts(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e, _ := b.env(t, catalog.Settings{})
		r := e.do(t, http.MethodGet, "/products", "")
		products := decode[[]catalog.Product](t, r)
		if r.status != http.StatusOK || len(products) < 20 {
			t.Fatalf("GET /products = %d with %d products, want 200 with >= 20", r.status, len(products))
		}
		r = e.do(t, http.MethodGet, "/products/p01", "")
		if r.status != http.StatusOK {
			t.Fatalf("GET /products/p01 = %d, want 200", r.status)
		}
		if diff := cmp.Diff(products[0], decode[catalog.Product](t, r)); diff != "" {
			t.Errorf("GET /products/p01 differs from the list entry (-list +get):\n%s", diff)
		}
		var raw map[string]any
		_ = json.Unmarshal(r.body, &raw)
		for _, k := range []string{"id", "name", "price_cents", "currency", "stock"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("GET /products/p01 body %s lacks field %q", r.body, k)
			}
		}
		wantProblem(t, e.do(t, http.MethodGet, "/products/nope", ""), http.StatusNotFound)
	})
}

func TestReserveIsIdempotentPerOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e, _ := b.env(t, catalog.Settings{})
		items := []catalog.Item{{ProductID: "p02", Quantity: 2}, {ProductID: "p01", Quantity: 1}}
		first := e.do(t, http.MethodPost, "/reservations", reserveBody("o-1", items...))
		if first.status != http.StatusCreated {
			t.Fatalf("POST /reservations = %d %s, want 201", first.status, first.body)
		}
		res := decode[catalog.Reservation](t, first)
		if res.Status != "held" || res.OrderID != "o-1" || res.ID == "" {
			t.Fatalf("POST /reservations = %+v, want a held reservation for o-1", res)
		}
		// The same order again, items in another order: the same reservation, no new hold.
		again := e.do(t, http.MethodPost, "/reservations", reserveBody("o-1", items[1], items[0]))
		if again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("repeat POST /reservations = %d replayed=%q, want 200 replayed=true", again.status, again.header.Get("Idempotent-Replayed"))
		}
		if diff := cmp.Diff(res, decode[catalog.Reservation](t, again)); diff != "" {
			t.Errorf("repeat reservation differs (-first +repeat):\n%s", diff)
		}
		wantProblem(t, e.do(t, http.MethodPost, "/reservations", reserveBody("o-1", catalog.Item{ProductID: "p02", Quantity: 3})), http.StatusUnprocessableEntity)
		inv := e.inventory(t)
		if inv["p02"].Held != 2 || inv["p01"].Held != 1 {
			t.Errorf("held after three POSTs for one order: p02=%d p01=%d, want 2 and 1", inv["p02"].Held, inv["p01"].Held)
		}
		got := decode[catalog.Reservation](t, e.do(t, http.MethodGet, "/reservations/"+res.ID, ""))
		if diff := cmp.Diff(res, got); diff != "" {
			t.Errorf("GET /reservations/{id} (-created +got):\n%s", diff)
		}
	})
}

func TestReserveShortStockHoldsNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e, _ := b.env(t, catalog.Settings{})
		before := e.inventory(t)
		// p22 has 3 in stock; p01 is plentiful but must not be held either.
		r := e.do(t, http.MethodPost, "/reservations", reserveBody("o-short", catalog.Item{ProductID: "p01", Quantity: 1}, catalog.Item{ProductID: "p22", Quantity: 4}))
		wantProblem(t, r, http.StatusConflict)
		if diff := cmp.Diff(before, e.inventory(t)); diff != "" {
			t.Errorf("inventory changed by a refused reservation (-before +after):\n%s", diff)
		}
		wantProblem(t, e.do(t, http.MethodPost, "/reservations", reserveBody("o-unknown", catalog.Item{ProductID: "zzz", Quantity: 1})), http.StatusUnprocessableEntity)
		// The order id is free again: a smaller reservation for it succeeds.
		if r := e.do(t, http.MethodPost, "/reservations", reserveBody("o-short", catalog.Item{ProductID: "p22", Quantity: 3})); r.status != http.StatusCreated {
			t.Errorf("POST /reservations after a refused one = %d %s, want 201", r.status, r.body)
		}
	})
}

func TestConfirmAndReleaseAreIdempotent(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk backend) {
		e, _ := bk.env(t, catalog.Settings{})
		hold := func(order string) catalog.Reservation {
			r := e.do(t, http.MethodPost, "/reservations", reserveBody(order, catalog.Item{ProductID: "p05", Quantity: 2}))
			if r.status != http.StatusCreated {
				t.Fatalf("POST /reservations = %d %s", r.status, r.body)
			}
			return decode[catalog.Reservation](t, r)
		}
		a, b := hold("o-a"), hold("o-b")
		for range 2 {
			if r := e.do(t, http.MethodPost, "/reservations/"+a.ID+"/confirm", ""); r.status != http.StatusOK || decode[catalog.Reservation](t, r).Status != "confirmed" {
				t.Errorf("POST confirm = %d %s, want 200 confirmed", r.status, r.body)
			}
			if r := e.do(t, http.MethodDelete, "/reservations/"+b.ID, ""); r.status != http.StatusNoContent {
				t.Errorf("DELETE = %d %s, want 204", r.status, r.body)
			}
		}
		inv := e.inventory(t)["p05"]
		if want := (catalog.StockLevel{ProductID: "p05", Initial: 25, Available: 23, Held: 0, Sold: 2}); inv != want {
			t.Errorf("p05 after confirm x2 and release x2 = %+v, want %+v", inv, want)
		}
		wantProblem(t, e.do(t, http.MethodPost, "/reservations/"+b.ID+"/confirm", ""), http.StatusConflict)
		// Cancelling a confirmed reservation returns the sold stock.
		for range 2 {
			if r := e.do(t, http.MethodDelete, "/reservations/"+a.ID, ""); r.status != http.StatusNoContent {
				t.Errorf("DELETE confirmed = %d %s, want 204", r.status, r.body)
			}
		}
		if got := e.inventory(t)["p05"]; got.Available != 25 || got.Sold != 0 {
			t.Errorf("p05 after cancelling the confirmed reservation = %+v, want all 25 available", got)
		}
		wantProblem(t, e.do(t, http.MethodDelete, "/reservations/res_missing", ""), http.StatusNotFound)
		wantProblem(t, e.do(t, http.MethodPost, "/reservations/res_missing/confirm", ""), http.StatusNotFound)
	})
}

func TestConcurrentReservationsConserveStock(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e, _ := b.env(t, catalog.Settings{})
		const n = 24
		statuses := make([]int, n)
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				// Every order wants 1 of p22 (3 in stock) and 2 of p18.
				r := e.do(t, http.MethodPost, "/reservations", reserveBody("order-"+string(rune('A'+i)),
					catalog.Item{ProductID: "p22", Quantity: 1}, catalog.Item{ProductID: "p18", Quantity: 2}))
				statuses[i] = r.status
				if r.status == http.StatusCreated {
					ids[i] = decode[catalog.Reservation](t, r).ID
				}
			})
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		if diff := cmp.Diff(map[int]int{201: 3, 409: n - 3}, count); diff != "" {
			t.Fatalf("statuses of %d concurrent reservations for 3 lamps (-want +got):\n%s", n, diff)
		}
		// Confirm one, release one, and confirm and release the third at the same time.
		var held []string
		for _, id := range ids {
			if id != "" {
				held = append(held, id)
			}
		}
		e.do(t, http.MethodPost, "/reservations/"+held[0]+"/confirm", "")
		e.do(t, http.MethodDelete, "/reservations/"+held[1], "")
		wg.Go(func() { e.do(t, http.MethodPost, "/reservations/"+held[2]+"/confirm", "") })
		wg.Go(func() { e.do(t, http.MethodDelete, "/reservations/"+held[2], "") })
		wg.Wait()
		inv := e.inventory(t) // checks initial = available + held + sold for every product
		if l := inv["p22"]; l.Held != 0 || l.Sold < 1 || l.Sold > 2 {
			t.Errorf("p22 after settling = %+v, want nothing held and 1 or 2 sold", l)
		}
		if l := inv["p18"]; l.Sold != 2*inv["p22"].Sold || l.Held != 0 {
			t.Errorf("p18 after settling = %+v, want twice the lamps sold (%d) and nothing held", l, inv["p22"].Sold)
		}
	})
}

func TestRestartLosesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		place := b.place(t)
		be := b.open(t, place)
		svc := catalog.NewService(be.Repository)
		ctx := t.Context()
		res, _, err := svc.Reserve(ctx, "o-restart", []catalog.Item{{ProductID: "p03", Quantity: 5}})
		if err != nil {
			t.Fatalf("Reserve() = %v", err)
		}
		if _, err := svc.Confirm(ctx, res.ID); err != nil {
			t.Fatalf("Confirm() = %v", err)
		}
		before, _ := svc.Inventory(ctx)
		_ = be.Close()

		svc = catalog.NewService(b.open(t, place).Repository) // migrations run again: no second seed
		after, err := svc.Inventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("inventory across a restart (-before +after):\n%s", diff)
		}
		got, err := svc.GetReservation(ctx, res.ID)
		if err != nil || got.Status != catalog.StatusConfirmed {
			t.Errorf("GetReservation() after restart = %+v, %v, want confirmed", got, err)
		}
		products, _ := svc.ListProducts(ctx)
		if len(products) != 24 {
			t.Errorf("products after restart = %d, want 24 (seeded once)", len(products))
		}
	})
}

func TestBadInputIsAProblem(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"malformed json", "POST", "/reservations", `{"order_id":`, 400},
		{"unknown field", "POST", "/reservations", `{"order_id":"o","items":[{"product_id":"p01","quantity":1}],"x":1}`, 400},
		{"wrong type", "POST", "/reservations", `{"order_id":"o","items":[{"product_id":"p01","quantity":"1"}]}`, 400},
		{"trailing data", "POST", "/reservations", `{"order_id":"o","items":[{"product_id":"p01","quantity":1}]} {}`, 400},
		{"no items", "POST", "/reservations", `{"order_id":"o","items":[]}`, 400},
		{"no order id", "POST", "/reservations", `{"items":[{"product_id":"p01","quantity":1}]}`, 400},
		{"long order id", "POST", "/reservations", `{"order_id":"` + long + `","items":[{"product_id":"p01","quantity":1}]}`, 400},
		{"zero quantity", "POST", "/reservations", `{"order_id":"o","items":[{"product_id":"p01","quantity":0}]}`, 400},
		{"huge quantity", "POST", "/reservations", `{"order_id":"o","items":[{"product_id":"p01","quantity":1e30}]}`, 400},
		{"duplicate product", "POST", "/reservations", `{"order_id":"o","items":[{"product_id":"p01","quantity":1},{"product_id":"p01","quantity":1}]}`, 400},
		{"empty body", "POST", "/reservations", ``, 415},
		{"too large", "POST", "/reservations", `{"order_id":"` + strings.Repeat("x", 70<<10) + `"}`, 413},
		{"wrong method", "PUT", "/products", ``, 405},
		{"unknown path", "GET", "/nope", ``, 404},
		{"long id", "GET", "/reservations/" + long, ``, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.do(t, tc.method, tc.path, tc.body), tc.want)
		})
	}
	e.inventory(t)
}

// FuzzReserve sends arbitrary bodies to POST /reservations: the answer is never a 5xx,
// errors are problem+json, and the stock invariant holds afterwards.
func FuzzReserve(f *testing.F) {
	for _, s := range []string{
		`{"order_id":"o","items":[{"product_id":"p01","quantity":1}]}`,
		`{"order_id":"o","items":[{"product_id":"p22","quantity":4}]}`,
		`{"order_id":"","items":null}`,
		`{"order_id":"o\u0000","items":[{"product_id":"p01","quantity":-1}]}`,
		`[]`, `null`, `{"items":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	h := catalog.NewHTTPHandler(catalog.NewService(mustStore(f, e.db)), nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/reservations", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST /reservations %q = %d %s, want < 500", body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("POST /reservations %q = %d with Content-Type %q, want problem+json", body, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
	e.inventory(f)
}

func mustStore(t testing.TB, db *sql.DB) *catalog.Store {
	s, err := catalog.NewStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
