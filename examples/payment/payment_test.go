package payment_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"github.com/gantry-go/gantry/examples/internal/shoptest"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/examples/payment"
)

// clock is a settable time source for the service's Settings.Now (the times the
// ledger records; the idempotency lease is on the database's clock, see env.age).
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC).UnixNano()) // finer than a microsecond
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), path, sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("sqlitedb.Open() = %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

type env struct {
	srv   *httptest.Server
	db    *sql.DB // SQLite only
	path  string  // SQLite only
	clock *clock
	// Straight to the database, around the service (queries written with ?).
	exec     func(t testing.TB, query string, args ...any) error
	count    func(t testing.TB, query string, args ...any) int
	isUnique func(error) bool
	close    func() // closes the service's store
}

type options struct {
	backend backend // zero: SQLite
	path    string  // SQLite: the file; empty means a new one
	dsn     string  // PostgreSQL: the database; empty means a new one
	proc    payment.Processor
	set     payment.Settings
	clock   *clock
}

func newEnv(t testing.TB, o options) *env {
	t.Helper()
	if o.path == "" && o.backend.pg == nil {
		o.path = filepath.Join(t.TempDir(), "payment.db")
	}
	if o.proc == nil {
		o.proc = payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil)
	}
	if o.clock == nil {
		o.clock = newClock()
	}
	o.set.Now = o.clock.Now
	e := &env{clock: o.clock}
	var store payment.Ledger
	if o.backend.pg != nil {
		store = e.openPostgres(t, o)
	} else {
		db := openDB(t, o.path)
		s, err := payment.NewStore(context.Background(), db)
		if err != nil {
			t.Fatalf("payment.NewStore() = %v", err)
		}
		store, e.db, e.path = s, db, o.path
		e.exec = func(t testing.TB, q string, args ...any) error {
			_, err := db.ExecContext(context.Background(), q, args...)
			return err
		}
		e.count = func(t testing.TB, q string, args ...any) int {
			t.Helper()
			var n int
			if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		e.isUnique, e.close = sqlitedb.IsUnique, func() { _ = db.Close() }
	}
	srv := httptest.NewUnstartedServer(payment.NewHTTPHandler(payment.NewService(store, o.proc, o.set), nil))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the crash tests panic on purpose
	srv.Start()
	t.Cleanup(srv.Close)
	e.srv = srv
	return e
}

type result struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (e *env) do(t testing.TB, method, path, key, body string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) charge(t testing.TB, key, order string, amount int64) result {
	t.Helper()
	b, _ := json.Marshal(payment.ChargeRequest{OrderID: order, AmountCents: amount, Currency: "USD"})
	return e.do(t, http.MethodPost, "/payments", key, string(b))
}

// age moves key's claim d into the past on the database's clock, as if d had gone
// by since it was claimed: the lease is measured there, not on the service's clock.
func (e *env) age(t testing.TB, key string, d time.Duration) {
	t.Helper()
	if err := e.exec(t, `UPDATE idempotency_keys SET claimed_at = claimed_at - ? WHERE key = ?`, int64(d), key); err != nil {
		t.Fatalf("age the claim of %q by %v: %v", key, d, err)
	}
}

// ledger counts the rows in the payments table, straight from the database.
func (e *env) ledger(t testing.TB, where string, args ...any) int {
	t.Helper()
	return e.count(t, `SELECT count(*) FROM payments WHERE `+where, args...)
}

func decode[T any](t testing.TB, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T from %q (status %d, err %v): %v", v, r.body, r.status, r.err, err)
	}
	return v
}

func wantProblem(t testing.TB, r result, status int) {
	t.Helper()
	if r.err != nil || r.status != status {
		t.Errorf("status = %d (err %v), want %d (body %s)", r.status, r.err, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
}

func TestChargeOnceUnderConcurrentRetries(t *testing.T) {
	eachBackend(t, testChargeOnceUnderConcurrentRetries)
}

func testChargeOnceUnderConcurrentRetries(t *testing.T, b backend) {
	// A little latency keeps the first request in flight while the others arrive.
	e := newEnv(t, options{backend: b, proc: payment.NewSimulatedProcessor(payment.ProcessorSettings{Latency: 20 * time.Millisecond}, nil)})
	const n = 50
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = e.charge(t, "key-50", "order-50", 2500) })
	}
	wg.Wait()
	fresh, replayed, inFlight := 0, 0, 0
	ids := map[string]bool{}
	for _, r := range results {
		switch {
		case r.status == http.StatusCreated && r.header.Get("Idempotent-Replayed") == "true":
			replayed++
			ids[decode[payment.Payment](t, r).ID] = true
		case r.status == http.StatusCreated:
			fresh++
			ids[decode[payment.Payment](t, r).ID] = true
		case r.status == http.StatusConflict:
			inFlight++
		default:
			t.Errorf("concurrent POST /payments = %d %s (err %v), want 201 or 409", r.status, r.body, r.err)
		}
	}
	if fresh != 1 || len(ids) != 1 {
		t.Errorf("%d concurrent charges with one key: %d fresh 201s and %d payment ids, want 1 and 1", n, fresh, len(ids))
	}
	if got := e.ledger(t, "order_id = ?", "order-50"); got != 1 {
		t.Errorf("ledger rows for the order = %d, want 1", got)
	}
	t.Logf("50 concurrent: %d fresh, %d replayed, %d in flight (409)", fresh, replayed, inFlight)
	// Once settled, every retry is a replay.
	if r := e.charge(t, "key-50", "order-50", 2500); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry after settling = %d replayed=%q, want 201 replayed=true", r.status, r.header.Get("Idempotent-Replayed"))
	}
}

