package cart

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// Store keeps carts and orders in SQLite. Every state change runs in one
// transaction, and the schema's constraints (a checkout Idempotency-Key UNIQUE per
// owner, a UNIQUE payment id, CHECKed statuses) keep a bug above it from creating a
// second order for one key or attaching one payment to two orders. Carts and
// orders belong to an owner (the principal's subject, ” without authentication):
// every query a client's request leads to names the owner, so another owner's
// rows are not found.
//
// A Store is safe for concurrent use. Its order locks (LockOrder) are in memory:
// run one cart process per SQLite file, or use PostgresStore for replicas.
type Store struct {
	db    *sql.DB
	stmts *sqlitedb.Stmts
	now   func() time.Time
	locks keyedMutex
}

// Repository is where the cart keeps carts and orders: *Store (SQLite) or
// *PostgresStore, which behave alike (the cart's store tests run on both). Every
// state change is one transaction. Implementations are safe for concurrent use.
type Repository interface {
	// PutItem sets the quantity of productID in owner's cartID, creating the cart
	// and the line if needed; an edit of a checked-out cart starts its next version.
	PutItem(ctx context.Context, owner, cartID, productID string, quantity int) error
	// RemoveItem deletes productID from owner's cartID (ErrCartNotFound for an
	// unknown cart).
	RemoveItem(ctx context.Context, owner, cartID, productID string) error
	// CartItems returns the lines of owner's cartID ordered by product id.
	CartItems(ctx context.Context, owner, cartID string) ([]Item, error)
	// CreateOrder stores o for the cart's current version unless o.Owner's
	// o.IdempotencyKey (not expired by keysFrom) holds an order already; it returns
	// the key's order and whether it was created now, or a *CheckedOutError naming
	// the cart version's live order.
	CreateOrder(ctx context.Context, o Order, keysFrom time.Time) (Order, bool, error)
	// Order returns the order with id, whoever owns it, or ErrOrderNotFound.
	Order(ctx context.Context, id string) (Order, error)
	// OwnedOrder returns owner's order with id, or ErrOrderNotFound.
	OwnedOrder(ctx context.Context, owner, id string) (Order, error)
	// OrderByKey returns owner's order for the checkout key, created at or after
	// keysFrom, or ErrOrderNotFound.
	OrderByKey(ctx context.Context, owner, key string, keysFrom time.Time) (Order, error)
	// Advance moves o to next if its stored step is still o.Step (ErrStaleOrder
	// otherwise), clearing the cart's ordered lines when next is paid.
	Advance(ctx context.Context, o Order, next Order) (Order, error)
	// PendingOrders returns up to limit pending orders last updated at least minAge
	// ago, oldest first, each marked Overdue when it was created more than
	// cancelAfter ago. Both ages are the database's clock.
	PendingOrders(ctx context.Context, minAge, cancelAfter time.Duration, limit int) ([]PendingOrder, error)
	// CountOrders returns how many orders have each status.
	CountOrders(ctx context.Context) (map[Status]int, error)
	// Orders returns every order, for checks and tools.
	Orders(ctx context.Context) ([]Order, error)
	// LockOrder holds order id's lock until unlock is called, waiting for it until
	// ctx ends: at most one saga runs an order at a time, across every process that
	// shares the store.
	LockOrder(ctx context.Context, id string) (unlock func(), err error)
}

var (
	_ Repository = (*Store)(nil)
	_ Repository = (*PostgresStore)(nil)
)

// PendingOrder is an order PendingOrders found pending. Overdue says it has been
// pending longer than the cancel window, measured on the database's clock (never by
// comparing a replica's clock with the created_at another replica wrote).
type PendingOrder struct {
	Order
	Overdue bool
}

// sqliteNowMillis is SQLite's clock in unix milliseconds: the host's clock, which
// every process on the host agrees on. Orders' created_at and updated_at are written
// with it, and their ages measured against it.
const sqliteNowMillis = `CAST(unixepoch('subsec') * 1000 AS INTEGER)`

