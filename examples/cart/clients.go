package cart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// CatalogClient calls the catalog service's HTTP API. It is safe for concurrent use.
type CatalogClient struct {
	hc   *http.Client
	base string
}

var _ Catalog = (*CatalogClient)(nil)

// NewCatalogClient returns a client for the catalog at baseURL (for example
// "http://catalog", resolved by discovery inside hc's transport). hc is normally
// gantry.NewClient's HTTP: tracing, retries, breaker, timeouts, balancing.
func NewCatalogClient(hc *http.Client, baseURL string) *CatalogClient {
	return &CatalogClient{hc: hc, base: strings.TrimRight(baseURL, "/")}
}

// Product implements Catalog.
func (c *CatalogClient) Product(ctx context.Context, id string) (Product, error) {
	var p Product
	status, err := call(ctx, c.hc, "catalog", http.MethodGet, c.base+"/products/"+url.PathEscape(id), "", nil, &p)
	if status == http.StatusNotFound {
		return Product{}, fmt.Errorf("%w: %s", ErrProductNotFound, id)
	}
	return p, err
}

// Products implements Catalog: GET /products?id=...&id=... (one call for up to
// catalog.MaxProductIDs ids; more are asked for in several).
func (c *CatalogClient) Products(ctx context.Context, ids []string) (map[string]Product, error) {
	const batch = 100 // catalog.MaxProductIDs
	out := make(map[string]Product, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), batch)
		q := url.Values{"id": ids[:n]}
		var ps []Product
		if _, err := call(ctx, c.hc, "catalog", http.MethodGet, c.base+"/products?"+q.Encode(), "", nil, &ps); err != nil {
			return nil, err
		}
		for _, p := range ps {
			out[p.ID] = p
		}
		ids = ids[n:]
	}
	return out, nil
}

type reservationRequest struct {
	OrderID string            `json:"order_id"`
	Items   []reservationItem `json:"items"`
}

type reservationItem struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

type reservation struct {
	ID      string `json:"id"`
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
}