func TestSameKeyDifferentBodyIs422(t *testing.T) { eachBackend(t, testSameKeyDifferentBodyIs422) }

func testSameKeyDifferentBodyIs422(t *testing.T, b backend) {
	e := newEnv(t, options{backend: b})
	first := e.charge(t, "k1", "order-1", 1000)
	if first.status != http.StatusCreated {
		t.Fatalf("POST /payments = %d %s, want 201", first.status, first.body)
	}
	for _, tc := range []struct {
		name   string
		order  string
		amount int64
	}{{"other amount", "order-1", 2000}, {"other order", "order-2", 1000}} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.charge(t, "k1", tc.order, tc.amount), http.StatusUnprocessableEntity)
		})
	}
	if got := e.ledger(t, "1 = 1"); got != 1 {
		t.Errorf("ledger rows = %d, want 1 (a 422 charges nothing)", got)
	}
	// Same meaning, other spelling: still a replay.
	r := e.do(t, http.MethodPost, "/payments", "k1", `{ "currency":"USD", "amount_cents":1000, "order_id":"order-1" }`)
	if r.status != http.StatusCreated || !bytes.Equal(r.body, first.body) {
		t.Errorf("replay with reordered fields = %d %s, want 201 %s", r.status, r.body, first.body)
	}
}

func TestCrashAfterCommitThenRetry(t *testing.T) { eachBackend(t, testCrashAfterCommitThenRetry) }

func testCrashAfterCommitThenRetry(t *testing.T, b backend) {
	var crashed atomic.Bool
	e := newEnv(t, options{backend: b, set: payment.Settings{AfterCommit: func(payment.Payment) {
		if crashed.CompareAndSwap(false, true) {
			panic("simulated crash between commit and response")
		}
	}}})
	if r := e.charge(t, "k-crash", "order-crash", 4200); r.err == nil {
		t.Fatalf("POST /payments with a crash after commit = %d, want a broken connection", r.status)
	}
	r := e.charge(t, "k-crash", "order-crash", 4200)
	if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry after the crash = %d replayed=%q %s, want 201 replayed=true", r.status, r.header.Get("Idempotent-Replayed"), r.body)
	}
	p := decode[payment.Payment](t, r)
	if p.Status != payment.StatusCaptured || p.AmountCents != 4200 {
		t.Errorf("stored result = %+v, want the captured 4200 charge", p)
	}
	if got := e.ledger(t, "order_id = ?", "order-crash"); got != 1 {
		t.Errorf("ledger rows = %d, want 1", got)
	}
}

// panicky is the simulated acquirer behind a handler that panics on its first call
// right after the acquirer has decided: the worst moment, money authorized and
// nothing in the ledger.
type panicky struct {
	*payment.SimulatedProcessor
	calls atomic.Int32
}

func newPanicky() *panicky {
	return &panicky{SimulatedProcessor: payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil)}
}

func (p *panicky) Authorize(ctx context.Context, key string, req payment.ChargeRequest) (payment.Decision, error) {
	d, err := p.SimulatedProcessor.Authorize(ctx, key, req)
	if p.calls.Add(1) == 1 {
		panic("simulated crash after authorization, before commit")
	}
	return d, err
}

// hanging is a processor whose first call never returns (until the test ends): the
// request holding the claim is as good as dead.
type hanging struct {
	calls atomic.Int32
	done  chan struct{}
}

func newHanging() *hanging { return &hanging{done: make(chan struct{})} }

func (h *hanging) Authorize(context.Context, string, payment.ChargeRequest) (payment.Decision, error) {
	if h.calls.Add(1) == 1 {
		<-h.done
	}
	return payment.Decision{Approved: true}, nil
}
func (h *hanging) Refund(context.Context, payment.Payment) error { return nil }

// startDead starts a charge whose process is stuck at the processor (hanging) and
// returns once it holds the claim. The stuck call returns when the test ends, before
// the server's cleanup waits for it.
func startDead(t *testing.T, e *env, h *hanging, key, order string, amount int64) {
	t.Helper()
	t.Cleanup(func() { close(h.done) })
	go func() { _ = e.charge(t, key, order, amount) }()
	for h.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
}

