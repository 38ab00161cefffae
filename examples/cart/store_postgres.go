package cart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/internal/pgdb"
)

// PostgresStore keeps carts and orders in PostgreSQL, with the tables, constraints
// and behaviour of Store, so that several cart replicas on several hosts share them.
// The per-order saga lock is a PostgreSQL session advisory lock (LockOrder), held on
// a connection of a pool of its own, so that sagas holding locks never starve the
// queries; a replica that dies releases its locks with its connections. Errors that
// mean the database cannot serve now are *pgdb.UnavailableError (503 with
// Retry-After). It is safe for concurrent use by any number of processes.
type PostgresStore struct {
	pool  *pgxpool.Pool
	locks *pgxpool.Pool
	now   func() time.Time
}

const (
	pgMigrationsTable = "cart_schema_migrations"
	pgProbeTable      = "cart_health_probe"
	// pgMigrateLock serializes migrations of replicas starting at once
	// ("gantry-cart-migr" as eight bytes).
	pgMigrateLock = 0x636172746d696772
	// MaxOrderLocks bounds the orders one PostgresStore drives at once: the
	// connections of its lock pool. A saga that finds them all taken waits, within
	// its deadline, for one.
	MaxOrderLocks = 32
)

// NewPostgresStore migrates the database behind pool to the current schema and
// returns a PostgresStore over it, with a second pool of up to MaxOrderLocks
// connections to the same database for the order locks, which Close closes. The
// caller keeps ownership of pool. now stamps carts and their lines and may be nil
// (time.Now); orders are stamped on the database server's clock.
func NewPostgresStore(ctx context.Context, pool *pgxpool.Pool, now func() time.Time) (*PostgresStore, error) {
	if now == nil {
		now = time.Now
	}
	if err := pgdb.Migrate(ctx, pool, pgMigrateLock, pgMigrationsTable, postgresMigrations()); err != nil {
		return nil, fmt.Errorf("cart: %w", pgdb.Unavailable(err))
	}
	cfg := pool.Config().Copy()
	cfg.MaxConns, cfg.MinConns = MaxOrderLocks, 0
	locks, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cart: order lock pool: %w", pgdb.Unavailable(err))
	}
	return &PostgresStore{pool: pool, locks: locks, now: now}, nil
}

// Close closes the lock pool (releasing every lock it holds).
func (s *PostgresStore) Close() { s.locks.Close() }

// postgresMigrations is the PostgreSQL schema: the tables and constraints the SQLite
// migrations arrive at, in one version. Released migrations are never edited.
func postgresMigrations() []pgdb.Migration {
	return []pgdb.Migration{
		{Version: 1, Name: "carts and orders, per owner, one live order per cart version", SQL: `
CREATE TABLE carts (
	owner      TEXT NOT NULL,
	id         TEXT NOT NULL,
	created_at BIGINT NOT NULL, -- unix milliseconds
	version    BIGINT NOT NULL DEFAULT 1,
	PRIMARY KEY (owner, id)
);
CREATE TABLE cart_items (
	owner      TEXT NOT NULL,
	cart_id    TEXT NOT NULL,
	product_id TEXT NOT NULL,
	quantity   BIGINT NOT NULL CHECK (quantity > 0),
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (owner, cart_id, product_id),
	FOREIGN KEY (owner, cart_id) REFERENCES carts (owner, id)
);
CREATE TABLE orders (
	id               TEXT PRIMARY KEY,
	owner            TEXT NOT NULL,
	cart_id          TEXT NOT NULL,
	cart_version     BIGINT NOT NULL,
	idempotency_key  TEXT,
	status           TEXT NOT NULL CHECK (status IN ('pending','paid','failed','cancelled')),
	step             TEXT NOT NULL,
	reservation_id   TEXT NOT NULL DEFAULT '',
	payment_id       TEXT NOT NULL DEFAULT '',
	charge_attempted BOOLEAN NOT NULL DEFAULT false,
	total_cents      BIGINT NOT NULL CHECK (total_cents >= 0),
	currency         TEXT NOT NULL,
	failure          TEXT NOT NULL DEFAULT '',
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL,
	UNIQUE (owner, idempotency_key)
);
CREATE UNIQUE INDEX orders_payment_id ON orders (payment_id) WHERE payment_id <> '';
CREATE INDEX orders_pending ON orders (updated_at) WHERE status = 'pending';
CREATE UNIQUE INDEX orders_one_live_per_cart_version ON orders (owner, cart_id, cart_version)
	WHERE status IN ('pending', 'paid');
CREATE TABLE order_items (
	order_id    TEXT NOT NULL REFERENCES orders (id),
	product_id  TEXT NOT NULL,
	quantity    BIGINT NOT NULL CHECK (quantity > 0),
	price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
	PRIMARY KEY (order_id, product_id)
);
CREATE TABLE ` + pgProbeTable + ` (id INTEGER PRIMARY KEY CHECK (id = 1), at TIMESTAMPTZ NOT NULL);`},
	}
}

