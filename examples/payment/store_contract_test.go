package payment_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/examples/internal/pgtest"
	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/examples/payment"
)

// ledgerCase is one behaviour of the Ledger contract: run gets a new, empty ledger,
// opened with payment.OpenStore as cmd/payment opens it, and its env for writes
// around the service.
type ledgerCase struct {
	name string
	run  func(t *testing.T, l payment.Ledger, e *env)
}

// openLedger opens a new ledger on b through payment.OpenStore.
func openLedger(t *testing.T, b backend) (payment.Ledger, *env) {
	t.Helper()
	e := &env{}
	if b.pg != nil {
		return e.openPostgres(t, options{backend: b}), e
	}
	path := filepath.Join(t.TempDir(), "payment.db")
	be, err := payment.OpenStore(t.Context(), "", path, sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("payment.OpenStore(sqlite) = %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	db := openDB(t, path)
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
	e.isUnique = sqlitedb.IsUnique
	return be.Repository, e
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC) // to the microsecond

func pay(id, order, status string) payment.Payment {
	return payment.Payment{ID: id, OrderID: order, AmountCents: 1200, Currency: "EUR", Status: status, CreatedAt: t0}
}

func mustClaim(t *testing.T, l payment.Ledger, key, hash string) string {
	t.Helper()
	c, err := l.Claim(t.Context(), key, hash, 10*time.Second)
	if err != nil || c.Token == "" {
		t.Fatalf("Claim(%q) = %+v, %v, want a token", key, c, err)
	}
	return c.Token
}

func ledgerCases() []ledgerCase {
	return []ledgerCase{
		{"claim, complete, replay", func(t *testing.T, l payment.Ledger, e *env) {
			tok := mustClaim(t, l, "k", "h")
			p := pay("pay_1", "o1", payment.StatusCaptured)
			if err := l.Complete(t.Context(), "k", tok, p); err != nil {
				t.Fatalf("Complete() = %v", err)
			}
			c, err := l.Claim(t.Context(), "k", "h", 10*time.Second)
			if err != nil || c.Completed == nil || c.Token != "" {
				t.Fatalf("Claim(completed key) = %+v, %v, want the stored payment", c, err)
			}
			if diff := cmp.Diff(p, *c.Completed); diff != "" {
				t.Errorf("replayed payment (-want +got):\n%s", diff)
			}
			got, err := l.Get(t.Context(), "pay_1")
			if diff := cmp.Diff(p, got); err != nil || diff != "" {
				t.Errorf("Get(pay_1) = %v (-want +got):\n%s", err, diff)
			}
			if _, err := l.Get(t.Context(), "pay_none"); !errors.Is(err, payment.ErrNotFound) {
				t.Errorf("Get(missing) = %v, want %v", err, payment.ErrNotFound)
			}
		}},
		{"key reused with another request is 422", func(t *testing.T, l payment.Ledger, e *env) {
			mustClaim(t, l, "k", "h1")
			if _, err := l.Claim(t.Context(), "k", "h2", 10*time.Second); !errors.Is(err, payment.ErrKeyReused) {
				t.Errorf("Claim(same key, other hash) = %v, want %v", err, payment.ErrKeyReused)
			}
		}},
		{"in flight is 409 with the remaining lease", func(t *testing.T, l payment.Ledger, e *env) {
			mustClaim(t, l, "k", "h")
			e.age(t, "k", 3*time.Second) // 3s later, on the database's clock
			_, err := l.Claim(t.Context(), "k", "h", 10*time.Second)
			var ife *payment.InFlightError
			// The database's clock runs on meanwhile: 7s left, less the test's own time.
			if !errors.As(err, &ife) || ife.Remaining > 7*time.Second || ife.Remaining < 5*time.Second {
				t.Errorf("Claim(in flight, 3s into a 10s lease) = %v (%+v), want InFlightError{Remaining: 7s, less the test's time}", err, ife)
			}
		}},
		{"takeover after the lease; the old holder cannot complete", func(t *testing.T, l payment.Ledger, e *env) {
			old := mustClaim(t, l, "k", "h")
			e.age(t, "k", 9*time.Second)
			if _, err := l.Claim(t.Context(), "k", "h", 10*time.Second); !errors.Is(err, payment.ErrInFlight) {
				t.Fatalf("Claim(9s into a 10s lease) = %v, want %v", err, payment.ErrInFlight)
			}
			e.age(t, "k", 2*time.Second) // 11s: the lease is over
			taken := mustClaim(t, l, "k", "h")
			if taken == old {
				t.Fatalf("takeover token = the old token %q", old)
			}
			// The takeover claims the key anew, on the database's clock: a full lease.
			var ife *payment.InFlightError
			if _, err := l.Claim(t.Context(), "k", "h", 10*time.Second); !errors.As(err, &ife) || ife.Remaining < 8*time.Second {
				t.Errorf("Claim(just taken over) = %v (%+v), want InFlightError with about 10s left", err, ife)
			}
			if err := l.Complete(t.Context(), "k", old, pay("pay_old", "o1", payment.StatusCaptured)); !errors.Is(err, payment.ErrInFlight) {
				t.Errorf("Complete(old token) = %v, want %v", err, payment.ErrInFlight)
			}
			if err := l.Complete(t.Context(), "k", taken, pay("pay_new", "o1", payment.StatusCaptured)); err != nil {
				t.Errorf("Complete(takeover token) = %v", err)
			}
			if n := e.count(t, `SELECT count(*) FROM payments`); n != 1 {
				t.Errorf("payments = %d, want 1", n)
			}
		}},
		{"unclaim frees the key at once, never a completed one", func(t *testing.T, l payment.Ledger, e *env) {
			tok := mustClaim(t, l, "k", "h")
			if err := l.Unclaim(t.Context(), "k", tok); err != nil {
				t.Fatal(err)
			}
			tok = mustClaim(t, l, "k", "h")
			if err := l.Complete(t.Context(), "k", tok, pay("pay_1", "o1", payment.StatusCaptured)); err != nil {
				t.Fatal(err)
			}
			if err := l.Unclaim(t.Context(), "k", tok); err != nil {
				t.Fatal(err)
			}
			if c, err := l.Claim(t.Context(), "k", "h", 10*time.Second); err != nil || c.Completed == nil {
				t.Errorf("Claim after Unclaim of a completed key = %+v, %v, want the stored payment", c, err)
			}
		}},
		{"void", func(t *testing.T, l payment.Ledger, e *env) {
			for i := range 2 {
				if v, err := l.VoidUnclaimed(t.Context(), "kv", t0); err != nil || !v {
					t.Errorf("VoidUnclaimed(unused key) #%d = %v, %v, want true", i+1, v, err)
				}
			}
			if _, err := l.Claim(t.Context(), "kv", "h", 10*time.Second); !errors.Is(err, payment.ErrVoided) {
				t.Errorf("Claim(voided key) = %v, want %v", err, payment.ErrVoided)
			}
			mustClaim(t, l, "kc", "h")
			if v, err := l.VoidUnclaimed(t.Context(), "kc", t0); err != nil || v {
				t.Errorf("VoidUnclaimed(claimed key) = %v, %v, want false", v, err)
			}
			if n := e.count(t, `SELECT count(*) FROM voided_keys WHERE key = ?`, "kc"); n != 0 {
				t.Errorf("voided rows for a claimed key = %d, want 0", n)
			}
		}},
		{"one charge per order, even around the service", func(t *testing.T, l payment.Ledger, e *env) {
			tok := mustClaim(t, l, "k1", "h")
			if err := l.Complete(t.Context(), "k1", tok, pay("pay_d", "o1", payment.StatusDeclined)); err != nil {
				t.Fatalf("Complete(declined) = %v", err)
			}
			tok = mustClaim(t, l, "k2", "h")
			if err := l.Complete(t.Context(), "k2", tok, pay("pay_c", "o1", payment.StatusCaptured)); err != nil {
				t.Fatalf("Complete(captured after a decline) = %v", err)
			}
			tok = mustClaim(t, l, "k3", "h")
			if err := l.Complete(t.Context(), "k3", tok, pay("pay_c2", "o1", payment.StatusCaptured)); !errors.Is(err, payment.ErrAlreadyCharged) {
				t.Errorf("Complete(second capture for the order) = %v, want %v", err, payment.ErrAlreadyCharged)
			}
			err := e.exec(t, `INSERT INTO payments (id, order_id, amount_cents, currency, status, idempotency_key, created_at)
				VALUES ('pay_rogue', 'o1', 999, 'USD', 'refunded', 'rogue', '2026-01-01T00:00:00Z')`)
			if !e.isUnique(err) {
				t.Errorf("direct INSERT of a second charge for the order = %v, want a unique violation", err)
			}
			if n := e.count(t, `SELECT count(*) FROM payments WHERE order_id = ? AND status <> 'declined'`, "o1"); n != 1 {
				t.Errorf("charges that moved money for the order = %d, want 1", n)
			}
			list, err := l.ListByOrder(t.Context(), "o1")
			var ids []string
			for _, p := range list {
				ids = append(ids, p.ID)
			}
			if diff := cmp.Diff([]string{"pay_d", "pay_c"}, ids); err != nil || diff != "" {
				t.Errorf("ListByOrder = %v (-want +got, oldest first):\n%s", err, diff)
			}
		}},
		{"refund is idempotent", func(t *testing.T, l payment.Ledger, e *env) {
			for _, p := range []payment.Payment{pay("pay_c", "o1", payment.StatusCaptured), pay("pay_d", "o2", payment.StatusDeclined)} {
				tok := mustClaim(t, l, "k-"+p.ID, "h")
				if err := l.Complete(t.Context(), "k-"+p.ID, tok, p); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2 {
				if p, err := l.MarkRefunded(t.Context(), "pay_c", t0); err != nil || p.Status != payment.StatusRefunded {
					t.Errorf("MarkRefunded #%d = %+v, %v, want refunded", i+1, p, err)
				}
			}
			if _, err := l.MarkRefunded(t.Context(), "pay_d", t0); !errors.Is(err, payment.ErrNotRefundable) {
				t.Errorf("MarkRefunded(declined) = %v, want %v", err, payment.ErrNotRefundable)
			}
			if _, err := l.MarkRefunded(t.Context(), "pay_none", t0); !errors.Is(err, payment.ErrNotFound) {
				t.Errorf("MarkRefunded(missing) = %v, want %v", err, payment.ErrNotFound)
			}
		}},
		{"10 concurrent claims of one key: one owner", func(t *testing.T, l payment.Ledger, e *env) {
			var wg sync.WaitGroup
			tokens, inFlight := make([]string, 10), make([]bool, 10)
			for i := range 10 {
				wg.Go(func() {
					c, err := l.Claim(context.Background(), "k", "h", 10*time.Second)
					tokens[i], inFlight[i] = c.Token, errors.Is(err, payment.ErrInFlight)
					if err != nil && !inFlight[i] {
						t.Errorf("concurrent Claim = %v, want a token or ErrInFlight", err)
					}
				})
			}
			wg.Wait()
			owners := 0
			for i := range 10 {
				if tokens[i] != "" {
					owners++
				}
			}
			if owners != 1 {
				t.Errorf("owners of one key after 10 concurrent claims = %d, want 1", owners)
			}
		}},
		{"10 concurrent charges of one order with 10 keys: one charge", func(t *testing.T, l payment.Ledger, e *env) {
			var wg sync.WaitGroup
			errs := make([]error, 10)
			for i := range 10 {
				wg.Go(func() {
					key := "k" + strconv.Itoa(i)
					c, err := l.Claim(context.Background(), key, "h", 10*time.Second)
					if err != nil {
						errs[i] = err
						return
					}
					errs[i] = l.Complete(context.Background(), key, c.Token, pay("pay_"+strconv.Itoa(i), "o1", payment.StatusCaptured))
				})
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, payment.ErrAlreadyCharged):
					t.Errorf("concurrent Complete = %v, want nil or %v", err, payment.ErrAlreadyCharged)
				}
			}
			if n := e.count(t, `SELECT count(*) FROM payments WHERE order_id = ?`, "o1"); ok != 1 || n != 1 {
				t.Errorf("10 concurrent charges of one order: %d succeeded, %d rows; want 1 and 1", ok, n)
			}
		}},
	}
}

// TestLedgerContract runs every behaviour of the Ledger contract on SQLite and on a
// real PostgreSQL server (one server, a new database per behaviour).
func TestLedgerContract(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			b := backend{name: name}
			if name == "postgres" {
				b.pg = pgtest.NewServer(t)
			}
			for _, tc := range ledgerCases() {
				t.Run(tc.name, func(t *testing.T) {
					l, e := openLedger(t, b)
					tc.run(t, l, e)
				})
			}
		})
	}
}