// TestPanicAfterAuthorizeChargesOnce: a panic between the acquirer's decision and the
// ledger's commit releases the claim, and the retry, which reaches the acquirer with
// the same key, moves no more money: one authorization, one ledger row.
func TestPanicAfterAuthorizeChargesOnce(t *testing.T) {
	eachBackend(t, testPanicAfterAuthorizeChargesOnce)
}

func testPanicAfterAuthorizeChargesOnce(t *testing.T, b backend) {
	proc := newPanicky()
	e := newEnv(t, options{backend: b, proc: proc, set: payment.Settings{Lease: 10 * time.Second}})
	if r := e.charge(t, "k-early", "order-early", 700); r.err == nil && r.status < 500 {
		t.Fatalf("POST /payments with a panic before commit = %d, want a 500 or a broken connection", r.status)
	}
	r := e.charge(t, "k-early", "order-early", 700)
	if r.status != http.StatusCreated {
		t.Fatalf("retry after the panic = %d %s, want 201 at once (the claim was released)", r.status, r.body)
	}
	if got := proc.Authorized(); got != 1 {
		t.Errorf("acquirer authorizations = %d, want 1", got)
	}
	if got := e.ledger(t, "order_id = ?", "order-early"); got != 1 {
		t.Errorf("ledger rows = %d, want 1", got)
	}
}

// TestDeadClaimBlocksUntilLeaseExpires: a request stuck holding the claim (its
// process dead for all we know) blocks retries with 409 until its lease is over; then
// one retry takes the key over and charges.
func TestDeadClaimBlocksUntilLeaseExpires(t *testing.T) {
	eachBackend(t, testDeadClaimBlocksUntilLeaseExpires)
}

func testDeadClaimBlocksUntilLeaseExpires(t *testing.T, b backend) {
	h := newHanging()
	e := newEnv(t, options{backend: b, proc: h, set: payment.Settings{Lease: 10 * time.Second}})
	startDead(t, e, h, "k-early", "order-early", 700)
	wantProblem(t, e.charge(t, "k-early", "order-early", 700), http.StatusConflict)
	if got := e.ledger(t, "1 = 1"); got != 0 {
		t.Fatalf("ledger rows after a crash before commit = %d, want 0", got)
	}
	e.age(t, "k-early", 11*time.Second)
	r := e.charge(t, "k-early", "order-early", 700)
	if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("retry after the lease = %d replayed=%q, want a fresh 201", r.status, r.header.Get("Idempotent-Replayed"))
	}
	if got := e.ledger(t, "order_id = ?", "order-early"); got != 1 {
		t.Errorf("ledger rows = %d, want 1", got)
	}
}

func TestProcessorFailureMovesNoMoney(t *testing.T) { eachBackend(t, testProcessorFailureMovesNoMoney) }

func testProcessorFailureMovesNoMoney(t *testing.T, b backend) {
	var roll atomic.Uint64 // the next "random" number, as float64 bits
	random := func() float64 { return math.Float64frombits(roll.Load()) }
	e := newEnv(t, options{backend: b, proc: payment.NewSimulatedProcessor(payment.ProcessorSettings{FailureRate: 0.5}, random)})
	roll.Store(math.Float64bits(0.1)) // below the rate: fail
	r := e.charge(t, "k-flaky", "order-flaky", 1500)
	wantProblem(t, r, http.StatusServiceUnavailable)
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if got := e.ledger(t, "1 = 1"); got != 0 {
		t.Errorf("ledger rows after a processor failure = %d, want 0", got)
	}
	roll.Store(math.Float64bits(0.9)) // above the rate: succeed, at once, with the same key
	if r := e.charge(t, "k-flaky", "order-flaky", 1500); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("retry after a processor failure = %d replayed=%q, want a fresh 201", r.status, r.header.Get("Idempotent-Replayed"))
	}
	if got := e.ledger(t, "status = 'captured'"); got != 1 {
		t.Errorf("captured payments = %d, want 1", got)
	}
}

func TestDeclineIs402AndReplays(t *testing.T) { eachBackend(t, testDeclineIs402AndReplays) }

