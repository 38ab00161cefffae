package payment_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/examples/payment"
	"github.com/gantry-go/gantry/transport"
)

// BenchmarkCharge measures one POST /payments with a fresh Idempotency-Key, handler
// and SQLite only (no network). impl=payment is the service: claim the key in one
// transaction, then insert the payment and complete the key in a second.
// impl=bare-insert is the baseline without idempotency: decode, one INSERT in one
// transaction, answer. The difference is what exactly-once costs. Both use the same
// database settings (WAL, synchronous=FULL, BEGIN IMMEDIATE).
func BenchmarkCharge(b *testing.B) {
	ctx := context.Background()
	open := func(b *testing.B) *sql.DB {
		db, err := sqlitedb.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlitedb.Settings{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			n := strconv.Itoa(i)
			req := httptest.NewRequest(http.MethodPost, "/payments",
				strings.NewReader(`{"order_id":"order-`+n+`","amount_cents":2500,"currency":"USD"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "key-"+n)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				b.Fatalf("POST /payments = %d %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("impl=payment", func(b *testing.B) {
		store, err := payment.NewStore(ctx, open(b))
		if err != nil {
			b.Fatal(err)
		}
		svc := payment.NewService(store, payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil), payment.Settings{})
		run(b, payment.NewHTTPHandler(svc, nil))
	})
	b.Run("impl=bare-insert", func(b *testing.B) {
		db := open(b)
		if _, err := db.ExecContext(ctx, `CREATE TABLE payments (id INTEGER PRIMARY KEY, order_id TEXT NOT NULL,
			amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL)`); err != nil {
			b.Fatal(err)
		}
		run(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, err := transport.DecodeJSON[payment.ChargeRequest](r, 0)
			if err != nil {
				transport.WriteError(w, r, err)
				return
			}
			var id int64
			err = sqlitedb.InTx(r.Context(), db, func(tx *sql.Tx) error {
				return tx.QueryRowContext(r.Context(), `INSERT INTO payments (order_id, amount_cents, currency, status)
					VALUES (?, ?, ?, 'captured') RETURNING id`, req.OrderID, req.AmountCents, req.Currency).Scan(&id)
			})
			if err != nil {
				transport.WriteError(w, r, err)
				return
			}
			_ = transport.WriteJSON(w, http.StatusCreated, map[string]any{"id": id, "order_id": req.OrderID,
				"amount_cents": req.AmountCents, "currency": req.Currency, "status": "captured"})
		}))
	})
}