// TestStoppedPostgresIs503: with the database server down, a charge is a retryable
// 503 that names nothing of the database and readiness fails; once it is back, both
// recover by themselves and the retry with the same key charges once.
func TestStoppedPostgresIs503(t *testing.T) {
	srv := pgtest.NewServer(t)
	be, err := payment.OpenStore(t.Context(), srv.Database(t), "", sqlitedb.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	e := &env{clock: newClock()}
	h := payment.NewHTTPHandler(payment.NewService(be.Repository, payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil), payment.Settings{Now: e.clock.Now}), nil)
	e.srv = httptest.NewServer(h)
	defer e.srv.Close()
	if r := e.charge(t, "k-ok", "order-ok", 500); r.status != http.StatusCreated {
		t.Fatalf("charge with the database up = %d %s", r.status, r.body)
	}
	srv.Stop()
	r := e.charge(t, "k-down", "order-down", 700)
	wantProblem(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Errorf("database down: 503 without Retry-After")
	}
	port := srv.Addr()[strings.LastIndex(srv.Addr(), ":")+1:]
	if body := strings.ToLower(string(r.body)); strings.Contains(body, "postgres") || strings.Contains(body, port) || strings.Contains(body, "dial") {
		t.Errorf("database down: the problem tells internals: %s", r.body)
	}
	if err := be.Check.Func(t.Context()); !errors.Is(err, payment.ErrStoreUnavailable) {
		t.Errorf("database down: readiness check %s = %v, want ErrStoreUnavailable", be.Check.Name, err)
	}
	srv.Restart()
	if err := be.Check.Func(t.Context()); err != nil {
		t.Errorf("database back: readiness check = %v, want nil", err)
	}
	if r := e.charge(t, "k-down", "order-down", 700); r.status != http.StatusCreated {
		t.Errorf("database back: retry with the same key = %d %s, want 201", r.status, r.body)
	}
}