func testDeclineIs402AndReplays(t *testing.T, b backend) {
	e := newEnv(t, options{backend: b})
	first := e.charge(t, "k-dec", "order-dec", 1313)
	wantProblem(t, first, http.StatusPaymentRequired)
	if typ := decode[map[string]any](t, first)["type"]; typ != payment.ProblemDeclined {
		t.Errorf("decline problem type = %v, want %s", typ, payment.ProblemDeclined)
	}
	again := e.charge(t, "k-dec", "order-dec", 1313)
	wantProblem(t, again, http.StatusPaymentRequired)
	if again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.body, first.body) {
		t.Errorf("decline replay = replayed %q body %s, want replayed true body %s", again.header.Get("Idempotent-Replayed"), again.body, first.body)
	}
	// A decline moved no money: the order may be paid with another key.
	if r := e.charge(t, "k-dec-2", "order-dec", 1300); r.status != http.StatusCreated {
		t.Errorf("charge after a decline = %d %s, want 201", r.status, r.body)
	}
	list := decode[[]payment.Payment](t, e.do(t, http.MethodGet, "/payments?order_id=order-dec", "", ""))
	var statuses []string
	for _, p := range list {
		statuses = append(statuses, p.Status)
	}
	if diff := cmp.Diff([]string{"declined", "captured"}, statuses); diff != "" {
		t.Errorf("GET /payments?order_id statuses (-want +got):\n%s", diff)
	}
}

func TestSecondChargeForAnOrderIsImpossible(t *testing.T) {
	eachBackend(t, testSecondChargeForAnOrderIsImpossible)
}

func testSecondChargeForAnOrderIsImpossible(t *testing.T, b backend) {
	e := newEnv(t, options{backend: b})
	if r := e.charge(t, "k-a", "order-x", 999); r.status != http.StatusCreated {
		t.Fatalf("first charge = %d %s", r.status, r.body)
	}
	// A client bug: a new key for an order already paid.
	wantProblem(t, e.charge(t, "k-b", "order-x", 999), http.StatusConflict)
	// Even a write that bypasses the service hits the UNIQUE index.
	err := e.exec(t, `INSERT INTO payments (id, order_id, amount_cents, currency, status, idempotency_key, created_at)
		VALUES ('pay_rogue', 'order-x', 999, 'USD', 'captured', 'rogue', '2026-01-01T00:00:00Z')`)
	if !e.isUnique(err) {
		t.Errorf("direct INSERT of a second captured payment = %v, want a UNIQUE violation", err)
	}
	if got := e.ledger(t, "order_id = 'order-x'"); got != 1 {
		t.Errorf("payments for the order = %d, want 1", got)
	}
}

func TestRefundIsIdempotent(t *testing.T) { eachBackend(t, testRefundIsIdempotent) }

func testRefundIsIdempotent(t *testing.T, b backend) {
	e := newEnv(t, options{backend: b})
	charged := e.charge(t, "k-r", "order-r", 5000)
	p := decode[payment.Payment](t, charged)
	if diff := cmp.Diff(p, decode[payment.Payment](t, e.do(t, http.MethodGet, "/payments/"+p.ID, "", ""))); diff != "" {
		t.Errorf("GET /payments/{id} after the charge (-charged +read):\n%s", diff)
	}
	for i := range 2 {
		r := e.do(t, http.MethodPost, "/payments/"+p.ID+"/refund", "", "")
		if r.status != http.StatusOK || decode[payment.Payment](t, r).Status != payment.StatusRefunded {
			t.Errorf("refund #%d = %d %s, want 200 refunded", i+1, r.status, r.body)
		}
	}
	if got := decode[payment.Payment](t, e.do(t, http.MethodGet, "/payments/"+p.ID, "", "")).Status; got != payment.StatusRefunded {
		t.Errorf("GET after refund: status %q, want refunded", got)
	}
	// The charge's replay is the answer as first given.
	if r := e.charge(t, "k-r", "order-r", 5000); !bytes.Equal(r.body, charged.body) {
		t.Errorf("charge replay after refund = %s, want the original %s", r.body, charged.body)
	}
	declined := e.charge(t, "k-rd", "order-rd", 513)
	id := strings.Fields(decode[map[string]any](t, declined)["detail"].(string))[1]
	wantProblem(t, e.do(t, http.MethodPost, "/payments/"+id+"/refund", "", ""), http.StatusConflict)
	wantProblem(t, e.do(t, http.MethodPost, "/payments/pay_nope/refund", "", ""), http.StatusNotFound)
}

func TestRestartLosesNothing(t *testing.T) { eachBackend(t, testRestartLosesNothing) }

func testRestartLosesNothing(t *testing.T, b backend) {
	o := b.place(t)
	e := newEnv(t, o)
	first := e.charge(t, "k-restart", "order-restart", 1200)
	e.srv.Close()
	e.close()
	if b.pg != nil {
		b.pg.Restart() // the database server restarts too
	}

	e = newEnv(t, o)
	r := e.charge(t, "k-restart", "order-restart", 1200)
	if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(r.body, first.body) {
		t.Errorf("replay after restart = %d replayed=%q %s, want 201 replayed=true %s", r.status, r.header.Get("Idempotent-Replayed"), r.body, first.body)
	}
	if got := e.ledger(t, "1 = 1"); got != 1 {
		t.Errorf("ledger rows after restart = %d, want 1", got)
	}
}

func TestReplicasShareOneLedger(t *testing.T) { eachBackend(t, testReplicasShareOneLedger) }

