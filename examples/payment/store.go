package payment

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

// Store is the payment ledger and the idempotency keys, in SQLite. A Store is safe
// for concurrent use, and several processes on one host may share its database file
// (see the package documentation).
type Store struct {
	db    *sql.DB
	stmts *sqlitedb.Stmts
}

// NewStore migrates db to the current schema and returns a Store over it. The caller
// keeps ownership of db and closes it after the Store's last use.
func NewStore(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqlitedb.Migrate(ctx, db, migrations()); err != nil {
		return nil, fmt.Errorf("payment: %w", err)
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
		{Version: 1, Name: "payments and idempotency keys", SQL: `
CREATE TABLE payments (
	id              TEXT PRIMARY KEY,
	order_id        TEXT NOT NULL,
	amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
	currency        TEXT NOT NULL CHECK (length(currency) = 3),
	status          TEXT NOT NULL CHECK (status IN ('captured', 'declined', 'refunded')),
	decline_reason  TEXT NOT NULL DEFAULT '',
	-- One payment per idempotency key, whatever the code above does.
	idempotency_key TEXT NOT NULL UNIQUE,
	created_at      TEXT NOT NULL,
	refunded_at     TEXT
);
-- At most one charge that moved money per order, whatever the code above does.
-- Declined attempts moved nothing and may repeat.
CREATE UNIQUE INDEX payments_one_charge_per_order ON payments (order_id)
	WHERE status IN ('captured', 'refunded');
CREATE INDEX payments_by_order ON payments (order_id, created_at);

CREATE TABLE idempotency_keys (
	key           TEXT PRIMARY KEY,
	request_hash  TEXT NOT NULL,
	state         TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
	claim_token   TEXT NOT NULL,
	claimed_at    INTEGER NOT NULL, -- unix nanoseconds
	payment_id    TEXT REFERENCES payments (id),
	response_body BLOB,             -- the payment as first answered, JSON
	CHECK ((state = 'completed') = (payment_id IS NOT NULL AND response_body IS NOT NULL))
);`},
		// A key voided before any charge claimed it (the caller gave the order up):
		// a charge that arrives with it later is refused, so no money moves for an
		// order that is no more.
		{Version: 2, Name: "voided keys", SQL: `
CREATE TABLE voided_keys (
	key        TEXT PRIMARY KEY,
	voided_at  TEXT NOT NULL
);`},
	}
}

// Claim is the outcome of claiming an idempotency key: either this caller now owns
// the key (Token set) or the key already completed (Completed set).
type Claim struct {
	Token     string
	Completed *Payment
}

// sqliteNowNanos is SQLite's clock, in unix nanoseconds (to the millisecond): the
// host's clock, read by SQLite, which every process sharing the file agrees on.
const sqliteNowNanos = `CAST(unixepoch('subsec') * 1000000000 AS INTEGER)`

// Claim claims key for a request with the given hash, in one transaction:
//
//   - a new key is inserted in_flight and returned with a fresh token;
//   - a key with another hash is ErrKeyReused;
//   - a completed key returns the stored payment;
//   - an in_flight key claimed less than lease ago is an *InFlightError with the
//     lease left; an older claim was abandoned (no money moves before completion)
//     and is taken over.
//
// The claim's time and its age are the database's clock, never the caller's: two
// callers whose clocks disagree agree on whether a claim is live.
func (s *Store) Claim(ctx context.Context, key, hash string, lease time.Duration) (Claim, error) {
	var c Claim
	err := s.stmts.InTx(ctx, func(tx *sql.Tx) error {
		var (
			gotHash, state string
			remaining      int64 // nanoseconds of the lease left, on the database's clock
			body           []byte
		)
		err := s.stmts.QueryRow(ctx, tx, `SELECT request_hash, state, claimed_at + ? - `+sqliteNowNanos+`, response_body
			FROM idempotency_keys WHERE key = ?`, int64(lease), key).
			Scan(&gotHash, &state, &remaining, &body)
		token := rand.Text()
		switch {
		case errors.Is(err, sql.ErrNoRows):
			var voided int
			if err := s.stmts.QueryRow(ctx, tx, `SELECT count(*) FROM voided_keys WHERE key = ?`, key).Scan(&voided); err != nil {
				return fmt.Errorf("payment: read voided keys: %w", err)
			}
			if voided > 0 {
				return ErrVoided
			}
			_, err = s.stmts.Exec(ctx, tx, `INSERT INTO idempotency_keys (key, request_hash, state, claim_token, claimed_at)
				VALUES (?, ?, 'in_flight', ?, `+sqliteNowNanos+`)`, key, hash, token)
			if err != nil {
				return fmt.Errorf("payment: claim key: %w", err)
			}
			c.Token = token
			return nil
		case err != nil:
			return fmt.Errorf("payment: read key: %w", err)
		case gotHash != hash:
			return ErrKeyReused
		case state == "completed":
			var p Payment
			if err := json.Unmarshal(body, &p); err != nil {
				return fmt.Errorf("payment: stored response: %w", err)
			}
			c.Completed = &p
			return nil
		case remaining > 0:
			return &InFlightError{Remaining: time.Duration(remaining)}
		}
		_, err = s.stmts.Exec(ctx, tx, `UPDATE idempotency_keys SET claim_token = ?, claimed_at = `+sqliteNowNanos+`
			WHERE key = ? AND state = 'in_flight'`, token, key)
		if err != nil {
			return fmt.Errorf("payment: take over key: %w", err)
		}
		c.Token = token
		return nil
	})
	return c, err
}