func (s *PostgresStore) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgdb.Unavailable(pgdb.InTx(ctx, s.pool, fn))
}

// pgNextVersionIfCheckedOut starts the cart's next version when its current one has
// an order in progress or paid.
func pgNextVersionIfCheckedOut(ctx context.Context, tx pgx.Tx, owner, cartID string) error {
	_, err := tx.Exec(ctx, `UPDATE carts SET version = version + 1 WHERE owner = $1 AND id = $2
		AND EXISTS (SELECT 1 FROM orders WHERE owner = $1 AND cart_id = $2 AND cart_version = carts.version
			AND status IN ('pending', 'paid'))`, owner, cartID)
	if err != nil {
		return fmt.Errorf("cart: next cart version: %w", err)
	}
	return nil
}

// PutItem sets the quantity of productID in owner's cartID, as Store.PutItem.
func (s *PostgresStore) PutItem(ctx context.Context, owner, cartID, productID string, quantity int) error {
	now := s.now().UnixMilli()
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO carts (owner, id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			owner, cartID, now); err != nil {
			return fmt.Errorf("cart: create cart: %w", err)
		}
		if err := pgNextVersionIfCheckedOut(ctx, tx, owner, cartID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO cart_items (owner, cart_id, product_id, quantity, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (owner, cart_id, product_id) DO UPDATE SET quantity = excluded.quantity, updated_at = excluded.updated_at`,
			owner, cartID, productID, quantity, now); err != nil {
			return fmt.Errorf("cart: put item: %w", err)
		}
		return nil
	})
}

// RemoveItem deletes productID from owner's cartID, as Store.RemoveItem.
func (s *PostgresStore) RemoveItem(ctx context.Context, owner, cartID, productID string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := pgCartExists(ctx, tx, owner, cartID); err != nil {
			return err
		}
		if err := pgNextVersionIfCheckedOut(ctx, tx, owner, cartID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM cart_items WHERE owner = $1 AND cart_id = $2 AND product_id = $3`,
			owner, cartID, productID); err != nil {
			return fmt.Errorf("cart: remove item: %w", err)
		}
		return nil
	})
}

