package catalog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// Store keeps products and reservations in SQLite. Every state change is one
// transaction; the schema's CHECK and UNIQUE constraints hold the invariants even if
// the code above them were wrong. A Store is safe for concurrent use, and several
// Stores (in one or several processes on one host) may share a database file.
type Store struct {
	db    *sql.DB
	stmts *sqlitedb.Stmts
}

// NewStore migrates db to the current schema (seeding the products on first start)
// and returns a Store over it. The caller keeps ownership of db and closes it after
// the Store's last use.
func NewStore(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlitedb.Migrate(ctx, db, migrations()); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return &Store{db: db, stmts: sqlitedb.NewStmts(db)}, nil
}

// Close closes the Store's prepared statements (closing db also releases them). The
// Store must not be used after.
func (s *Store) Close() error { return s.stmts.Close() }

// migrations returns the schema history, oldest first. Released migrations are never
// edited; changes are new migrations.
func migrations() []sqlitedb.Migration {
	return []sqlitedb.Migration{
		{Version: 1, Name: "products and reservations", SQL: `
CREATE TABLE products (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	price_cents   INTEGER NOT NULL CHECK (price_cents >= 0),
	currency      TEXT NOT NULL CHECK (length(currency) = 3),
	initial_stock INTEGER NOT NULL CHECK (initial_stock >= 0),
	available     INTEGER NOT NULL CHECK (available >= 0),
	held          INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
	sold          INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0),
	CHECK (available + held + sold = initial_stock)
);
CREATE TABLE reservations (
	id         TEXT PRIMARY KEY,
	order_id   TEXT NOT NULL UNIQUE,
	status     TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'released')),
	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE reservation_items (
	reservation_id TEXT NOT NULL REFERENCES reservations (id),
	product_id     TEXT NOT NULL REFERENCES products (id),
	quantity       INTEGER NOT NULL CHECK (quantity > 0),
	PRIMARY KEY (reservation_id, product_id)
);`},
		{Version: 2, Name: "seed products", SQL: seedProducts},
		// Holds expire (Settings.HoldTTL), on the database's clock: unixepoch seconds.
		// Holds made before this version get the default TTL from now.
		{Version: 3, Name: "reservation expiry", SQL: `
ALTER TABLE reservations ADD COLUMN expires_at REAL;
UPDATE reservations SET expires_at = unixepoch('subsec') + 1800 WHERE status = 'held';
CREATE INDEX reservations_held_expiry ON reservations (expires_at) WHERE status = 'held';`},
	}
}

// seedProducts loads the demo catalog on first start. "Card Decline Tester" costs
// 13.13: an order of one is declined by the simulated payment processor, whose rule
// declines amounts whose cents end in 13. "Last-Chance Lamp" has little stock, to
// show 409s.
const seedProducts = `
INSERT INTO products (id, name, price_cents, currency, initial_stock, available) VALUES
	('p01', 'Espresso Beans 1kg',     2490, 'USD', 100, 100),
	('p02', 'Pour-Over Kettle',       4500, 'USD',  50,  50),
	('p03', 'Ceramic Dripper',        2200, 'USD',  80,  80),
	('p04', 'Paper Filters x100',      650, 'USD', 500, 500),
	('p05', 'Burr Grinder',          12900, 'USD',  25,  25),
	('p06', 'Digital Scale',          3900, 'USD',  60,  60),
	('p07', 'Milk Frother',           2900, 'USD',  40,  40),
	('p08', 'Stoneware Mug',          1400, 'USD', 200, 200),
	('p09', 'Travel Tumbler',         2400, 'USD', 120, 120),
	('p10', 'Cold Brew Jar',          3100, 'USD',  70,  70),
	('p11', 'Green Tea Sencha 250g',  1800, 'USD', 150, 150),
	('p12', 'Chai Spice Mix',          950, 'USD', 150, 150),
	('p13', 'Cocoa Powder 500g',      1250, 'USD', 100, 100),
	('p14', 'Moka Pot',               3500, 'USD',  45,  45),
	('p15', 'French Press',           2990, 'USD',  55,  55),
	('p16', 'Barista Apron',          3300, 'USD',  30,  30),
	('p17', 'Tamper',                 1900, 'USD',  35,  35),
	('p18', 'Knock Box',              2700, 'USD',  20,  20),
	('p19', 'Decaf Beans 1kg',        2390, 'USD',  90,  90),
	('p20', 'Cleaning Tablets',        990, 'USD', 300, 300),
	('p21', 'Gift Card 50',           5000, 'USD', 1000, 1000),
	('p22', 'Last-Chance Lamp',       8800, 'USD',   3,   3),
	('p23', 'Card Decline Tester',    1313, 'USD', 1000, 1000),
	('p24', 'Sticker Pack',            300, 'USD', 1000, 1000);`

