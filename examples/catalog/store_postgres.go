package catalog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/internal/pgdb"
)

// PostgresStore keeps products and reservations in PostgreSQL, with the tables,
// constraints and behaviour of Store, for catalog replicas on several hosts. Stock
// moves are single UPDATEs guarded by the CHECK constraints, on the products in id
// order (so that two reservations cannot deadlock), and each reservation's
// transitions lock its row (SELECT ... FOR UPDATE); a second reservation for one
// order waits on a transaction-scoped advisory lock on the order id and then finds
// the first. Expiry is measured on the database's clock. Errors that mean the
// database cannot serve now are *pgdb.UnavailableError (503 with Retry-After). It is
// safe for concurrent use by any number of processes.
type PostgresStore struct {
	pool *pgxpool.Pool
}

// The names of the catalog's bookkeeping tables, apart from another service's in a
// shared database.
const (
	pgMigrationsTable = "catalog_schema_migrations"
	pgProbeTable      = "catalog_health_probe"
	// pgMigrateLock serializes migrations of replicas starting at once
	// ("gantry-catalog-mg" as eight bytes).
	pgMigrateLock = 0x636174616c6f676d
)

// NewPostgresStore migrates the database behind pool to the current schema (seeding
// the products on first start) and returns a PostgresStore over it. The caller keeps
// ownership of pool and closes it after the store's last use.
func NewPostgresStore(ctx context.Context, pool *pgxpool.Pool) (*PostgresStore, error) {
	if err := pgdb.Migrate(ctx, pool, pgMigrateLock, pgMigrationsTable, postgresMigrations()); err != nil {
		return nil, fmt.Errorf("catalog: %w", pgdb.Unavailable(err))
	}
	return &PostgresStore{pool: pool}, nil
}

// postgresMigrations is the PostgreSQL schema history, oldest first: the tables and
// constraints of migrations() in PostgreSQL's types, expiry included from the start.
// Released migrations are never edited; changes are new migrations.
func postgresMigrations() []pgdb.Migration {
	return []pgdb.Migration{
		{Version: 1, Name: "products and reservations", SQL: `
CREATE TABLE products (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	price_cents   BIGINT NOT NULL CHECK (price_cents >= 0),
	currency      TEXT NOT NULL CHECK (length(currency) = 3),
	initial_stock BIGINT NOT NULL CHECK (initial_stock >= 0),
	available     BIGINT NOT NULL CHECK (available >= 0),
	held          BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
	sold          BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0),
	CHECK (available + held + sold = initial_stock)
);
CREATE TABLE reservations (
	id         TEXT PRIMARY KEY,
	order_id   TEXT NOT NULL UNIQUE,
	status     TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'released')),
	created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	expires_at TIMESTAMPTZ -- on the database's clock; NULL for rows that never held
);
CREATE INDEX reservations_held_expiry ON reservations (expires_at) WHERE status = 'held';
CREATE TABLE reservation_items (
	reservation_id TEXT NOT NULL REFERENCES reservations (id),
	product_id     TEXT NOT NULL REFERENCES products (id),
	quantity       BIGINT NOT NULL CHECK (quantity > 0),
	PRIMARY KEY (reservation_id, product_id)
);`},
		{Version: 2, Name: "seed products", SQL: seedProducts},
		{Version: 3, Name: "health probe", SQL: `
CREATE TABLE ` + pgProbeTable + ` (id INTEGER PRIMARY KEY CHECK (id = 1), at TIMESTAMPTZ NOT NULL);`},
	}
}

// inTx runs fn in one transaction; errors that mean the database cannot serve now
// come back as *pgdb.UnavailableError, the others as they are (for errors.Is).
func (s *PostgresStore) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgdb.Unavailable(pgdb.InTx(ctx, s.pool, fn))
}

// ListProducts returns every product, or those of ids, ordered by id.
func (s *PostgresStore) ListProducts(ctx context.Context, ids ...string) ([]Product, error) {
	q, args := `SELECT `+productCols+` FROM products ORDER BY id`, []any(nil)
	if len(ids) > 0 {
		q, args = `SELECT `+productCols+` FROM products WHERE id = ANY($1) ORDER BY id`, []any{ids}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list products: %w", pgdb.Unavailable(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Product, error) { return scanProduct(r) })
	if err != nil {
		return nil, fmt.Errorf("catalog: list products: %w", pgdb.Unavailable(err))
	}
	if out == nil {
		out = []Product{}
	}
	return out, nil
}

// GetProduct returns one product or ErrProductNotFound.
func (s *PostgresStore) GetProduct(ctx context.Context, id string) (Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, ErrProductNotFound
	}
	if err != nil {
		return Product{}, fmt.Errorf("catalog: get product: %w", pgdb.Unavailable(err))
	}
	return p, nil
}