func pgCartExists(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, owner, cartID string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM carts WHERE owner = $1 AND id = $2`, owner, cartID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrCartNotFound
	}
	if err != nil {
		return fmt.Errorf("cart: read cart: %w", pgdb.Unavailable(err))
	}
	return nil
}

// CartItems returns the lines of owner's cartID ordered by product id.
func (s *PostgresStore) CartItems(ctx context.Context, owner, cartID string) ([]Item, error) {
	if err := pgCartExists(ctx, s.pool, owner, cartID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT product_id, quantity FROM cart_items WHERE owner = $1 AND cart_id = $2 ORDER BY product_id`,
		owner, cartID)
	if err != nil {
		return nil, fmt.Errorf("cart: list items: %w", pgdb.Unavailable(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
		var it Item
		err := r.Scan(&it.ProductID, &it.Quantity)
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("cart: list items: %w", pgdb.Unavailable(err))
	}
	return items, nil
}

// CreateOrder stores o for the cart's current version, as Store.CreateOrder. The
// insert runs under a savepoint, so that the cart version's unique index refusing it
// leaves the transaction usable to name the order that holds the cart.
func (s *PostgresStore) CreateOrder(ctx context.Context, o Order, keysFrom time.Time) (Order, bool, error) {
	created := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE orders SET idempotency_key = NULL
			WHERE owner = $1 AND idempotency_key = $2 AND created_at < $3`, o.Owner, o.IdempotencyKey, keysFrom.UnixMilli()); err != nil {
			return fmt.Errorf("cart: release expired key: %w", err)
		}
		var version int64
		err := tx.QueryRow(ctx, `SELECT version FROM carts WHERE owner = $1 AND id = $2`, o.Owner, o.CartID).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrCartNotFound
		}
		if err != nil {
			return fmt.Errorf("cart: read cart version: %w", err)
		}
		sp, err := tx.Begin(ctx) // a savepoint
		if err != nil {
			return err
		}
		tag, err := sp.Exec(ctx, `INSERT INTO orders
			(id, owner, cart_id, cart_version, idempotency_key, status, step, total_cents, currency, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, `+pgNowMillis+`, `+pgNowMillis+`)
			ON CONFLICT (owner, idempotency_key) DO NOTHING`,
			o.ID, o.Owner, o.CartID, version, o.IdempotencyKey, StepCreated, o.TotalCents, o.Currency)
		if pgdb.IsUnique(err) {
			_ = sp.Rollback(ctx)
			// Not the key (that conflict does nothing): the cart version's live order.
			var holder string
			if qerr := tx.QueryRow(ctx, `SELECT id FROM orders WHERE owner = $1 AND cart_id = $2 AND cart_version = $3
				AND status IN ('pending', 'paid')`, o.Owner, o.CartID, version).Scan(&holder); qerr != nil {
				return fmt.Errorf("cart: read the cart's order: %w", qerr)
			}
			return &CheckedOutError{OrderID: holder}
		}
		if err != nil {
			_ = sp.Rollback(ctx)
			return fmt.Errorf("cart: create order: %w", err)
		}
		if err := sp.Commit(ctx); err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // the key exists: the caller gets the stored order
		}
		created = true
		for _, it := range o.Items {
			if _, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES ($1, $2, $3, $4)`,
				o.ID, it.ProductID, it.Quantity, it.PriceCents); err != nil {
				return fmt.Errorf("cart: create order item: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Order{}, false, err
	}
	stored, err := s.oneOrder(ctx, `SELECT `+pgOrderColumns+` FROM orders WHERE owner = $1 AND idempotency_key = $2`,
		o.Owner, o.IdempotencyKey)
	return stored, created, err
}

const pgOrderColumns = `id, owner, cart_id, cart_version, COALESCE(idempotency_key, ''), status, step, reservation_id, payment_id,
	charge_attempted::int, total_cents, currency, failure, created_at, updated_at`

// Order returns the order with id, whoever owns it, or ErrOrderNotFound.
func (s *PostgresStore) Order(ctx context.Context, id string) (Order, error) {
	return s.oneOrder(ctx, `SELECT `+pgOrderColumns+` FROM orders WHERE id = $1`, id)
}

// OwnedOrder returns owner's order with id, or ErrOrderNotFound.
func (s *PostgresStore) OwnedOrder(ctx context.Context, owner, id string) (Order, error) {
	return s.oneOrder(ctx, `SELECT `+pgOrderColumns+` FROM orders WHERE id = $1 AND owner = $2`, id, owner)
}

// OrderByKey returns owner's order for key created at or after keysFrom, or
// ErrOrderNotFound.
func (s *PostgresStore) OrderByKey(ctx context.Context, owner, key string, keysFrom time.Time) (Order, error) {
	return s.oneOrder(ctx, `SELECT `+pgOrderColumns+` FROM orders WHERE owner = $1 AND idempotency_key = $2 AND created_at >= $3`,
		owner, key, keysFrom.UnixMilli())
}

func (s *PostgresStore) oneOrder(ctx context.Context, query string, args ...any) (Order, error) {
	o, err := scanOrder(s.pool.QueryRow(ctx, query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrOrderNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("cart: read order: %w", pgdb.Unavailable(err))
	}
	rows, err := s.pool.Query(ctx, `SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = $1 ORDER BY product_id`, o.ID)
	if err != nil {
		return Order{}, fmt.Errorf("cart: read order items: %w", pgdb.Unavailable(err))
	}
	o.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
		var it Item
		err := r.Scan(&it.ProductID, &it.Quantity, &it.PriceCents)
		return it, err
	})
	if err != nil {
		return Order{}, fmt.Errorf("cart: read order items: %w", pgdb.Unavailable(err))
	}
	return o, nil
}