func testReplicasShareOneLedger(t *testing.T, b backend) {
	o := b.place(t)
	o.proc = payment.NewSimulatedProcessor(payment.ProcessorSettings{Latency: 10 * time.Millisecond}, nil)
	a := newEnv(t, o)
	a2 := newEnv(t, o) // its own *sql.DB on the same file, or its own pool on the same database
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		e := a
		if i%2 == 1 {
			e = a2
		}
		wg.Go(func() { statuses[i] = e.charge(t, "k-shared", "order-shared", 3300).status })
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusCreated && s != http.StatusConflict {
			t.Errorf("request %d = %d, want 201 or 409", i, s)
		}
	}
	if got := a.ledger(t, "order_id = 'order-shared'"); got != 1 {
		t.Errorf("ledger rows across two replicas = %d, want 1", got)
	}
}

func TestBadInputIsAProblem(t *testing.T) {
	e := newEnv(t, options{})
	good := `{"order_id":"o","amount_cents":100,"currency":"USD"}`
	for _, tc := range []struct {
		name, method, path, key, body string
		want                          int
	}{
		{"no key", "POST", "/payments", "", good, 400},
		{"no key, bad body", "POST", "/payments", "", `{`, 400},
		{"key with space", "POST", "/payments", "a b", good, 400},
		{"long key", "POST", "/payments", strings.Repeat("k", 300), good, 400},
		{"malformed", "POST", "/payments", "k", `{"order_id":`, 400},
		{"unknown field", "POST", "/payments", "k", `{"order_id":"o","amount_cents":100,"currency":"USD","tip":1}`, 400},
		{"string amount", "POST", "/payments", "k", `{"order_id":"o","amount_cents":"100","currency":"USD"}`, 400},
		{"zero amount", "POST", "/payments", "k", `{"order_id":"o","amount_cents":0,"currency":"USD"}`, 400},
		{"negative amount", "POST", "/payments", "k", `{"order_id":"o","amount_cents":-5,"currency":"USD"}`, 400},
		{"huge amount", "POST", "/payments", "k", `{"order_id":"o","amount_cents":1e300,"currency":"USD"}`, 400},
		{"lowercase currency", "POST", "/payments", "k", `{"order_id":"o","amount_cents":100,"currency":"usd"}`, 400},
		{"no order", "POST", "/payments", "k", `{"amount_cents":100,"currency":"USD"}`, 400},
		{"list without order", "GET", "/payments", "", "", 400},
		{"list with two orders", "GET", "/payments?order_id=a&order_id=b", "", "", 400},
		{"unknown payment", "GET", "/payments/pay_x", "", "", 404},
		{"wrong method", "DELETE", "/payments/pay_x", "", "", 405},
		{"unknown path", "GET", "/nope", "", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.do(t, tc.method, tc.path, tc.key, tc.body), tc.want)
		})
	}
	if got := e.ledger(t, "1 = 1"); got != 0 {
		t.Errorf("ledger rows after bad requests = %d, want 0", got)
	}
}

func TestProcessorSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		s    payment.ProcessorSettings
		want string // substring of the error, "" for none
	}{
		{payment.ProcessorSettings{}, ""},
		{payment.ProcessorSettings{Latency: time.Second, FailureRate: 1}, ""},
		{payment.ProcessorSettings{FailureRate: 1.5}, "PAYMENT_PROCESSOR_FAILURE_RATE"},
		{payment.ProcessorSettings{FailureRate: math.NaN()}, "PAYMENT_PROCESSOR_FAILURE_RATE"},
		{payment.ProcessorSettings{Latency: -time.Second}, "PAYMENT_PROCESSOR_LATENCY"},
	} {
		err := tc.s.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("ProcessorSettings%+v.Validate() = %v, want error naming %q", tc.s, err, tc.want)
		}
	}
	if err := (payment.Settings{Lease: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "PAYMENT_IDEMPOTENCY_LEASE") {
		t.Errorf("Settings{Lease: -1}.Validate() = %v, want error naming PAYMENT_IDEMPOTENCY_LEASE", err)
	}
}

func TestServiceErrors(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "p.db"))
	store, err := payment.NewStore(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	svc := payment.NewService(store, payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil), payment.Settings{})
	req := payment.ChargeRequest{OrderID: "o", AmountCents: 100, Currency: "EUR"}
	for _, tc := range []struct {
		name string
		key  string
		req  payment.ChargeRequest
		want error
	}{
		{"no key", "", req, payment.ErrKeyRequired},
		{"bad currency", "k", payment.ChargeRequest{OrderID: "o", AmountCents: 1, Currency: "E1R"}, payment.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := svc.Charge(t.Context(), tc.key, tc.req); !errors.Is(err, tc.want) {
				t.Errorf("Charge(%q, %+v) = %v, want %v", tc.key, tc.req, err, tc.want)
			}
		})
	}
	if _, err := svc.Get(t.Context(), "pay_missing"); !errors.Is(err, payment.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want %v", err, payment.ErrNotFound)
	}
}