// Reserve holds the items' stock for orderID in one transaction, as Store.Reserve.
// The hold expires after ttl, on the database's clock.
func (s *PostgresStore) Reserve(ctx context.Context, orderID string, items []Item, ttl time.Duration) (Reservation, bool, error) {
	var res Reservation
	created := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Two reservations of one order: the second waits here, then finds the first.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('catalog-order:' || $1, 0))`, orderID); err != nil {
			return err
		}
		existing, _, err := pgReservation(ctx, tx, "order_id", orderID, false)
		if err == nil {
			if !sameItems(existing.Items, items) {
				return ErrOrderMismatch
			}
			res = existing
			return nil
		}
		if !errors.Is(err, ErrReservationNotFound) {
			return err
		}
		res = Reservation{ID: "res_" + strings.ToLower(rand.Text()), OrderID: orderID, Status: StatusHeld}
		if _, err := tx.Exec(ctx, `INSERT INTO reservations (id, order_id, status, expires_at)
			VALUES ($1, $2, 'held', now() + make_interval(secs => $3))`, res.ID, orderID, ttl.Seconds()); err != nil {
			return fmt.Errorf("catalog: insert reservation: %w", err)
		}
		sorted := sortedItems(items) // lock products in one order: no deadlock between two reservations
		for _, it := range sorted {
			tag, err := tx.Exec(ctx, `UPDATE products SET available = available - $1, held = held + $1
				WHERE id = $2 AND available >= $1`, it.Quantity, it.ProductID)
			if err != nil {
				return fmt.Errorf("catalog: hold stock: %w", err)
			}
			if tag.RowsAffected() != 1 {
				var exists bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)`, it.ProductID).Scan(&exists); err != nil {
					return fmt.Errorf("catalog: hold stock: %w", err)
				}
				if !exists {
					return fmt.Errorf("%w: %q", ErrUnknownProduct, it.ProductID)
				}
				return fmt.Errorf("%w: product %q: %d requested", ErrInsufficientStock, it.ProductID, it.Quantity)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO reservation_items (reservation_id, product_id, quantity) VALUES ($1, $2, $3)`,
				res.ID, it.ProductID, it.Quantity); err != nil {
				return fmt.Errorf("catalog: insert reservation item: %w", err)
			}
		}
		res.Items = sorted
		created = true
		return nil
	})
	if err != nil {
		return Reservation{}, false, err
	}
	return res, created, nil
}

// GetReservation returns one reservation or ErrReservationNotFound.
func (s *PostgresStore) GetReservation(ctx context.Context, id string) (Reservation, error) {
	var res Reservation
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		res, _, err = pgReservation(ctx, tx, "id", id, false)
		return err
	})
	return res, err
}

// Confirm moves a held reservation's stock to sold, as Store.Confirm: a hold past its
// expiry is released instead, and Confirm answers ErrReservationReleased.
func (s *PostgresStore) Confirm(ctx context.Context, id string) (Reservation, error) {
	var expired bool
	res, err := s.transition(ctx, id, confirmStep(&expired))
	return expiredHold(res, err, &expired)
}

// Release returns a reservation's stock to available, as Store.Release.
func (s *PostgresStore) Release(ctx context.Context, id string) (Reservation, error) {
	return s.transition(ctx, id, releaseStep)
}

// ReleaseExpired releases up to limit held reservations past their expiry, oldest
// first, each in its own transaction, and returns how many it released. Replicas
// sweeping at once may pick the same hold: the status re-check under its row lock
// releases it once.
func (s *PostgresStore) ReleaseExpired(ctx context.Context, limit int) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM reservations
		WHERE status = 'held' AND expires_at <= now() ORDER BY expires_at LIMIT $1`, limit)
	if err != nil {
		return 0, fmt.Errorf("catalog: find expired holds: %w", pgdb.Unavailable(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("catalog: find expired holds: %w", pgdb.Unavailable(err))
	}
	released := 0
	for _, id := range ids {
		did := false
		_, err := s.transition(ctx, id, sweepStep(&did))
		if err != nil {
			return released, err
		}
		if did {
			released++
		}
	}
	return released, nil
}

// transition changes a reservation's status and moves its stock in one transaction,
// holding the reservation's row lock, as decide says.
func (s *PostgresStore) transition(ctx context.Context, id string, decide step) (Reservation, error) {
	var res Reservation
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		var expired bool
		if res, expired, err = pgReservation(ctx, tx, "id", id, true); err != nil {
			return err
		}
		status, m, err := decide(res, expired)
		if err != nil || status == "" {
			return err
		}
		for _, it := range res.Items { // in product id order, as Reserve locks them
			if _, err := tx.Exec(ctx, `UPDATE products SET `+m.set("$1")+` WHERE id = $2`, it.Quantity, it.ProductID); err != nil {
				return fmt.Errorf("catalog: move stock: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE reservations SET status = $1, updated_at = now() WHERE id = $2`, status, id); err != nil {
			return fmt.Errorf("catalog: update reservation: %w", err)
		}
		res.Status = status
		return nil
	})
	if err != nil {
		return Reservation{}, err
	}
	return res, nil
}

// Inventory returns every product's stock accounting ordered by product id.
func (s *PostgresStore) Inventory(ctx context.Context) ([]StockLevel, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, initial_stock, available, held, sold FROM products ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("catalog: inventory: %w", pgdb.Unavailable(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StockLevel, error) {
		var l StockLevel
		err := r.Scan(&l.ProductID, &l.Initial, &l.Available, &l.Held, &l.Sold)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: inventory: %w", pgdb.Unavailable(err))
	}
	if out == nil {
		out = []StockLevel{}
	}
	return out, nil
}

// Restock tops up every product with fewer than below units available to level
// units, as Store.Restock.
func (s *PostgresStore) Restock(ctx context.Context, below, level int64) (int, error) {
	if below < 0 || level < 0 || below > level {
		return 0, fmt.Errorf("catalog: restock below %d to %d: want 0 <= below <= level", below, level)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE products SET initial_stock = initial_stock + $1 - available, available = $1 WHERE available < $2`, level, below)
	if err != nil {
		return 0, fmt.Errorf("catalog: restock: %w", pgdb.Unavailable(err))
	}
	return int(tag.RowsAffected()), nil
}

// WriteProbe is a readiness check that writes (pgdb.WriteProbe): a database that
// cannot take writes fails readiness. Its errors are *pgdb.UnavailableError for
// those failures.
func (s *PostgresStore) WriteProbe(ctx context.Context) error {
	if err := pgdb.WriteProbe(ctx, s.pool, pgProbeTable); err != nil {
		return fmt.Errorf("catalog: write probe: %w", pgdb.Unavailable(err))
	}
	return nil
}

// pgReservation loads a reservation and its items by id or order_id (col is a
// constant chosen by the caller, never input), says whether it is past its expiry on
// the database's clock, and, with lock, holds its row until the transaction ends.
func pgReservation(ctx context.Context, tx pgx.Tx, col, v string, lock bool) (res Reservation, expired bool, err error) {
	q := `SELECT id, order_id, status, coalesce(expires_at <= now(), false) FROM reservations WHERE ` + col + ` = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	err = tx.QueryRow(ctx, q, v).Scan(&res.ID, &res.OrderID, &res.Status, &expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return Reservation{}, false, ErrReservationNotFound
	}
	if err != nil {
		return Reservation{}, false, fmt.Errorf("catalog: get reservation: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT product_id, quantity FROM reservation_items WHERE reservation_id = $1 ORDER BY product_id`, res.ID)
	if err != nil {
		return Reservation{}, false, fmt.Errorf("catalog: get reservation items: %w", err)
	}
	res.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
		var it Item
		err := r.Scan(&it.ProductID, &it.Quantity)
		return it, err
	})
	if err != nil {
		return Reservation{}, false, fmt.Errorf("catalog: get reservation items: %w", err)
	}
	if res.Items == nil {
		res.Items = []Item{}
	}
	return res, expired, nil
}
