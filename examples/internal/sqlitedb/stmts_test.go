package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

func openStmtsDB(t *testing.T) (*sql.DB, *Stmts) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), Settings{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	s := NewStmts(db)
	t.Cleanup(func() { _ = s.Close() })
	return db, s
}

func (s *Stmts) state() (cached, prepares int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m), s.prepares
}

const (
	insertKV = `INSERT INTO kv (k, v) VALUES (?, ?)`
	getKV    = `SELECT v FROM kv WHERE k = ?`
	countKV  = `SELECT count(*) FROM kv`
)

func TestStmtsPrepareOnceAndReuse(t *testing.T) {
	ctx := context.Background()
	_, s := openStmtsDB(t)
	for i := range 50 {
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := s.Exec(ctx, tx, insertKV, fmt.Sprint(i), i); err != nil {
				return err
			}
			var v int
			if err := s.QueryRow(ctx, tx, getKV, fmt.Sprint(i)).Scan(&v); err != nil {
				return err
			}
			if v != i {
				return fmt.Errorf("read %d, want %d", v, i)
			}
			return nil
		})
		if err != nil {
			t.Fatal(i, err)
		}
	}
	// The first transaction ran both unprepared; the second InTx prepared them, once.
	if cached, prepares := s.state(); cached != 2 || prepares != 2 {
		t.Fatalf("cached %d statements after %d prepares, want 2 and 2", cached, prepares)
	}
	first := s.m[insertKV]
	for range 10 {
		var n int
		if err := s.QueryRow(ctx, nil, countKV).Scan(&n); err != nil || n != 50 {
			t.Fatalf("count = %d, %v; want 50", n, err)
		}
	}
	if cached, prepares := s.state(); cached != 3 || prepares != 3 || s.m[insertKV] != first {
		t.Fatalf("cached %d after %d prepares, want 3 and 3 and the same statement", cached, prepares)
	}
}

func TestStmtsRollbackAndErrors(t *testing.T) {
	ctx := context.Background()
	_, s := openStmtsDB(t)
	errBoom := errors.New("boom")
	for range 3 { // unprepared, then prepared
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := s.Exec(ctx, tx, insertKV, "x", 1); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
	}
	var n int
	if err := s.QueryRow(ctx, nil, countKV).Scan(&n); err != nil || n != 0 {
		t.Fatalf("count after rollbacks = %d, %v; want 0", n, err)
	}
	// A constraint error comes through as the driver's, as IsUnique expects.
	if _, err := s.Exec(ctx, nil, insertKV, "x", 1); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			_, err := s.Exec(ctx, tx, insertKV, "x", 2)
			return err
		})
		if !IsUnique(err) {
			t.Fatalf("duplicate insert = %v, want a unique violation", err)
		}
	}
	if err := s.QueryRow(ctx, nil, getKV, "absent").Scan(&n); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("absent row = %v, want sql.ErrNoRows", err)
	}
}

func TestStmtsInvalidSQLNotCached(t *testing.T) {
	ctx := context.Background()
	_, s := openStmtsDB(t)
	const bad = `SELEKT nonsense`
	for range 3 {
		if _, err := s.Exec(ctx, nil, bad); err == nil {
			t.Fatal("invalid SQL succeeded")
		}
		if err := s.QueryRow(ctx, nil, bad).Scan(new(int)); err == nil {
			t.Fatal("invalid SQL row succeeded")
		}
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			_, err := s.Query(ctx, tx, bad)
			return err
		})
		if err == nil {
			t.Fatal("invalid SQL in a transaction succeeded")
		}
		var n int
		if err := s.QueryRow(ctx, nil, countKV).Scan(&n); err != nil {
			t.Fatalf("valid SQL after invalid: %v", err)
		}
	}
	if cached, _ := s.state(); cached != 1 {
		t.Fatalf("cached %d statements, want 1 (the valid one)", cached)
	}
}

func TestStmtsConcurrent(t *testing.T) {
	ctx := context.Background()
	_, s := openStmtsDB(t)
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				err := s.InTx(ctx, func(tx *sql.Tx) error {
					k := fmt.Sprintf("%d-%d", w, i)
					if _, err := s.Exec(ctx, tx, insertKV, k, i); err != nil {
						return err
					}
					rows, err := s.Query(ctx, tx, getKV, k)
					if err != nil {
						return err
					}
					defer rows.Close()
					if !rows.Next() {
						return fmt.Errorf("row %s missing: %v", k, rows.Err())
					}
					return rows.Err()
				})
				if err == nil {
					var n int
					err = s.QueryRow(ctx, nil, countKV).Scan(&n)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n int
	if err := s.QueryRow(ctx, nil, countKV).Scan(&n); err != nil || n != workers*each {
		t.Fatalf("count = %d, %v; want %d", n, err, workers*each)
	}
	if cached, prepares := s.state(); cached != 3 || prepares != 3 {
		t.Fatalf("cached %d after %d prepares, want 3 and 3", cached, prepares)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// After Close, queries still run, unprepared.
	if err := s.QueryRow(ctx, nil, countKV).Scan(&n); err != nil {
		t.Fatal(err)
	}
}