// FuzzCharge sends arbitrary keys and bodies to POST /payments: never a 5xx, errors
// are problem+json, and no key ever has more than one payment.
func FuzzCharge(f *testing.F) {
	for i, s := range []string{
		`{"order_id":"o","amount_cents":100,"currency":"USD"}`,
		`{"order_id":"o","amount_cents":113,"currency":"USD"}`,
		`{"order_id":"","amount_cents":-1,"currency":""}`,
		`{"order_id":"o\u0000","amount_cents":9223372036854775807,"currency":"ÜSD"}`,
		`[]`, `null`, `{}`, `{"order_id":1}`,
	} {
		f.Add("key-"+strconv.Itoa(i), []byte(s))
	}
	f.Add("", []byte(`{"order_id":"o","amount_cents":100,"currency":"USD"}`))
	e := newEnv(f, options{})
	db := openDB(f, e.path)
	store, err := payment.NewStore(context.Background(), db)
	if err != nil {
		f.Fatal(err)
	}
	h := payment.NewHTTPHandler(payment.NewService(store, payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil), payment.Settings{}), nil)
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/payments", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" && !strings.ContainsAny(key, "\r\n\x00") {
			req.Header.Set("Idempotency-Key", key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST /payments key %q body %q = %d %s, want < 500", key, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("POST /payments = %d with Content-Type %q, want problem+json", rec.Code, rec.Header().Get("Content-Type"))
		}
	})
	if n := e.ledger(f, "idempotency_key IN (SELECT idempotency_key FROM payments GROUP BY idempotency_key HAVING count(*) > 1)"); n != 0 {
		f.Errorf("payments sharing a key = %d, want 0", n)
	}
}

// cancelling is a processor that approves and then cancels the caller's request, as a
// client that gives up just after the processor answered.
type cancelling struct{ cancel context.CancelFunc }

func (c cancelling) Authorize(context.Context, string, payment.ChargeRequest) (payment.Decision, error) {
	c.cancel()
	return payment.Decision{Approved: true}, nil
}
func (c cancelling) Refund(context.Context, payment.Payment) error { return nil }

func TestApprovedChargeIsRecordedWhenTheClientGivesUp(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "p.db"))
	store, err := payment.NewStore(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	svc := payment.NewService(store, cancelling{cancel}, payment.Settings{})
	req := payment.ChargeRequest{OrderID: "o-gone", AmountCents: 900, Currency: "USD"}
	first, err := svc.Charge(ctx, "k-gone", req)
	if err != nil {
		t.Fatalf("Charge() with the client gone after approval = %v, want the payment recorded", err)
	}
	again, err := payment.NewService(store, payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil), payment.Settings{}).Charge(t.Context(), "k-gone", req)
	if err != nil || !again.Replayed || again.Payment.ID != first.Payment.ID {
		t.Errorf("retry = %+v, %v, want a replay of %s", again, err, first.Payment.ID)
	}
}

// stalling blocks its first authorization until release is closed, as a request
// that outlives its idempotency lease.
type stalling struct {
	calls   atomic.Int32
	keys    sync.Map // key -> calls
	entered chan struct{}
	release chan struct{}
}

func (s *stalling) Authorize(ctx context.Context, key string, _ payment.ChargeRequest) (payment.Decision, error) {
	n, _ := s.keys.LoadOrStore(key, new(atomic.Int32))
	n.(*atomic.Int32).Add(1)
	if s.calls.Add(1) == 1 {
		close(s.entered)
		<-s.release
	}
	return payment.Decision{Approved: true}, nil
}
func (s *stalling) Refund(context.Context, payment.Payment) error { return nil }

func TestStalledRequestLosesItsClaimAfterTheLease(t *testing.T) {
	eachBackend(t, testStalledRequestLosesItsClaimAfterTheLease)
}