// TestDatabaseURLFromFile: DATABASE_URL is a secret, so DATABASE_URL_FILE names a
// file holding it (a Docker or Kubernetes secret), and a dump never shows it.
func TestDatabaseURLFromFile(t *testing.T) {
	dsn := pgtest.Start(t)
	file := filepath.Join(t.TempDir(), "database-url")
	if err := os.WriteFile(file, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := config.Load[payment.StoreSettings](config.WithEnvironment(map[string]string{"DATABASE_URL_FILE": file}))
	if err != nil || s.DatabaseURL != dsn {
		t.Fatalf("Load(DATABASE_URL_FILE) = %q, %v, want %q", s.DatabaseURL, err, dsn)
	}
	be, err := payment.OpenStore(t.Context(), s.DatabaseURL, "", sqlitedb.Settings{})
	if err != nil {
		t.Fatalf("OpenStore(the file's URL) = %v", err)
	}
	defer be.Close()
	if be.Check.Name != "postgres" {
		t.Errorf("OpenStore(DATABASE_URL set) check = %q, want postgres", be.Check.Name)
	}
	dump, err := config.Describe(s)
	if err != nil || strings.Contains(dump.String(), dsn) {
		t.Errorf("Describe() = %v, %v, want the URL redacted", dump, err)
	}
	if _, err := payment.OpenStore(t.Context(), "postgres://u:hunter2@127.0.0.1:1/x?sslmode=nope", "", sqlitedb.Settings{}); err == nil ||
		!strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("OpenStore(bad URL) = %v, want an error naming DATABASE_URL and not the password", err)
	}
}

// TestConcurrentStartOnPostgres: four replicas starting at once on a new database all
// migrate it (waiting for each other) and serve.
func TestConcurrentStartOnPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			be, err := payment.OpenStore(context.Background(), dsn, "", sqlitedb.Settings{})
			if err != nil {
				t.Errorf("OpenStore from one of 4 concurrent starters = %v", err)
				return
			}
			defer be.Close()
			if err := be.Check.Func(context.Background()); err != nil {
				t.Errorf("replica %d: readiness = %v", i, err)
			}
		})
	}
	wg.Wait()
}