// LockOrder holds order id's lock in this process (see Repository.LockOrder).
func (s *Store) LockOrder(ctx context.Context, id string) (func(), error) {
	return s.locks.lock(ctx, id)
}

// migrations is the cart schema, applied by sqlitedb.Migrate.
var migrations = []sqlitedb.Migration{
	{Version: 1, Name: "carts and orders", SQL: `CREATE TABLE cart_items (
		cart_id    TEXT NOT NULL,
		product_id TEXT NOT NULL,
		quantity   INTEGER NOT NULL CHECK (quantity > 0),
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (cart_id, product_id)
	);
	CREATE TABLE orders (
		id               TEXT PRIMARY KEY,
		cart_id          TEXT NOT NULL,
		idempotency_key  TEXT NOT NULL UNIQUE,
		status           TEXT NOT NULL CHECK (status IN ('pending','paid','failed','cancelled')),
		step             TEXT NOT NULL,
		reservation_id   TEXT NOT NULL DEFAULT '',
		payment_id       TEXT NOT NULL DEFAULT '',
		charge_attempted INTEGER NOT NULL DEFAULT 0,
		total_cents      INTEGER NOT NULL CHECK (total_cents >= 0),
		currency         TEXT NOT NULL,
		failure          TEXT NOT NULL DEFAULT '',
		created_at       INTEGER NOT NULL,
		updated_at       INTEGER NOT NULL
	);
	CREATE UNIQUE INDEX orders_payment_id ON orders(payment_id) WHERE payment_id <> '';
	CREATE INDEX orders_pending ON orders(updated_at) WHERE status = 'pending';
	CREATE TABLE order_items (
		order_id    TEXT NOT NULL REFERENCES orders(id),
		product_id  TEXT NOT NULL,
		quantity    INTEGER NOT NULL CHECK (quantity > 0),
		price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
		PRIMARY KEY (order_id, product_id)
	);`},
	// Ownership: carts and orders belong to a principal (the owner, the subject the
	// gateway verified; '' for carts made without authentication, which is what
	// every row of version 1 becomes). Cart ids are per owner, so one user's "c1" is
	// not another's, and a cart exists from its first line on (carts). Checkout keys
	// are unique per owner, not globally; an expired key is released (set to NULL)
	// when its owner reuses it. SQLite cannot drop a UNIQUE constraint, so the
	// tables are rebuilt: children first, so no foreign key is ever dangling.
	{Version: 2, Name: "owners of carts and orders, checkout keys per owner", SQL: `CREATE TABLE carts (
		owner      TEXT NOT NULL,
		id         TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		PRIMARY KEY (owner, id)
	);
	INSERT INTO carts (owner, id, created_at) SELECT '', cart_id, MIN(updated_at) FROM cart_items GROUP BY cart_id;
	INSERT OR IGNORE INTO carts (owner, id, created_at) SELECT '', cart_id, MIN(created_at) FROM orders GROUP BY cart_id;
	CREATE TABLE cart_items_v2 (
		owner      TEXT NOT NULL,
		cart_id    TEXT NOT NULL,
		product_id TEXT NOT NULL,
		quantity   INTEGER NOT NULL CHECK (quantity > 0),
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (owner, cart_id, product_id),
		FOREIGN KEY (owner, cart_id) REFERENCES carts(owner, id)
	);
	INSERT INTO cart_items_v2 (owner, cart_id, product_id, quantity, updated_at)
		SELECT '', cart_id, product_id, quantity, updated_at FROM cart_items;
	DROP TABLE cart_items;
	ALTER TABLE cart_items_v2 RENAME TO cart_items;
	CREATE TABLE orders_v2 (
		id               TEXT PRIMARY KEY,
		owner            TEXT NOT NULL,
		cart_id          TEXT NOT NULL,
		idempotency_key  TEXT,
		status           TEXT NOT NULL CHECK (status IN ('pending','paid','failed','cancelled')),
		step             TEXT NOT NULL,
		reservation_id   TEXT NOT NULL DEFAULT '',
		payment_id       TEXT NOT NULL DEFAULT '',
		charge_attempted INTEGER NOT NULL DEFAULT 0,
		total_cents      INTEGER NOT NULL CHECK (total_cents >= 0),
		currency         TEXT NOT NULL,
		failure          TEXT NOT NULL DEFAULT '',
		created_at       INTEGER NOT NULL,
		updated_at       INTEGER NOT NULL,
		UNIQUE (owner, idempotency_key)
	);
	INSERT INTO orders_v2 (id, owner, cart_id, idempotency_key, status, step, reservation_id, payment_id,
			charge_attempted, total_cents, currency, failure, created_at, updated_at)
		SELECT id, '', cart_id, idempotency_key, status, step, reservation_id, payment_id,
			charge_attempted, total_cents, currency, failure, created_at, updated_at FROM orders;
	CREATE TABLE order_items_v2 (
		order_id    TEXT NOT NULL REFERENCES orders_v2(id),
		product_id  TEXT NOT NULL,
		quantity    INTEGER NOT NULL CHECK (quantity > 0),
		price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
		PRIMARY KEY (order_id, product_id)
	);
	INSERT INTO order_items_v2 SELECT order_id, product_id, quantity, price_cents FROM order_items;
	DROP TABLE order_items;
	DROP TABLE orders;
	ALTER TABLE orders_v2 RENAME TO orders;
	ALTER TABLE order_items_v2 RENAME TO order_items;
	CREATE UNIQUE INDEX orders_payment_id ON orders(payment_id) WHERE payment_id <> '';
	CREATE INDEX orders_pending ON orders(updated_at) WHERE status = 'pending';`},
	// A cart is the unit of checkout: at most one order in progress or paid per
	// version of a cart, enforced by a unique index, so that concurrent checkouts
	// of one cart with different keys make one order and one charge. Editing a cart
	// after a checkout starts its next version. Orders made before this version
	// get distinct negative versions (the duplicates that the old schema allowed
	// must not break the index), and carts start at version 1.
	{Version: 3, Name: "one live order per cart version", SQL: `ALTER TABLE carts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
	ALTER TABLE orders ADD COLUMN cart_version INTEGER NOT NULL DEFAULT 0;
	UPDATE orders SET cart_version = -rowid;
	CREATE UNIQUE INDEX orders_one_live_per_cart_version ON orders(owner, cart_id, cart_version)
		WHERE status IN ('pending', 'paid');`},
}

