package payment_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
	"github.com/gantry-go/gantry/examples/payment"
)

// The payment service runs in-process on a loopback listener. A retry with the same
// Idempotency-Key replays the first answer; a declined card is a 402.
func ExampleNewHTTPHandler() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "payment")
	defer os.RemoveAll(dir)
	db, err := sqlitedb.Open(ctx, filepath.Join(dir, "payment.db"), sqlitedb.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	store, err := payment.NewStore(ctx, db)
	if err != nil {
		fmt.Println(err)
		return
	}
	proc := payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil)
	srv := httptest.NewServer(payment.NewHTTPHandler(payment.NewService(store, proc, payment.Settings{}), nil))
	defer srv.Close()

	charge := func(key, body string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/payments", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		fmt.Println(strings.TrimSpace(resp.Status + " " + resp.Header.Get("Idempotent-Replayed")))
	}
	charge("k1", `{"order_id":"o1","amount_cents":2500,"currency":"USD"}`)
	charge("k1", `{"order_id":"o1","amount_cents":2500,"currency":"USD"}`) // a retry
	charge("k1", `{"order_id":"o1","amount_cents":9900,"currency":"USD"}`) // key reused
	charge("", `{"order_id":"o2","amount_cents":2500,"currency":"USD"}`)   // no key
	charge("k2", `{"order_id":"o2","amount_cents":1313,"currency":"USD"}`) // cents end in 13
	// Output:
	// 201 Created
	// 201 Created true
	// 422 Unprocessable Entity
	// 400 Bad Request
	// 402 Payment Required
}

// A failure rate makes the simulated processor flaky; the random source is injected,
// so this one always fails. Like an acquirer, it decides each idempotency key once.
func ExampleNewSimulatedProcessor() {
	ctx := context.Background()
	proc := payment.NewSimulatedProcessor(payment.ProcessorSettings{FailureRate: 0.5}, func() float64 { return 0.25 })
	_, err := proc.Authorize(ctx, "k1", payment.ChargeRequest{OrderID: "o", AmountCents: 100, Currency: "USD"})
	fmt.Println(err)
	ok := payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil)
	d, _ := ok.Authorize(ctx, "k2", payment.ChargeRequest{OrderID: "o", AmountCents: 1013, Currency: "USD"})
	fmt.Printf("%+v\n", d)
	charge := payment.ChargeRequest{OrderID: "o2", AmountCents: 500, Currency: "USD"}
	for range 3 { // a retry, a takeover, a call after a crash: the same key
		d, _ = ok.Authorize(ctx, "k3", charge)
	}
	fmt.Println(d.Approved, ok.Authorized())
	// Output:
	// payment: card processor unavailable
	// {Approved:false Reason:card_declined}
	// true 1
}

// The service without HTTP: a retry with the same key is a replay, not a new charge.
func ExampleNewService() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "payment")
	defer os.RemoveAll(dir)
	db, _ := sqlitedb.Open(ctx, filepath.Join(dir, "payment.db"), sqlitedb.Settings{})
	defer db.Close()
	store, _ := payment.NewStore(ctx, db)
	svc := payment.NewService(store, payment.NewSimulatedProcessor(payment.ProcessorSettings{}, nil), payment.Settings{})

	req := payment.ChargeRequest{OrderID: "o-9", AmountCents: 4200, Currency: "EUR"}
	first, _ := svc.Charge(ctx, "key-9", req)
	again, _ := svc.Charge(ctx, "key-9", req)
	fmt.Println(first.Payment.Status, first.Replayed, again.Replayed, again.Payment.ID == first.Payment.ID)
	_, err := svc.Charge(ctx, "key-10", req) // another key, same order
	fmt.Println(err)
	list, _ := svc.ListByOrder(ctx, "o-9")
	fmt.Println(len(list))
	// Output:
	// captured false true true
	// payment: order already charged
	// 1
}