func testStalledRequestLosesItsClaimAfterTheLease(t *testing.T, b backend) {
	proc := &stalling{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnv(t, options{backend: b, proc: proc, set: payment.Settings{Lease: 5 * time.Second}})
	slow := make(chan result, 1)
	go func() { slow <- e.charge(t, "k-stall", "order-stall", 800) }()
	<-proc.entered // the first request holds the claim and is stuck at the processor
	wantProblem(t, e.charge(t, "k-stall", "order-stall", 800), http.StatusConflict)
	e.age(t, "k-stall", 6*time.Second) // its lease expires: a retry takes the key over
	taken := e.charge(t, "k-stall", "order-stall", 800)
	if taken.status != http.StatusCreated {
		t.Fatalf("retry after the lease = %d %s, want 201", taken.status, taken.body)
	}
	close(proc.release) // the stalled request wakes up and must not charge again
	if r := <-slow; r.status != http.StatusConflict {
		t.Errorf("stalled request = %d %s, want 409 (claim lost)", r.status, r.body)
	}
	if got := e.ledger(t, "order_id = 'order-stall'"); got != 1 {
		t.Errorf("ledger rows = %d, want 1", got)
	}
	if r := e.charge(t, "k-stall", "order-stall", 800); r.status != http.StatusCreated || !bytes.Equal(r.body, taken.body) {
		t.Errorf("final replay = %d %s, want the takeover's answer %s", r.status, r.body, taken.body)
	}
	// Both calls reached the processor with the charge's one key, so an acquirer
	// idempotent on it (as SimulatedProcessor is) authorized once.
	n, ok := proc.keys.Load("k-stall")
	if proc.calls.Load() != 2 || !ok || n.(*atomic.Int32).Load() != 2 {
		t.Errorf("processor calls = %d, with key k-stall %v; want both with the charge's key", proc.calls.Load(), n)
	}
}

// TestSlowProcessorAuthorizesOnce: the acquirer is slow; the request's lease runs out
// while it is still deciding, and a retry takes the key over. The retry reaches the
// acquirer with the same key, is told the key is in flight (503), and the next one
// gets the decision the first call made: one authorization, one ledger row, and every
// answer either the charge or a retryable error.
func TestSlowProcessorAuthorizesOnce(t *testing.T) { eachBackend(t, testSlowProcessorAuthorizesOnce) }

func testSlowProcessorAuthorizesOnce(t *testing.T, b backend) {
	proc := payment.NewSimulatedProcessor(payment.ProcessorSettings{Latency: 300 * time.Millisecond}, nil)
	e := newEnv(t, options{backend: b, proc: proc, set: payment.Settings{Lease: 10 * time.Second}})
	first := make(chan result, 1)
	go func() { first <- e.charge(t, "k-slow", "order-slow", 900) }()
	time.Sleep(50 * time.Millisecond)  // the first call is at the acquirer
	e.age(t, "k-slow", 11*time.Second) // its lease is over (on the database's clock)
	taken := e.charge(t, "k-slow", "order-slow", 900)
	wantProblem(t, taken, http.StatusServiceUnavailable)
	if r := <-first; r.status != http.StatusCreated && r.status != http.StatusConflict && r.status != http.StatusServiceUnavailable {
		t.Errorf("the slow first request = %d %s, want 201, 409 or 503", r.status, r.body)
	}
	r := e.charge(t, "k-slow", "order-slow", 900)
	if r.status != http.StatusCreated {
		t.Fatalf("retry after the acquirer decided = %d %s, want 201", r.status, r.body)
	}
	if got := proc.Authorized(); got != 1 {
		t.Errorf("acquirer authorizations = %d, want 1", got)
	}
	if got := e.ledger(t, "order_id = 'order-slow'"); got != 1 {
		t.Errorf("ledger rows = %d, want 1", got)
	}
}

// TestProcessorCallIsBoundedByHalfTheLease: an acquirer that does not answer within
// half the lease is given up on with a retryable 503 (before the claim could be taken
// over), and the claim is released for the retry.
func TestProcessorCallIsBoundedByHalfTheLease(t *testing.T) {
	proc := payment.NewSimulatedProcessor(payment.ProcessorSettings{Latency: time.Minute}, nil)
	e := newEnv(t, options{proc: proc, set: payment.Settings{Lease: 200 * time.Millisecond}})
	start := time.Now()
	r := e.charge(t, "k-bound", "order-bound", 900)
	wantProblem(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the charge took %v against a processor of 1m, want it given up on after 100ms", d)
	}
	if got := proc.Authorized(); got != 0 {
		t.Errorf("acquirer authorizations = %d, want 0 (cancelled before deciding)", got)
	}
}

func TestInFlightRetryAfterIsTheRemainingLease(t *testing.T) {
	tests := []struct {
		name    string
		elapsed time.Duration
		want    string
	}{
		{"just claimed", 0, "10"},
		{"rounded up", 2500 * time.Millisecond, "8"},
		{"under a second left", 9900 * time.Millisecond, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A claim held by a request whose process is dead for all we know.
			h := newHanging()
			e := newEnv(t, options{proc: h, set: payment.Settings{Lease: 10 * time.Second}})
			startDead(t, e, h, "k-dead", "order-dead", 700)
			e.age(t, "k-dead", tt.elapsed)
			r := e.charge(t, "k-dead", "order-dead", 700)
			wantProblem(t, r, http.StatusConflict)
			if got := r.header.Get("Retry-After"); got != tt.want {
				t.Errorf("Retry-After after %v of a 10s lease = %q, want %q", tt.elapsed, got, tt.want)
			}
		})
	}
}