// NewStore returns a Store over db and applies the schema migrations that have not
// run yet. db must be a modernc.org/sqlite database (see OpenDB). now stamps carts
// and their lines and may be nil (time.Now); orders are stamped on SQLite's clock.
func NewStore(ctx context.Context, db *sql.DB, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, stmts: sqlitedb.NewStmts(db), now: now, locks: keyedMutex{m: map[string]*keyedEntry{}}}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the Store's prepared statements (closing db also releases them). The
// Store must not be used after.
func (s *Store) Close() error { return s.stmts.Close() }

func (s *Store) migrate(ctx context.Context) error {
	if err := sqlitedb.Migrate(ctx, s.db, migrations); err != nil {
		return fmt.Errorf("cart: migrate: %w", err)
	}
	return nil
}

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.stmts.InTx(ctx, fn)
}

// nextVersionIfCheckedOut starts the cart's next version when its current one has an
// order in progress or paid: the edit makes a cart that may be ordered again.
func (s *Store) nextVersionIfCheckedOut(ctx context.Context, tx *sql.Tx, owner, cartID string) error {
	_, err := s.stmts.Exec(ctx, tx, `UPDATE carts SET version = version + 1 WHERE owner = ?1 AND id = ?2
		AND EXISTS (SELECT 1 FROM orders WHERE owner = ?1 AND cart_id = ?2 AND cart_version = carts.version
			AND status IN ('pending', 'paid'))`, owner, cartID)
	if err != nil {
		return fmt.Errorf("cart: next cart version: %w", err)
	}
	return nil
}