const productCols = `id, name, price_cents, currency, available`

func scanProduct(row interface{ Scan(...any) error }) (Product, error) {
	var p Product
	err := row.Scan(&p.ID, &p.Name, &p.PriceCents, &p.Currency, &p.Stock)
	return p, err
}

// ListProducts returns every product, or those of ids, ordered by id.
func (s *Store) ListProducts(ctx context.Context, ids ...string) ([]Product, error) {
	q, args := `SELECT `+productCols+` FROM products ORDER BY id`, []any(nil)
	if len(ids) > 0 {
		q = `SELECT ` + productCols + ` FROM products WHERE id IN (?` + strings.Repeat(",?", len(ids)-1) + `) ORDER BY id`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list products: %w", err)
	}
	defer rows.Close()
	out := []Product{}
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: list products: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: list products: %w", err)
	}
	return out, nil
}

// GetProduct returns one product or ErrProductNotFound.
func (s *Store) GetProduct(ctx context.Context, id string) (Product, error) {
	p, err := scanProduct(s.stmts.QueryRow(ctx, nil, `SELECT `+productCols+` FROM products WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, ErrProductNotFound
	}
	if err != nil {
		return Product{}, fmt.Errorf("catalog: get product: %w", err)
	}
	return p, nil
}

// Reserve holds the items' stock for orderID in one transaction (see Service.Reserve).
// The UNIQUE constraint on reservations.order_id makes a second reservation for one
// order impossible even under a race the code did not foresee.
// The hold expires after ttl, on the database's clock.
func (s *Store) Reserve(ctx context.Context, orderID string, items []Item, ttl time.Duration) (Reservation, bool, error) {
	var res Reservation
	created := false
	err := s.stmts.InTx(ctx, func(tx *sql.Tx) error {
		existing, err := s.reservationBy(ctx, tx, "order_id", orderID)
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
		if _, err := s.stmts.Exec(ctx, tx, `INSERT INTO reservations (id, order_id, status, expires_at)
			VALUES (?, ?, 'held', unixepoch('subsec') + ?)`, res.ID, orderID, ttl.Seconds()); err != nil {
			return fmt.Errorf("catalog: insert reservation: %w", err)
		}
		for _, it := range items {
			r, err := s.stmts.Exec(ctx, tx, `UPDATE products SET available = available - ?1, held = held + ?1
				WHERE id = ?2 AND available >= ?1`, it.Quantity, it.ProductID)
			if err != nil {
				return fmt.Errorf("catalog: hold stock: %w", err)
			}
			if n, err := r.RowsAffected(); err != nil || n != 1 {
				var exists int
				if err := s.stmts.QueryRow(ctx, tx, `SELECT count(*) FROM products WHERE id = ?`, it.ProductID).Scan(&exists); err != nil {
					return fmt.Errorf("catalog: hold stock: %w", err)
				}
				if exists == 0 {
					return fmt.Errorf("%w: %q", ErrUnknownProduct, it.ProductID)
				}
				return fmt.Errorf("%w: product %q: %d requested", ErrInsufficientStock, it.ProductID, it.Quantity)
			}
			if _, err := s.stmts.Exec(ctx, tx, `INSERT INTO reservation_items (reservation_id, product_id, quantity) VALUES (?, ?, ?)`,
				res.ID, it.ProductID, it.Quantity); err != nil {
				return fmt.Errorf("catalog: insert reservation item: %w", err)
			}
		}
		res.Items = sortedItems(items)
		created = true
		return nil
	})
	if err != nil {
		return Reservation{}, false, err
	}
	return res, created, nil
}

// GetReservation returns one reservation or ErrReservationNotFound.
func (s *Store) GetReservation(ctx context.Context, id string) (Reservation, error) {
	var res Reservation
	err := s.stmts.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.reservationBy(ctx, tx, "id", id)
		return err
	})
	return res, err
}

// Confirm moves a held reservation's stock to sold (see Service.Confirm). A hold past
// its expiry is released instead, in the same transaction, and Confirm answers
// ErrReservationReleased.
func (s *Store) Confirm(ctx context.Context, id string) (Reservation, error) {
	var expired bool
	res, err := s.transition(ctx, id, confirmStep(&expired))
	return expiredHold(res, err, &expired)
}

// A transition's step decides, from a reservation and whether it is past its expiry,
// its new status ("" for none) and how its items' stock moves. Store and
// PostgresStore share the steps; each turns a move into its SQL.
type step func(res Reservation, expired bool) (status string, m move, err error)

// move is how a transition moves each item's stock between the product's columns.
type move int

const (
	heldToSold move = iota + 1
	heldToAvailable
	soldToAvailable
)

// set returns the SET clause of m, with q the placeholder of the item's quantity
// ("?1" for SQLite, "$1" for PostgreSQL).
func (m move) set(q string) string {
	switch m {
	case heldToSold:
		return "held = held - " + q + ", sold = sold + " + q
	case heldToAvailable:
		return "held = held - " + q + ", available = available + " + q
	}
	return "sold = sold - " + q + ", available = available + " + q
}

// confirmStep confirms a held reservation, and releases one past its expiry, setting
// *expired so that the caller answers ErrReservationReleased once that committed.
func confirmStep(expired *bool) step {
	return func(res Reservation, past bool) (string, move, error) {
		switch {
		case res.Status == StatusConfirmed:
			return "", 0, nil
		case res.Status == StatusReleased:
			return "", 0, ErrReservationReleased
		case past:
			*expired = true
			return StatusReleased, heldToAvailable, nil
		}
		return StatusConfirmed, heldToSold, nil
	}
}

// expiredHold turns a confirmation that released an expired hold into
// ErrReservationReleased.
func expiredHold(res Reservation, err error, expired *bool) (Reservation, error) {
	if err == nil && *expired {
		return Reservation{}, fmt.Errorf("%w: the hold expired", ErrReservationReleased)
	}
	return res, err
}

// releaseStep returns a reservation's held or sold stock to available.
func releaseStep(res Reservation, _ bool) (string, move, error) {
	switch res.Status {
	case StatusReleased:
		return "", 0, nil
	case StatusConfirmed:
		return StatusReleased, soldToAvailable, nil
	}
	return StatusReleased, heldToAvailable, nil
}

// sweepStep releases a hold past its expiry, setting *did, and leaves any other
// reservation alone (confirmed or released meanwhile).
func sweepStep(did *bool) step {
	return func(res Reservation, past bool) (string, move, error) {
		if res.Status != StatusHeld || !past {
			return "", 0, nil
		}
		*did = true
		return StatusReleased, heldToAvailable, nil
	}
}

// ReleaseExpired releases up to limit held reservations past their expiry, oldest
// first, each in its own transaction (as Release), and returns how many it released.
// A hold confirmed or released meanwhile is left alone.
func (s *Store) ReleaseExpired(ctx context.Context, limit int) (int, error) {
	rows, err := s.stmts.Query(ctx, nil, `SELECT id FROM reservations
		WHERE status = 'held' AND expires_at <= unixepoch('subsec') ORDER BY expires_at LIMIT ?`, limit)
	if err != nil {
		return 0, fmt.Errorf("catalog: find expired holds: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("catalog: find expired holds: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("catalog: find expired holds: %w", err)
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

// Release returns a reservation's stock to available (see Service.Release).
func (s *Store) Release(ctx context.Context, id string) (Reservation, error) {
	return s.transition(ctx, id, releaseStep)
}

// transition changes a reservation's status and moves its stock in one transaction,
// as decide says.
func (s *Store) transition(ctx context.Context, id string, decide step) (Reservation, error) {
	var res Reservation
	err := s.stmts.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		var expired bool
		if res, expired, err = s.reservationRow(ctx, tx, "id", id); err != nil {
			return err
		}
		status, m, err := decide(res, expired)
		if err != nil || status == "" {
			return err
		}
		for _, it := range res.Items {
			if _, err := s.stmts.Exec(ctx, tx, `UPDATE products SET `+m.set("?1")+` WHERE id = ?2`, it.Quantity, it.ProductID); err != nil {
				return fmt.Errorf("catalog: move stock: %w", err)
			}
		}
		if _, err := s.stmts.Exec(ctx, tx, `UPDATE reservations SET status = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`, status, id); err != nil {
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
func (s *Store) Inventory(ctx context.Context) ([]StockLevel, error) {
	rows, err := s.stmts.Query(ctx, nil, `SELECT id, initial_stock, available, held, sold FROM products ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("catalog: inventory: %w", err)
	}
	defer rows.Close()
	out := []StockLevel{}
	for rows.Next() {
		var l StockLevel
		if err := rows.Scan(&l.ProductID, &l.Initial, &l.Available, &l.Held, &l.Sold); err != nil {
			return nil, fmt.Errorf("catalog: inventory: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: inventory: %w", err)
	}
	return out, nil
}

// reservationBy loads a reservation and its items by id or order_id (col is a
// constant chosen by the caller, never input).
func (s *Store) reservationBy(ctx context.Context, tx *sql.Tx, col, v string) (Reservation, error) {
	res, _, err := s.reservationRow(ctx, tx, col, v)
	return res, err
}

// reservationRow is reservationBy that also says whether the reservation is past its
// expiry, by the database's clock.
func (s *Store) reservationRow(ctx context.Context, tx *sql.Tx, col, v string) (res Reservation, expired bool, err error) {
	err = s.stmts.QueryRow(ctx, tx, `SELECT id, order_id, status,
		coalesce(expires_at <= unixepoch('subsec'), 0) FROM reservations WHERE `+col+` = ?`, v).
		Scan(&res.ID, &res.OrderID, &res.Status, &expired)
	if errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, false, ErrReservationNotFound
	}
	if err != nil {
		return Reservation{}, false, fmt.Errorf("catalog: get reservation: %w", err)
	}
	rows, err := s.stmts.Query(ctx, tx, `SELECT product_id, quantity FROM reservation_items WHERE reservation_id = ? ORDER BY product_id`, res.ID)
	if err != nil {
		return Reservation{}, false, fmt.Errorf("catalog: get reservation items: %w", err)
	}
	defer rows.Close()
	res.Items = []Item{}
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.ProductID, &it.Quantity); err != nil {
			return Reservation{}, false, fmt.Errorf("catalog: get reservation items: %w", err)
		}
		res.Items = append(res.Items, it)
	}
	if err := rows.Err(); err != nil {
		return Reservation{}, false, fmt.Errorf("catalog: get reservation items: %w", err)
	}
	return res, expired, nil
}

func sortedItems(items []Item) []Item {
	out := slices.Clone(items)
	slices.SortFunc(out, func(a, b Item) int { return strings.Compare(a.ProductID, b.ProductID) })
	return out
}

func sameItems(stored, requested []Item) bool {
	return slices.Equal(stored, sortedItems(requested))
}

// Restock tops up every product with fewer than below units available to level
// units, raising initial_stock by as much so that available+held+sold=initial_stock
// still holds, in one statement, and returns how many products it topped up. Load
// runs use it (cmd/shop -restock) so that they measure capacity, not stock. It fails
// when below or level is negative or below exceeds level.
func (s *Store) Restock(ctx context.Context, below, level int64) (int, error) {
	if below < 0 || level < 0 || below > level {
		return 0, fmt.Errorf("catalog: restock below %d to %d: want 0 <= below <= level", below, level)
	}
	res, err := s.stmts.Exec(ctx, nil, `UPDATE products SET initial_stock = initial_stock + ?1 - available, available = ?1 WHERE available < ?2`, level, below)
	if err != nil {
		return 0, fmt.Errorf("catalog: restock: %w", sqlitedb.Unavailable(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("catalog: restock: %w", err)
	}
	return int(n), nil
}
