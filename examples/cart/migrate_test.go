package cart

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// TestMigrationKeepsVersion1Data: carts and orders written by schema version 1 are
// the unauthenticated owner's ("") after version 2, keys included, and a key is
// then unique per owner only.
func TestMigrationKeepsVersion1Data(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "cart.db"), sqlitedb.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlitedb.Migrate(ctx, db, migrations[:1]); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO cart_items (cart_id, product_id, quantity, updated_at) VALUES ('c1', 'p01', 2, 1)`,
		`INSERT INTO orders (id, cart_id, idempotency_key, status, step, total_cents, currency, created_at, updated_at)
			VALUES ('ord_1', 'c0', 'k1', 'paid', 'done', 100, 'USD', 1, 1)`,
		`INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES ('ord_1', 'p02', 1, 100)`,
		// What the old schema allowed: a second paid order of one cart (version 3's
		// index must not reject it).
		`INSERT INTO orders (id, cart_id, idempotency_key, status, step, total_cents, currency, created_at, updated_at)
			VALUES ('ord_1b', 'c0', 'k1b', 'paid', 'done', 100, 'USD', 1, 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s, err := NewStore(ctx, db, nil)
	if err != nil {
		t.Fatalf("NewStore(version 1 database) = %v", err)
	}
	if items, err := s.CartItems(ctx, "", "c1"); err != nil || len(items) != 1 || items[0].Quantity != 2 {
		t.Errorf("CartItems(\"\", c1) = %v, %v; want the version 1 line", items, err)
	}
	if _, err := s.CartItems(ctx, "", "c0"); err != nil {
		t.Errorf("CartItems(\"\", c0), the cart of a version 1 order = %v, want it to exist", err)
	}
	o, err := s.OrderByKey(ctx, "", "k1", time.Time{})
	if err != nil || o.ID != "ord_1" || o.Owner != "" || len(o.Items) != 1 {
		t.Errorf("OrderByKey(\"\", k1) = %+v, %v; want ord_1 with its item", o, err)
	}
	if err := s.PutItem(ctx, "alice", "c0", "p02", 1); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.CreateOrder(ctx, Order{ID: "ord_2", Owner: "alice", CartID: "c0", IdempotencyKey: "k1", Currency: "USD"}, time.Time{}); err != nil || !created {
		t.Errorf("CreateOrder(alice, key k1 of the unowned order) = created %v, %v; want a new order", created, err)
	}
	var fk int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&fk); err != nil || fk != 0 {
		t.Errorf("foreign key violations after the migration = %d (%v), want 0", fk, err)
	}
}