// TestFullVolumeIs503: when the ledger's volume fills up, a charge is a retryable 503
// problem (never a 500, never a word about the file), readiness fails, and once there
// is room again the retry with the same key charges once. (A read-only database is
// sqlitedb's TestUnavailable: a tmpfs in use cannot be remounted read-only.)
func TestFullVolumeIs503(t *testing.T) {
	vol := shoptest.MountVolume(t, 2048)
	e := newEnv(t, options{path: filepath.Join(vol.Dir, "payment.db")})
	probe := sqlitedb.WriteProbe(e.db)
	if r := e.charge(t, "k-ok", "order-ok", 500); r.status != http.StatusCreated {
		t.Fatalf("charge on a healthy volume = %d %s", r.status, r.body)
	}
	for _, fault := range []struct {
		name        string
		break_, fix func()
	}{
		{"full", vol.Fill, vol.Free},
	} {
		key, order := "k-"+fault.name, "order-"+fault.name
		fault.break_()
		r := e.charge(t, key, order, 700)
		wantProblem(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s volume: 503 without Retry-After", fault.name)
		}
		if strings.Contains(string(r.body), vol.Dir) || strings.Contains(strings.ToLower(string(r.body)), "sqlite") {
			t.Errorf("%s volume: the problem tells internals: %s", fault.name, r.body)
		}
		if err := probe(t.Context()); !errors.Is(err, sqlitedb.ErrUnavailable) {
			t.Errorf("%s volume: write probe = %v, want ErrUnavailable (readiness must fail)", fault.name, err)
		}
		fault.fix()
		if err := probe(t.Context()); err != nil {
			t.Errorf("%s volume fixed: write probe = %v, want nil", fault.name, err)
		}
		r = e.charge(t, key, order, 700)
		if r.status != http.StatusCreated {
			t.Errorf("%s volume fixed: retry with the same key = %d %s, want 201", fault.name, r.status, r.body)
		}
		if got := e.ledger(t, "order_id = ?", order); got != 1 {
			t.Errorf("%s volume: ledger rows for the order = %d, want 1", fault.name, got)
		}
	}
}

// TestVoidSettlesTheKey: voiding a key no charge has used makes a later charge with
// it impossible (409 voided, no money moved); voiding a used key answers what the
// charge did (the captured payment, to refund), 409 while a live request holds it.
func TestVoidSettlesTheKey(t *testing.T) { eachBackend(t, testVoidSettlesTheKey) }

func testVoidSettlesTheKey(t *testing.T, b backend) {
	proc := payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil)
	e := newEnv(t, options{backend: b, proc: proc, set: payment.Settings{Lease: 10 * time.Second}})
	body := func(order string) string {
		return `{"order_id":"` + order + `","amount_cents":900,"currency":"USD"}`
	}
	r := e.do(t, http.MethodPost, "/payments/void", "k-void", body("order-void"))
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"voided":true`) {
		t.Fatalf("void of an unused key = %d %s, want 200 voided", r.status, r.body)
	}
	if r := e.do(t, http.MethodPost, "/payments/void", "k-void", body("order-void")); r.status != http.StatusOK {
		t.Errorf("second void = %d %s, want 200 voided again", r.status, r.body)
	}
	late := e.charge(t, "k-void", "order-void", 900)
	wantProblem(t, late, http.StatusConflict)
	if !strings.Contains(string(late.body), payment.ProblemVoided) {
		t.Errorf("charge with a voided key = %s, want problem %s", late.body, payment.ProblemVoided)
	}
	if proc.Authorized() != 0 || e.ledger(t, "order_id = 'order-void'") != 0 {
		t.Errorf("a voided key moved money: %d authorizations, %d ledger rows", proc.Authorized(), e.ledger(t, "order_id = 'order-void'"))
	}

	paid := e.charge(t, "k-paid", "order-paid", 900)
	if paid.status != http.StatusCreated {
		t.Fatalf("charge = %d %s", paid.status, paid.body)
	}
	r = e.do(t, http.MethodPost, "/payments/void", "k-paid", body("order-paid"))
	if r.status != http.StatusCreated || !bytes.Equal(r.body, paid.body) {
		t.Errorf("void of a used key = %d %s, want the stored payment %s", r.status, r.body, paid.body)
	}

	h := newHanging()
	e2 := newEnv(t, options{backend: b, proc: h, set: payment.Settings{Lease: 10 * time.Second}})
	startDead(t, e2, h, "k-busy", "order-busy", 900)
	wantProblem(t, e2.do(t, http.MethodPost, "/payments/void", "k-busy", body("order-busy")), http.StatusConflict)
	e2.age(t, "k-busy", 11*time.Second) // the holder is gone: void settles it as a charge
	if r := e2.do(t, http.MethodPost, "/payments/void", "k-busy", body("order-busy")); r.status != http.StatusCreated {
		t.Errorf("void of an abandoned claim = %d %s, want the charge finished (201)", r.status, r.body)
	}
}