// Reserve implements Catalog: POST /reservations, idempotent per order id.
func (c *CatalogClient) Reserve(ctx context.Context, orderID string, items []Item) (string, error) {
	req := reservationRequest{OrderID: orderID, Items: make([]reservationItem, len(items))}
	for i, it := range items {
		req.Items[i] = reservationItem{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	var res reservation
	status, err := call(ctx, c.hc, "catalog", http.MethodPost, c.base+"/reservations", "", req, &res)
	if status == http.StatusConflict {
		return "", fmt.Errorf("%w: order %s", ErrOutOfStock, orderID)
	}
	if err != nil {
		return "", err
	}
	if res.ID == "" {
		return "", &UnavailableError{Dependency: "catalog", Err: errors.New("reservation without id")}
	}
	return res.ID, nil
}

// ConfirmReservation implements Catalog: POST /reservations/{id}/confirm.
func (c *CatalogClient) ConfirmReservation(ctx context.Context, id string) error {
	_, err := call(ctx, c.hc, "catalog", http.MethodPost, c.base+"/reservations/"+url.PathEscape(id)+"/confirm", "", nil, nil)
	return err
}

// ReleaseReservation implements Catalog: DELETE /reservations/{id}. An unknown
// reservation counts as released.
func (c *CatalogClient) ReleaseReservation(ctx context.Context, id string) error {
	status, err := call(ctx, c.hc, "catalog", http.MethodDelete, c.base+"/reservations/"+url.PathEscape(id), "", nil, nil)
	if status == http.StatusNotFound {
		return nil
	}
	return err
}

// PaymentClient calls the payment service's HTTP API. It is safe for concurrent use.
type PaymentClient struct {
	hc   *http.Client
	base string
}

var _ Payments = (*PaymentClient)(nil)

// NewPaymentClient returns a client for the payment service at baseURL (for example
// "http://payment").
func NewPaymentClient(hc *http.Client, baseURL string) *PaymentClient {
	return &PaymentClient{hc: hc, base: strings.TrimRight(baseURL, "/")}
}

type chargeRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

// ProblemAlreadyCharged is the payment service's problem type for an order that
// already has a captured payment under another Idempotency-Key.
const ProblemAlreadyCharged = "urn:gantry:problem:order-already-charged"

// Charge implements Payments: POST /payments with Idempotency-Key key. A 402, or a
// 201 whose status is "declined" or "failed", is ErrPaymentDeclined; a 409 (the same
// key still in flight) is transient.
func (c *PaymentClient) Charge(ctx context.Context, key, orderID string, amountCents int64, currency string) (Payment, error) {
	var p Payment
	status, ptype, err := callTyped(ctx, c.hc, "payment", http.MethodPost, c.base+"/payments", key,
		chargeRequest{OrderID: orderID, AmountCents: amountCents, Currency: currency}, &p)
	switch {
	case status == http.StatusPaymentRequired:
		return Payment{}, fmt.Errorf("%w: order %s", ErrPaymentDeclined, orderID)
	case status == http.StatusConflict && ptype == ProblemAlreadyCharged:
		// The order was charged under another key; adopt that payment rather than
		// failing an order whose money has moved.
		ps, err := c.PaymentsForOrder(ctx, orderID)
		if err != nil {
			return Payment{}, err
		}
		for _, p := range ps {
			if Captured(p.Status) && p.AmountCents == amountCents {
				return p, nil
			}
		}
		return Payment{}, fmt.Errorf("%w: order %s already charged a different amount", ErrUpstream, orderID)
	case status == http.StatusConflict:
		// The key is claimed by another request, perhaps one whose replica died: the
		// payment service's Retry-After is the time left on that claim.
		retry := time.Second
		var rj *rejectedError
		if errors.As(err, &rj) && rj.retry > 0 {
			retry = rj.retry
		}
		return Payment{}, &UnavailableError{Dependency: "payment", Retry: retry, Err: ErrChargeInFlight}
	case err != nil:
		return Payment{}, err
	case p.Status == "declined" || p.Status == "failed":
		return Payment{}, fmt.Errorf("%w: order %s", ErrPaymentDeclined, orderID)
	case p.ID == "":
		return Payment{}, &UnavailableError{Dependency: "payment", Err: errors.New("payment without id")}
	}
	return p, nil
}

// ProblemVoided is the payment service's problem type for a charge whose key was
// voided.
const ProblemVoided = "urn:gantry:problem:idempotency-key-voided"

// Void implements Payments: POST /payments/void with Idempotency-Key key and the
// charge's body. 200 (voided) and 402 (declined) moved no money; 201 is the captured
// payment; a 409 in flight is transient.
func (c *PaymentClient) Void(ctx context.Context, key, orderID string, amountCents int64, currency string) (Payment, error) {
	var raw json.RawMessage
	status, ptype, err := callTyped(ctx, c.hc, "payment", http.MethodPost, c.base+"/payments/void", key,
		chargeRequest{OrderID: orderID, AmountCents: amountCents, Currency: currency}, &raw)
	switch {
	case status == http.StatusPaymentRequired:
		return Payment{}, nil
	case status == http.StatusConflict && ptype == ProblemAlreadyCharged:
		ps, err := c.PaymentsForOrder(ctx, orderID)
		if err != nil {
			return Payment{}, err
		}
		for _, p := range ps {
			if Captured(p.Status) {
				return p, nil
			}
		}
		return Payment{}, nil
	case status == http.StatusConflict:
		retry := time.Second
		var rj *rejectedError
		if errors.As(err, &rj) && rj.retry > 0 {
			retry = rj.retry
		}
		return Payment{}, &UnavailableError{Dependency: "payment", Retry: retry, Err: ErrChargeInFlight}
	case err != nil:
		return Payment{}, err
	case status == http.StatusOK:
		return Payment{}, nil // voided: no charge can use the key any more
	}
	var p Payment
	if err := json.Unmarshal(raw, &p); err != nil || p.ID == "" {
		return Payment{}, &UnavailableError{Dependency: "payment", Err: fmt.Errorf("decode the voided charge: %v", err)}
	}
	return p, nil
}

// Refund implements Payments: POST /payments/{id}/refund (idempotent).
func (c *PaymentClient) Refund(ctx context.Context, paymentID string) error {
	_, err := call(ctx, c.hc, "payment", http.MethodPost, c.base+"/payments/"+url.PathEscape(paymentID)+"/refund",
		"refund-"+paymentID, nil, nil)
	return err
}

// PaymentsForOrder implements Payments: GET /payments?order_id=...
func (c *PaymentClient) PaymentsForOrder(ctx context.Context, orderID string) ([]Payment, error) {
	var raw json.RawMessage
	_, err := call(ctx, c.hc, "payment", http.MethodGet, c.base+"/payments?order_id="+url.QueryEscape(orderID), "", nil, &raw)
	if err != nil {
		return nil, err
	}
	var ps []Payment
	if err := json.Unmarshal(raw, &ps); err == nil {
		return ps, nil
	}
	var wrapped struct {
		Payments []Payment `json:"payments"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return nil, &UnavailableError{Dependency: "payment", Err: fmt.Errorf("decode payments: %w", err)}
	}
	return wrapped.Payments, nil
}

// maxResponse bounds a dependency's response body.
const maxResponse = 1 << 20

// call sends one JSON request and decodes a 2xx JSON response into out (when not
// nil). It returns the status (0 when there was no response) and an error: an
// *UnavailableError for transport errors, 5xx, 408 and 429; an error matching
// ErrUpstream for other 4xx. Callers give 404/409/402 their domain meaning.
func call(ctx context.Context, hc *http.Client, dep, method, u, key string, in, out any) (int, error) {
	status, _, err := callTyped(ctx, hc, dep, method, u, key, in, out)
	return status, err
}

// callTyped is call that also returns the problem type of a 4xx response.
func callTyped(ctx context.Context, hc *http.Client, dep, method, u, key string, in, out any) (int, string, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, "", fmt.Errorf("cart: encode %s request: %w", dep, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, "", fmt.Errorf("cart: build %s request: %w", dep, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if key != "" {
		req.Header.Set(transport.HeaderIdempotencyKey, key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", ctx.Err()
		}
		var retry time.Duration
		if ra := transport.RetryAfterer(nil); errors.As(err, &ra) {
			retry = ra.RetryAfter() // an open breaker knows when it will probe again
		}
		return 0, "", &UnavailableError{Dependency: dep, Retry: retry, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.StatusCode, "", &UnavailableError{Dependency: dep, Err: fmt.Errorf("read response: %w", err)}
	}
	switch transport.ClassifyStatus(resp.StatusCode) {
	case transport.Success:
		if out != nil && resp.StatusCode != http.StatusNoContent {
			if err := json.Unmarshal(data, out); err != nil {
				return resp.StatusCode, "", &UnavailableError{Dependency: dep, Err: fmt.Errorf("decode response: %w", err)}
			}
		}
		return resp.StatusCode, "", nil
	case transport.Rejected:
		p := problemOf(data)
		err := fmt.Errorf("%w: %s %s: %d %s", ErrUpstream, dep, method, resp.StatusCode, p.Detail)
		if retry, ok := transport.ParseRetryAfter(resp.Header.Get(transport.HeaderRetryAfter), time.Now()); ok {
			return resp.StatusCode, p.Type, &rejectedError{retry: retry, err: err} // a 409 in flight says when
		}
		return resp.StatusCode, p.Type, err
	default:
		retry, _ := transport.ParseRetryAfter(resp.Header.Get(transport.HeaderRetryAfter), time.Now())
		return resp.StatusCode, "", &UnavailableError{Dependency: dep, Retry: retry,
			Err: fmt.Errorf("%s %s: status %d", dep, method, resp.StatusCode)}
	}
}

// rejectedError is a 4xx that came with a Retry-After (a 409 in flight).
type rejectedError struct {
	retry time.Duration
	err   error
}

func (e *rejectedError) Error() string { return e.err.Error() }
func (e *rejectedError) Unwrap() error { return e.err }

func problemOf(data []byte) transport.Problem {
	var p transport.Problem
	_ = json.Unmarshal(data, &p)
	return p
}