// PutItem sets the quantity of productID in owner's cartID, creating the cart and
// the line if needed. An edit of a checked-out cart starts its next version.
func (s *Store) PutItem(ctx context.Context, owner, cartID, productID string, quantity int) error {
	now := s.now().UnixMilli()
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.stmts.Exec(ctx, tx, `INSERT INTO carts (owner, id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			owner, cartID, now); err != nil {
			return fmt.Errorf("cart: create cart: %w", err)
		}
		if err := s.nextVersionIfCheckedOut(ctx, tx, owner, cartID); err != nil {
			return err
		}
		_, err := s.stmts.Exec(ctx, tx, `INSERT INTO cart_items (owner, cart_id, product_id, quantity, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (owner, cart_id, product_id) DO UPDATE SET quantity = excluded.quantity, updated_at = excluded.updated_at`,
			owner, cartID, productID, quantity, now)
		if err != nil {
			return fmt.Errorf("cart: put item: %w", err)
		}
		return nil
	})
}

// RemoveItem deletes productID from owner's cartID. Removing an absent line is not
// an error; an unknown cart is ErrCartNotFound.
func (s *Store) RemoveItem(ctx context.Context, owner, cartID, productID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.cartExists(ctx, tx, owner, cartID); err != nil {
			return err
		}
		if err := s.nextVersionIfCheckedOut(ctx, tx, owner, cartID); err != nil {
			return err
		}
		if _, err := s.stmts.Exec(ctx, tx, `DELETE FROM cart_items WHERE owner = ? AND cart_id = ? AND product_id = ?`,
			owner, cartID, productID); err != nil {
			return fmt.Errorf("cart: remove item: %w", err)
		}
		return nil
	})
}

// cartExists reads in tx, or on the db when tx is nil.
func (s *Store) cartExists(ctx context.Context, tx *sql.Tx, owner, cartID string) error {
	var one int
	err := s.stmts.QueryRow(ctx, tx, `SELECT 1 FROM carts WHERE owner = ? AND id = ?`, owner, cartID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrCartNotFound
	}
	if err != nil {
		return fmt.Errorf("cart: read cart: %w", err)
	}
	return nil
}

// CartItems returns the lines of owner's cartID ordered by product id, without
// prices. An unknown cart (another owner's included) is ErrCartNotFound.
func (s *Store) CartItems(ctx context.Context, owner, cartID string) ([]Item, error) {
	if err := s.cartExists(ctx, nil, owner, cartID); err != nil {
		return nil, err
	}
	rows, err := s.stmts.Query(ctx, nil, `SELECT product_id, quantity FROM cart_items WHERE owner = ? AND cart_id = ? ORDER BY product_id`,
		owner, cartID)
	if err != nil {
		return nil, fmt.Errorf("cart: list items: %w", err)
	}
	defer rows.Close()
	var items []Item
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.ProductID, &it.Quantity); err != nil {
			return nil, fmt.Errorf("cart: list items: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cart: list items: %w", err)
	}
	return items, nil
}

// CreateOrder inserts o, for the cart's current version, with its items unless an
// order of o.Owner holds o.IdempotencyKey; an order created before keysFrom holds it
// no longer (the key expired) and is released from it first, in the same
// transaction. It returns the stored order for the key and whether it was created
// now. When another order of this cart version is in progress or paid, it creates
// nothing and returns a *CheckedOutError naming it.
func (s *Store) CreateOrder(ctx context.Context, o Order, keysFrom time.Time) (Order, bool, error) {
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.stmts.Exec(ctx, tx, `UPDATE orders SET idempotency_key = NULL
			WHERE owner = ? AND idempotency_key = ? AND created_at < ?`, o.Owner, o.IdempotencyKey, keysFrom.UnixMilli()); err != nil {
			return fmt.Errorf("cart: release expired key: %w", err)
		}
		var version int64
		err := s.stmts.QueryRow(ctx, tx, `SELECT version FROM carts WHERE owner = ? AND id = ?`, o.Owner, o.CartID).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrCartNotFound
		}
		if err != nil {
			return fmt.Errorf("cart: read cart version: %w", err)
		}
		res, err := s.stmts.Exec(ctx, tx, `INSERT INTO orders
			(id, owner, cart_id, cart_version, idempotency_key, status, step, total_cents, currency, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, `+sqliteNowMillis+`, `+sqliteNowMillis+`)
			ON CONFLICT (owner, idempotency_key) DO NOTHING`,
			o.ID, o.Owner, o.CartID, version, o.IdempotencyKey, StepCreated, o.TotalCents, o.Currency)
		if sqlitedb.IsUnique(err) {
			// Not the key (that conflict does nothing): the cart version's live order.
			var holder string
			if qerr := s.stmts.QueryRow(ctx, tx, `SELECT id FROM orders WHERE owner = ? AND cart_id = ? AND cart_version = ?
				AND status IN ('pending', 'paid')`, o.Owner, o.CartID, version).Scan(&holder); qerr != nil {
				return fmt.Errorf("cart: read the cart's order: %w", qerr)
			}
			return &CheckedOutError{OrderID: holder}
		}
		if err != nil {
			return fmt.Errorf("cart: create order: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // the key exists: the caller gets the stored order
		}
		created = true
		for _, it := range o.Items {
			if _, err := s.stmts.Exec(ctx, tx, `INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES (?, ?, ?, ?)`,
				o.ID, it.ProductID, it.Quantity, it.PriceCents); err != nil {
				return fmt.Errorf("cart: create order item: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Order{}, false, err
	}
	// Expired holders of the key were released above: the one left is the order.
	stored, err := s.oneOrder(ctx, `SELECT `+orderColumns+` FROM orders WHERE owner = ? AND idempotency_key = ?`,
		o.Owner, o.IdempotencyKey)
	return stored, created, err
}

const orderColumns = `id, owner, cart_id, cart_version, COALESCE(idempotency_key, ''), status, step, reservation_id, payment_id,
	charge_attempted, total_cents, currency, failure, created_at, updated_at`

// Order returns the order with id, whoever owns it, or ErrOrderNotFound. It is for
// the saga and tools; a client's request reads with OwnedOrder.
func (s *Store) Order(ctx context.Context, id string) (Order, error) {
	return s.oneOrder(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id)
}

// OwnedOrder returns owner's order with id, or ErrOrderNotFound (for another
// owner's order too).
func (s *Store) OwnedOrder(ctx context.Context, owner, id string) (Order, error) {
	return s.oneOrder(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ? AND owner = ?`, id, owner)
}

// OrderByKey returns the order owner created at or after keysFrom with the checkout
// Idempotency-Key key, or ErrOrderNotFound.
func (s *Store) OrderByKey(ctx context.Context, owner, key string, keysFrom time.Time) (Order, error) {
	return s.oneOrder(ctx, `SELECT `+orderColumns+` FROM orders WHERE owner = ? AND idempotency_key = ? AND created_at >= ?`,
		owner, key, keysFrom.UnixMilli())
}

// oneOrder runs query, a constant (see sqlitedb.Stmts).
func (s *Store) oneOrder(ctx context.Context, query string, args ...any) (Order, error) {
	o, err := scanOrder(s.stmts.QueryRow(ctx, nil, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, ErrOrderNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("cart: read order: %w", err)
	}
	rows, err := s.stmts.Query(ctx, nil, `SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = ? ORDER BY product_id`, o.ID)
	if err != nil {
		return Order{}, fmt.Errorf("cart: read order items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.ProductID, &it.Quantity, &it.PriceCents); err != nil {
			return Order{}, fmt.Errorf("cart: read order items: %w", err)
		}
		o.Items = append(o.Items, it)
	}
	if err := rows.Err(); err != nil {
		return Order{}, fmt.Errorf("cart: read order items: %w", err)
	}
	return o, nil
}

type scanner interface{ Scan(...any) error }

func scanOrder(row scanner) (Order, error) {
	var o Order
	var created, updated int64
	var attempted int
	err := row.Scan(&o.ID, &o.Owner, &o.CartID, &o.CartVersion, &o.IdempotencyKey, &o.Status, &o.Step, &o.ReservationID, &o.PaymentID,
		&attempted, &o.TotalCents, &o.Currency, &o.Failure, &created, &updated)
	o.ChargeAttempted = attempted != 0
	o.CreatedAt = time.UnixMilli(created).UTC()
	o.UpdatedAt = time.UnixMilli(updated).UTC()
	return o, err
}

// ErrStaleOrder means an order changed between reading and updating it: another
// saga run advanced it first.
var ErrStaleOrder = errors.New("cart: order changed concurrently")

// Advance moves order o from o.Step to next.Step (and next's status, reservation id,
// payment id, failure and charge_attempted), only if the stored step still equals
// o.Step. When next.Status is StatusPaid, the ordered products are removed from the
// cart in the same transaction. It returns the stored result, or ErrStaleOrder.
func (s *Store) Advance(ctx context.Context, o Order, next Order) (Order, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.stmts.Exec(ctx, tx, `UPDATE orders SET status = ?, step = ?, reservation_id = ?, payment_id = ?,
			charge_attempted = ?, failure = ?, updated_at = `+sqliteNowMillis+`
			WHERE id = ? AND step = ? AND status = 'pending'`,
			next.Status, next.Step, next.ReservationID, next.PaymentID, boolInt(next.ChargeAttempted), next.Failure,
			o.ID, o.Step)
		if err != nil {
			return fmt.Errorf("cart: advance order: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrStaleOrder
		}
		if next.Status == StatusPaid {
			for _, it := range o.Items {
				if _, err := s.stmts.Exec(ctx, tx, `DELETE FROM cart_items WHERE owner = ? AND cart_id = ? AND product_id = ?`,
					o.Owner, o.CartID, it.ProductID); err != nil {
					return fmt.Errorf("cart: clear cart: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return Order{}, err
	}
	return s.Order(ctx, o.ID)
}

// PendingOrders returns up to limit pending orders last updated at least minAge
// ago, oldest first, each marked Overdue when created more than cancelAfter ago: both
// on SQLite's clock (see Repository.PendingOrders).
func (s *Store) PendingOrders(ctx context.Context, minAge, cancelAfter time.Duration, limit int) ([]PendingOrder, error) {
	rows, err := s.stmts.Query(ctx, nil, `SELECT id, created_at < now_ms - ?1 FROM orders, (SELECT `+sqliteNowMillis+` AS now_ms)
		WHERE status = 'pending' AND updated_at <= now_ms - ?2 ORDER BY updated_at LIMIT ?3`,
		cancelAfter.Milliseconds(), minAge.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("cart: list pending orders: %w", err)
	}
	var found []PendingOrder
	for rows.Next() {
		var p PendingOrder
		if err := rows.Scan(&p.ID, &p.Overdue); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cart: list pending orders: %w", err)
		}
		found = append(found, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cart: list pending orders: %w", err)
	}
	for i := range found {
		o, err := s.Order(ctx, found[i].ID)
		if err != nil {
			return nil, err
		}
		found[i].Order = o
	}
	return found, nil
}

// CountOrders returns how many orders have each status.
func (s *Store) CountOrders(ctx context.Context) (map[Status]int, error) {
	rows, err := s.stmts.Query(ctx, nil, `SELECT status, COUNT(*) FROM orders GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("cart: count orders: %w", err)
	}
	defer rows.Close()
	out := map[Status]int{}
	for rows.Next() {
		var st Status
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("cart: count orders: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// Orders returns every order id with its status, for checks and tools.
func (s *Store) Orders(ctx context.Context) ([]Order, error) {
	rows, err := s.stmts.Query(ctx, nil, `SELECT `+orderColumns+` FROM orders ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("cart: list orders: %w", err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("cart: list orders: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