// VoidUnclaimed voids key if no charge ever claimed it, and reports whether the key
// is now void (also when it already was). A key that was claimed (in flight or
// completed) is left alone: the caller settles it as a charge would.
func (s *Store) VoidUnclaimed(ctx context.Context, key string, now time.Time) (bool, error) {
	voided := false
	err := s.stmts.InTx(ctx, func(tx *sql.Tx) error {
		var claimed int
		if err := s.stmts.QueryRow(ctx, tx, `SELECT count(*) FROM idempotency_keys WHERE key = ?`, key).Scan(&claimed); err != nil {
			return fmt.Errorf("payment: read key: %w", err)
		}
		if claimed > 0 {
			return nil
		}
		if _, err := s.stmts.Exec(ctx, tx, `INSERT INTO voided_keys (key, voided_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			key, now.UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("payment: void key: %w", err)
		}
		voided = true
		return nil
	})
	return voided, err
}

// Complete records p and completes key in ONE transaction, provided the caller
// still holds the claim (token). A lost claim is ErrInFlight; a second charge for
// p's order is ErrAlreadyCharged (from the UNIQUE index, not from a check that could
// race).
func (s *Store) Complete(ctx context.Context, key, token string, p Payment) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("payment: encode response: %w", err)
	}
	return s.stmts.InTx(ctx, func(tx *sql.Tx) error {
		// The transaction holds the write lock (BEGIN IMMEDIATE), so the claim cannot
		// change between this check and the commit.
		var held int
		err := s.stmts.QueryRow(ctx, tx, `SELECT count(*) FROM idempotency_keys WHERE key = ? AND state = 'in_flight' AND claim_token = ?`,
			key, token).Scan(&held)
		if err != nil {
			return fmt.Errorf("payment: check claim: %w", err)
		}
		if held != 1 {
			return ErrInFlight // the claim expired and another request took it over
		}
		_, err = s.stmts.Exec(ctx, tx, `INSERT INTO payments (id, order_id, amount_cents, currency, status, decline_reason, idempotency_key, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.OrderID, p.AmountCents, p.Currency, p.Status, p.DeclineReason, key, p.CreatedAt.UTC().Format(time.RFC3339Nano))
		if sqlitedb.IsUnique(err) {
			return ErrAlreadyCharged
		}
		if err != nil {
			return fmt.Errorf("payment: insert payment: %w", err)
		}
		r, err := s.stmts.Exec(ctx, tx, `UPDATE idempotency_keys SET state = 'completed', payment_id = ?, response_body = ?
			WHERE key = ? AND state = 'in_flight' AND claim_token = ?`, p.ID, body, key, token)
		if err != nil {
			return fmt.Errorf("payment: complete key: %w", err)
		}
		if n, err := r.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("payment: complete key: %d rows changed, want 1 (%v)", n, err)
		}
		return nil
	})
}

// Unclaim drops an in_flight claim held with token, so that a retry may start at
// once. It never touches a completed key.
func (s *Store) Unclaim(ctx context.Context, key, token string) error {
	_, err := s.stmts.Exec(ctx, nil, `DELETE FROM idempotency_keys WHERE key = ? AND state = 'in_flight' AND claim_token = ?`, key, token)
	if err != nil {
		return fmt.Errorf("payment: unclaim key: %w", err)
	}
	return nil
}

const paymentCols = `id, order_id, amount_cents, currency, status, decline_reason, created_at`

func scanPayment(row interface{ Scan(...any) error }) (Payment, error) {
	var (
		p       Payment
		created string
	)
	if err := row.Scan(&p.ID, &p.OrderID, &p.AmountCents, &p.Currency, &p.Status, &p.DeclineReason, &created); err != nil {
		return Payment{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		return Payment{}, fmt.Errorf("payment: created_at: %w", err)
	}
	p.CreatedAt = t
	return p, nil
}

// Get returns a payment or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Payment, error) {
	p, err := scanPayment(s.stmts.QueryRow(ctx, nil, `SELECT `+paymentCols+` FROM payments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, ErrNotFound
	}
	if err != nil {
		return Payment{}, fmt.Errorf("payment: get: %w", err)
	}
	return p, nil
}

// ListByOrder returns the order's payments, oldest first.
func (s *Store) ListByOrder(ctx context.Context, orderID string) ([]Payment, error) {
	rows, err := s.stmts.Query(ctx, nil, `SELECT `+paymentCols+` FROM payments WHERE order_id = ? ORDER BY created_at, rowid`, orderID)
	if err != nil {
		return nil, fmt.Errorf("payment: list: %w", err)
	}
	defer rows.Close()
	out := []Payment{}
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, fmt.Errorf("payment: list: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("payment: list: %w", err)
	}
	return out, nil
}

// MarkRefunded moves a captured payment to refunded and returns it. A payment that
// is already refunded is returned as is; a declined one is ErrNotRefundable.
func (s *Store) MarkRefunded(ctx context.Context, id string, now time.Time) (Payment, error) {
	var p Payment
	err := s.stmts.InTx(ctx, func(tx *sql.Tx) error {
		_, err := s.stmts.Exec(ctx, tx, `UPDATE payments SET status = 'refunded', refunded_at = ? WHERE id = ? AND status = 'captured'`,
			now.UTC().Format(time.RFC3339Nano), id)
		if err != nil {
			return fmt.Errorf("payment: refund: %w", err)
		}
		p, err = scanPayment(s.stmts.QueryRow(ctx, tx, `SELECT `+paymentCols+` FROM payments WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("payment: refund: %w", err)
		}
		if p.Status != StatusRefunded {
			return ErrNotRefundable
		}
		return nil
	})
	return p, err
}