// Advance moves order o to next if its stored step is still o.Step, as
// Store.Advance.
func (s *PostgresStore) Advance(ctx context.Context, o Order, next Order) (Order, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE orders SET status = $1, step = $2, reservation_id = $3, payment_id = $4,
			charge_attempted = $5, failure = $6, updated_at = `+pgNowMillis+`
			WHERE id = $7 AND step = $8 AND status = 'pending'`,
			next.Status, next.Step, next.ReservationID, next.PaymentID, next.ChargeAttempted, next.Failure,
			o.ID, o.Step)
		if err != nil {
			return fmt.Errorf("cart: advance order: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrStaleOrder
		}
		if next.Status == StatusPaid {
			for _, it := range o.Items {
				if _, err := tx.Exec(ctx, `DELETE FROM cart_items WHERE owner = $1 AND cart_id = $2 AND product_id = $3`,
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

// pgNowMillis is the database server's clock in unix milliseconds. Orders'
// created_at and updated_at are written with it, and their ages measured against it,
// so that replicas whose clocks disagree agree on an order's age.
const pgNowMillis = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`

// PendingOrders is Store.PendingOrders on the database server's clock.
func (s *PostgresStore) PendingOrders(ctx context.Context, minAge, cancelAfter time.Duration, limit int) ([]PendingOrder, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, created_at < clock.now_ms - $1 FROM orders, (SELECT `+pgNowMillis+` AS now_ms) AS clock
		WHERE status = 'pending' AND updated_at <= clock.now_ms - $2 ORDER BY updated_at LIMIT $3`,
		cancelAfter.Milliseconds(), minAge.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("cart: list pending orders: %w", pgdb.Unavailable(err))
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PendingOrder, error) {
		var p PendingOrder
		err := row.Scan(&p.ID, &p.Overdue)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("cart: list pending orders: %w", pgdb.Unavailable(err))
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
func (s *PostgresStore) CountOrders(ctx context.Context) (map[Status]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, COUNT(*) FROM orders GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("cart: count orders: %w", pgdb.Unavailable(err))
	}
	out := map[Status]int{}
	var st Status
	var n int
	_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error { out[st] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("cart: count orders: %w", pgdb.Unavailable(err))
	}
	return out, nil
}

// Orders returns every order, for checks and tools.
func (s *PostgresStore) Orders(ctx context.Context) ([]Order, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgOrderColumns+` FROM orders ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("cart: list orders: %w", pgdb.Unavailable(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Order, error) { return scanOrder(r) })
	if err != nil {
		return nil, fmt.Errorf("cart: list orders: %w", pgdb.Unavailable(err))
	}
	return out, nil
}

// LockOrder takes order id's session advisory lock on a connection of the lock pool,
// waiting until ctx ends (see Repository.LockOrder). unlock releases it; when that
// fails, the connection is closed, which releases it too.
func (s *PostgresStore) LockOrder(ctx context.Context, id string) (func(), error) {
	conn, err := s.locks.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("cart: lock order: %w", pgdb.Unavailable(err))
	}
	key := "cart-order:" + id
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		// The lock may have been granted as ctx ended: end the session to be sure.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cart: lock order: %w", pgdb.Unavailable(err))
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var released bool
		if err := conn.QueryRow(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key).Scan(&released); err != nil || !released {
			_ = conn.Conn().Close(uctx)
		}
		conn.Release()
	}, nil
}

// WriteProbe is a readiness check that writes (pgdb.WriteProbe).
func (s *PostgresStore) WriteProbe(ctx context.Context) error {
	if err := pgdb.WriteProbe(ctx, s.pool, pgProbeTable); err != nil {
		return fmt.Errorf("cart: write probe: %w", pgdb.Unavailable(err))
	}
	return nil
}
