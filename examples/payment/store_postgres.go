package payment

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gantry-go/gantry/examples/internal/pgdb"
)

// PostgresStore is the payment ledger and the idempotency keys in PostgreSQL, with
// the tables, constraints and behaviour of Store. Every transaction on a key first
// takes a transaction-scoped advisory lock on it, so the claim, takeover, void and
// completion of one key are serialized across all replicas as Store's BEGIN
// IMMEDIATE serializes them on one host; the UNIQUE constraints stay the last line
// of defence. Connection and capacity failures are ErrStoreUnavailable (503). A
// PostgresStore is safe for concurrent use by any number of processes.
type PostgresStore struct {
	pool *pgxpool.Pool
}

// NewPostgresStore migrates the database behind pool to the current schema (see
// MigratePostgres) and returns a PostgresStore over it. The caller keeps ownership of
// pool and closes it after the store's last use.
func NewPostgresStore(ctx context.Context, pool *pgxpool.Pool) (*PostgresStore, error) {
	if err := migratePostgres(ctx, pool, postgresMigrations()); err != nil {
		return nil, err
	}
	return &PostgresStore{pool: pool}, nil
}

// postgresMigrations is the PostgreSQL schema history, oldest first, the same tables
// and constraints as migrations() in PostgreSQL's types. Released migrations are never
// edited; changes are new migrations.
func postgresMigrations() []pgdb.Migration {
	return []pgdb.Migration{
		{Version: 1, Name: "payments and idempotency keys", SQL: `
CREATE TABLE payments (
	id              TEXT PRIMARY KEY,
	seq             BIGINT GENERATED ALWAYS AS IDENTITY, -- insertion order, as SQLite's rowid
	order_id        TEXT NOT NULL,
	amount_cents    BIGINT NOT NULL CHECK (amount_cents > 0),
	currency        TEXT NOT NULL CHECK (length(currency) = 3),
	status          TEXT NOT NULL CHECK (status IN ('captured', 'declined', 'refunded')),
	decline_reason  TEXT NOT NULL DEFAULT '',
	-- One payment per idempotency key, whatever the code above does.
	idempotency_key TEXT NOT NULL UNIQUE,
	created_at      TIMESTAMPTZ NOT NULL,
	refunded_at     TIMESTAMPTZ
);
-- At most one charge that moved money per order, whatever the code above does.
-- Declined attempts moved nothing and may repeat.
CREATE UNIQUE INDEX payments_one_charge_per_order ON payments (order_id)
	WHERE status IN ('captured', 'refunded');
CREATE INDEX payments_by_order ON payments (order_id, created_at, seq);

CREATE TABLE idempotency_keys (
	key           TEXT PRIMARY KEY,
	request_hash  TEXT NOT NULL,
	state         TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
	claim_token   TEXT NOT NULL,
	claimed_at    BIGINT NOT NULL, -- unix nanoseconds
	payment_id    TEXT REFERENCES payments (id),
	response_body BYTEA,           -- the payment as first answered, JSON, byte for byte
	CHECK ((state = 'completed') = (payment_id IS NOT NULL AND response_body IS NOT NULL))
);`},
		{Version: 2, Name: "voided keys", SQL: `
CREATE TABLE voided_keys (
	key        TEXT PRIMARY KEY,
	voided_at  TIMESTAMPTZ NOT NULL
);`},
		// The readiness probe's row (PostgresStore.WriteProbe): made here, once,
		// because two replicas racing on CREATE TABLE IF NOT EXISTS can fail.
		{Version: 3, Name: "health probe", SQL: `
CREATE TABLE gantry_health_probe (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	at TIMESTAMPTZ NOT NULL
);`},
	}
}

// lockKey takes the transaction's advisory lock on key: held until commit or
// rollback, it serializes every transaction on one key. Keys that hash alike only
// wait for each other.
func lockKey(ctx context.Context, tx pgx.Tx, key string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
		return fmt.Errorf("payment: lock key: %w", err)
	}
	return nil
}

// pgNowNanos is the database server's clock, in unix nanoseconds (to the
// microsecond). clock_timestamp(), not now(): the time the statement runs, after the
// key's lock was waited for, not the time the transaction began.
const pgNowNanos = `(extract(epoch FROM clock_timestamp()) * 1000000000)::bigint`

// Claim is Store.Claim on PostgreSQL, on the database server's clock.
func (s *PostgresStore) Claim(ctx context.Context, key, hash string, lease time.Duration) (Claim, error) {
	var c Claim
	err := pgInTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockKey(ctx, tx, key); err != nil {
			return err
		}
		var (
			gotHash, state string
			remaining      int64 // nanoseconds of the lease left, on the database's clock
			body           []byte
		)
		err := tx.QueryRow(ctx, `SELECT request_hash, state, claimed_at + $1::bigint - `+pgNowNanos+`, response_body
			FROM idempotency_keys WHERE key = $2`, int64(lease), key).
			Scan(&gotHash, &state, &remaining, &body)
		token := rand.Text()
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			var voided bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM voided_keys WHERE key = $1)`, key).Scan(&voided); err != nil {
				return fmt.Errorf("payment: read voided keys: %w", err)
			}
			if voided {
				return ErrVoided
			}
			_, err = tx.Exec(ctx, `INSERT INTO idempotency_keys (key, request_hash, state, claim_token, claimed_at)
				VALUES ($1, $2, 'in_flight', $3, `+pgNowNanos+`)`, key, hash, token)
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
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET claim_token = $1, claimed_at = `+pgNowNanos+`
			WHERE key = $2 AND state = 'in_flight'`, token, key)
		if err != nil {
			return fmt.Errorf("payment: take over key: %w", err)
		}
		c.Token = token
		return nil
	})
	return c, err
}

