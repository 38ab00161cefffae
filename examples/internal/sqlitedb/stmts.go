package sqlitedb

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds a Stmts cache. The stores pass a few dozen constant queries; a
// query past the bound runs unprepared, as it would without the cache.
const maxStmts = 256

// Stmts is a cache of prepared statements over one *sql.DB, so that a query on the
// request path is parsed once per connection instead of on every call (database/sql
// keeps only statements the caller prepared). It is safe for concurrent use.
//
// Only constant SQL may be passed, never SQL built from input: the cache is keyed by
// the query text and bounded (past the bound a query runs unprepared).
//
// A statement is prepared on the *sql.DB and run inside a transaction through
// tx.StmtContext, which reuses the statement already prepared on the transaction's
// connection. Preparing on the *sql.DB needs a free connection, which a caller
// inside a transaction must not wait for (every connection may be held by a
// transaction that waits the same way), so a query first met inside a transaction
// runs unprepared once and is prepared by the next InTx, before it begins. A failed
// prepare is never cached. Errors are the driver's, as the uncached calls return
// them, so Unavailable and IsUnique see them alike.
type Stmts struct {
	db *sql.DB

	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending map[string]struct{} // met in a transaction, to prepare before the next one
	closed  bool
	// prepares counts successful prepares on db, for tests.
	prepares int
}

// NewStmts returns an empty cache over db. Close it before db.
func NewStmts(db *sql.DB) *Stmts {
	return &Stmts{db: db, m: map[string]*sql.Stmt{}, pending: map[string]struct{}{}}
}

// Row is the result of QueryRow: an *sql.Row, or the error of preparing it.
type Row struct {
	row *sql.Row
	err error
}

// Scan is (*sql.Row).Scan, or the prepare error.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.row.Scan(dest...)
}

// Err is (*sql.Row).Err, or the prepare error.
func (r *Row) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.row.Err()
}

// InTx is the package's InTx over the cache's db, after preparing the queries that
// earlier transactions met for the first time. A failed prepare there is dropped (the
// query runs unprepared, and reports its error, when next used).
func (s *Stmts) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.preparePending(ctx)
	return InTx(ctx, s.db, fn)
}

// Exec runs query with args in tx, or on the db when tx is nil.
func (s *Stmts) Exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, tx, query)
	switch {
	case err != nil:
		return nil, err
	case st != nil:
		return st.ExecContext(ctx, args...)
	case tx != nil:
		return tx.ExecContext(ctx, query, args...)
	}
	return s.db.ExecContext(ctx, query, args...)
}

// Query runs query with args in tx, or on the db when tx is nil.
func (s *Stmts) Query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, tx, query)
	switch {
	case err != nil:
		return nil, err
	case st != nil:
		return st.QueryContext(ctx, args...)
	case tx != nil:
		return tx.QueryContext(ctx, query, args...)
	}
	return s.db.QueryContext(ctx, query, args...)
}

// QueryRow runs query with args in tx, or on the db when tx is nil.
func (s *Stmts) QueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *Row {
	st, err := s.stmt(ctx, tx, query)
	switch {
	case err != nil:
		return &Row{err: err}
	case st != nil:
		return &Row{row: st.QueryRowContext(ctx, args...)}
	case tx != nil:
		return &Row{row: tx.QueryRowContext(ctx, query, args...)}
	}
	return &Row{row: s.db.QueryRowContext(ctx, query, args...)}
}

// stmt returns the statement to run query with: the cached one (bound to tx when tx
// is set), or nil to run query unprepared.
func (s *Stmts) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.m[query]
	full := s.closed || len(s.m) >= maxStmts
	if !ok && tx != nil && !full && len(s.pending) < maxStmts {
		s.pending[query] = struct{}{}
	}
	s.mu.Unlock()
	switch {
	case ok && tx != nil:
		// Closed with tx; the cached statement stays open.
		return tx.StmtContext(ctx, st), nil
	case ok:
		return st, nil
	case tx != nil || full:
		return nil, nil
	}
	return s.prepare(ctx, query)
}

// prepare prepares query on the db and caches it. It holds no connection, so it may
// wait for one.
func (s *Stmts) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, query)
	if prev, ok := s.m[query]; ok { // another goroutine won the race
		_ = st.Close()
		return prev, nil
	}
	if s.closed || len(s.m) >= maxStmts {
		_ = st.Close()
		return nil, nil
	}
	s.m[query] = st
	s.prepares++
	return st, nil
}

func (s *Stmts) preparePending(ctx context.Context) {
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(s.pending))
	for q := range s.pending {
		queries = append(queries, q)
	}
	clear(s.pending)
	s.mu.Unlock()
	for _, q := range queries {
		_, _ = s.prepare(ctx, q)
	}
}

// Close closes the cached statements; later calls run their queries unprepared. It
// returns the first error.
func (s *Stmts) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var first error
	for q, st := range s.m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.m, q)
	}
	clear(s.pending)
	return first
}