// VoidUnclaimed is Store.VoidUnclaimed on PostgreSQL.
func (s *PostgresStore) VoidUnclaimed(ctx context.Context, key string, now time.Time) (bool, error) {
	voided := false
	err := pgInTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockKey(ctx, tx, key); err != nil {
			return err
		}
		var claimed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE key = $1)`, key).Scan(&claimed); err != nil {
			return fmt.Errorf("payment: read key: %w", err)
		}
		if claimed {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO voided_keys (key, voided_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, key, now.UTC()); err != nil {
			return fmt.Errorf("payment: void key: %w", err)
		}
		voided = true
		return nil
	})
	return voided, err
}

// Complete is Store.Complete on PostgreSQL: a lost claim is ErrInFlight, a second
// charge for p's order ErrAlreadyCharged (from the UNIQUE index).
func (s *PostgresStore) Complete(ctx context.Context, key, token string, p Payment) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("payment: encode response: %w", err)
	}
	return pgInTx(ctx, s.pool, func(tx pgx.Tx) error {
		// The key's lock is held to the commit, so the claim cannot be taken over
		// between this check and the commit.
		if err := lockKey(ctx, tx, key); err != nil {
			return err
		}
		var held bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE key = $1 AND state = 'in_flight' AND claim_token = $2)`,
			key, token).Scan(&held)
		if err != nil {
			return fmt.Errorf("payment: check claim: %w", err)
		}
		if !held {
			return ErrInFlight // the claim expired and another request took it over
		}
		_, err = tx.Exec(ctx, `INSERT INTO payments (id, order_id, amount_cents, currency, status, decline_reason, idempotency_key, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			p.ID, p.OrderID, p.AmountCents, p.Currency, p.Status, p.DeclineReason, key, p.CreatedAt.UTC())
		if pgIsUnique(err) {
			return ErrAlreadyCharged
		}
		if err != nil {
			return fmt.Errorf("payment: insert payment: %w", err)
		}
		tag, err := tx.Exec(ctx, `UPDATE idempotency_keys SET state = 'completed', payment_id = $1, response_body = $2
			WHERE key = $3 AND state = 'in_flight' AND claim_token = $4`, p.ID, body, key, token)
		if err != nil {
			return fmt.Errorf("payment: complete key: %w", err)
		}
		if n := tag.RowsAffected(); n != 1 {
			return fmt.Errorf("payment: complete key: %d rows changed, want 1", n)
		}
		return nil
	})
}

// Unclaim is Store.Unclaim on PostgreSQL.
func (s *PostgresStore) Unclaim(ctx context.Context, key, token string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE key = $1 AND state = 'in_flight' AND claim_token = $2`, key, token)
	if err != nil {
		return fmt.Errorf("payment: unclaim key: %w", pgUnavailable(err))
	}
	return nil
}

const pgPaymentCols = `id, order_id, amount_cents, currency, status, decline_reason, created_at`

func pgScanPayment(row pgx.Row) (Payment, error) {
	var p Payment
	if err := row.Scan(&p.ID, &p.OrderID, &p.AmountCents, &p.Currency, &p.Status, &p.DeclineReason, &p.CreatedAt); err != nil {
		return Payment{}, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return p, nil
}

// Get returns a payment or ErrNotFound.
func (s *PostgresStore) Get(ctx context.Context, id string) (Payment, error) {
	p, err := pgScanPayment(s.pool.QueryRow(ctx, `SELECT `+pgPaymentCols+` FROM payments WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, ErrNotFound
	}
	if err != nil {
		return Payment{}, fmt.Errorf("payment: get: %w", pgUnavailable(err))
	}
	return p, nil
}

// ListByOrder returns the order's payments, oldest first.
func (s *PostgresStore) ListByOrder(ctx context.Context, orderID string) ([]Payment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgPaymentCols+` FROM payments WHERE order_id = $1 ORDER BY created_at, seq`, orderID)
	if err != nil {
		return nil, fmt.Errorf("payment: list: %w", pgUnavailable(err))
	}
	defer rows.Close()
	out := []Payment{}
	for rows.Next() {
		p, err := pgScanPayment(rows)
		if err != nil {
			return nil, fmt.Errorf("payment: list: %w", pgUnavailable(err))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("payment: list: %w", pgUnavailable(err))
	}
	return out, nil
}

// MarkRefunded is Store.MarkRefunded on PostgreSQL.
func (s *PostgresStore) MarkRefunded(ctx context.Context, id string, now time.Time) (Payment, error) {
	var p Payment
	err := pgInTx(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE payments SET status = 'refunded', refunded_at = $1 WHERE id = $2 AND status = 'captured'`, now.UTC(), id)
		if err != nil {
			return fmt.Errorf("payment: refund: %w", err)
		}
		p, err = pgScanPayment(tx.QueryRow(ctx, `SELECT `+pgPaymentCols+` FROM payments WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
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

// WriteProbe is a readiness check that writes: it upserts the one row of
// gantry_health_probe, so that a database that cannot take writes (stopped,
// unreachable, out of disk, read-only) fails readiness. Its errors are
// ErrStoreUnavailable for those failures.
func (s *PostgresStore) WriteProbe(ctx context.Context) error {
	if err := pgdb.WriteProbe(ctx, s.pool, "gantry_health_probe"); err != nil {
		return fmt.Errorf("payment: write probe: %w", pgUnavailable(err))
	}
	return nil
}
