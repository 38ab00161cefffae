package cart

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/gantry-go/gantry/transport"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 4 << 10

// NewHTTPHandler returns the cart's HTTP API over endpoints:
//
//	PUT    /carts/{cart_id}/items/{product_id}  {"quantity": n}
//	DELETE /carts/{cart_id}/items/{product_id}
//	GET    /carts/{cart_id}
//	POST   /carts/{cart_id}/checkout            (Idempotency-Key required)
//	GET    /orders/{id}
//
// Every route acts for the owner that Owner reads from the request (the
// Gantry-Principal of the gateway); another owner's cart or order is a 404.
// Errors are application/problem+json (see ProblemFor); 5xx errors are logged on
// logger (nil discards). main serves it with gantry.NewServer (recovery, telemetry,
// request ids, deadlines, load shedding). The handler is safe for concurrent use.
func NewHTTPHandler(e Endpoints, logger *slog.Logger) *http.ServeMux {
	opts := append(transport.KitServerOptions(logger), kithttp.ServerErrorEncoder(encodeError))
	mux := http.NewServeMux()
	mux.Handle("PUT /carts/{cart_id}/items/{product_id}", kithttp.NewServer(e.PutItem, DecodePutItemRequest, encodeCart(http.StatusOK), opts...))
	mux.Handle("DELETE /carts/{cart_id}/items/{product_id}", kithttp.NewServer(e.RemoveItem, DecodeItemRequest, encodeCart(http.StatusOK), opts...))
	mux.Handle("GET /carts/{cart_id}", kithttp.NewServer(e.GetCart, DecodeCartRequest, encodeCart(http.StatusOK), opts...))
	mux.Handle("POST /carts/{cart_id}/checkout", kithttp.NewServer(e.Checkout, DecodeCheckoutRequest, encodeCheckout, opts...))
	mux.Handle("GET /orders/{id}", kithttp.NewServer(e.GetOrder, DecodeOrderRequest, encodeOrder, opts...))
	_ = transport.HandleUnmatched(mux) // 404 and 405 (with Allow) as problem+json; "/" is free here
	return mux
}

// Callers says which services may call each route of NewHTTPHandler, as the table of
// identity.NewPolicy: everything comes through the gateway; an operator may also read
// carts and orders. Unlisted patterns (the 404 and 405 answers) are open to both.
func Callers() (routes map[string][]string, unlisted []string) {
	read := []string{"gateway", "operator"}
	edit := []string{"gateway"}
	return map[string][]string{
		"PUT /carts/{cart_id}/items/{product_id}":    edit,
		"DELETE /carts/{cart_id}/items/{product_id}": edit,
		"GET /carts/{cart_id}":                       read,
		"POST /carts/{cart_id}/checkout":             edit,
		"GET /orders/{id}":                           read,
	}, read
}

// DecodePutItemRequest decodes PUT /carts/{cart_id}/items/{product_id}. The body must
// be one JSON object {"quantity": n} with no unknown fields.
func DecodePutItemRequest(_ context.Context, r *http.Request) (any, error) {
	owner, err := Owner(r)
	if err != nil {
		return nil, err
	}
	req := PutItemRequest{Owner: owner, CartID: r.PathValue("cart_id"), ProductID: r.PathValue("product_id")}
	var body struct {
		Quantity *int `json:"quantity"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return nil, err
	}
	if body.Quantity == nil {
		return nil, &InvalidError{Field: "quantity", Detail: "is required"}
	}
	req.Quantity = *body.Quantity
	if err := errors.Join(validID("cart_id", req.CartID), validID("product_id", req.ProductID)); err != nil {
		return nil, err
	}
	if req.Quantity < 1 || req.Quantity > MaxQuantity {
		return nil, &InvalidError{Field: "quantity", Detail: "must be between 1 and " + strconv.Itoa(MaxQuantity)}
	}
	return req, nil
}

// DecodeItemRequest decodes DELETE /carts/{cart_id}/items/{product_id}.
func DecodeItemRequest(_ context.Context, r *http.Request) (any, error) {
	owner, err := Owner(r)
	if err != nil {
		return nil, err
	}
	req := ItemRequest{Owner: owner, CartID: r.PathValue("cart_id"), ProductID: r.PathValue("product_id")}
	if err := errors.Join(validID("cart_id", req.CartID), validID("product_id", req.ProductID)); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeCartRequest decodes GET /carts/{cart_id}.
func DecodeCartRequest(_ context.Context, r *http.Request) (any, error) {
	owner, err := Owner(r)
	if err != nil {
		return nil, err
	}
	req := CartRequest{Owner: owner, CartID: r.PathValue("cart_id")}
	if err := validID("cart_id", req.CartID); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeCheckoutRequest decodes POST /carts/{cart_id}/checkout. The Idempotency-Key
// header is required; a body, if any, must be empty or an empty JSON object.
func DecodeCheckoutRequest(_ context.Context, r *http.Request) (any, error) {
	owner, err := Owner(r)
	if err != nil {
		return nil, err
	}
	req := CheckoutRequest{Owner: owner, CartID: r.PathValue("cart_id"), IdempotencyKey: r.Header.Get(transport.HeaderIdempotencyKey)}
	if err := errors.Join(validID("cart_id", req.CartID), validKey(req.IdempotencyKey)); err != nil {
		return nil, err
	}
	var body struct{}
	if err := decodeJSON(r, &body); err != nil && !errors.Is(err, errEmptyBody) {
		return nil, err
	}
	return req, nil
}

// DecodeOrderRequest decodes GET /orders/{id}.
func DecodeOrderRequest(_ context.Context, r *http.Request) (any, error) {
	owner, err := Owner(r)
	if err != nil {
		return nil, err
	}
	req := OrderRequest{Owner: owner, OrderID: r.PathValue("id")}
	if err := validID("order_id", req.OrderID); err != nil {
		return nil, err
	}
	return req, nil
}

var errEmptyBody = &InvalidError{Field: "body", Detail: "a JSON object is required"}

// decodeJSON reads one JSON object from r's body into v: at most MaxBodyBytes, no
// unknown fields, nothing after it.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
			return &transport.Problem{Status: http.StatusUnsupportedMediaType, Detail: "Content-Type must be application/json"}
		}
	}
	if r.Body == nil {
		return errEmptyBody
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.Is(err, io.EOF):
			return errEmptyBody
		}
		return &InvalidError{Field: "body", Detail: "not a valid JSON object of the expected shape"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &InvalidError{Field: "body", Detail: "unexpected data after the JSON object"}
	}
	return nil
}

type cartBody struct {
	ID         string     `json:"id"`
	Items      []itemBody `json:"items"`
	TotalCents int64      `json:"total_cents"`
	Currency   string     `json:"currency,omitempty"`
}

type itemBody struct {
	ProductID  string `json:"product_id"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// CheckoutBody is the 201 body of a successful checkout.
type CheckoutBody struct {
	OrderID    string `json:"order_id"`
	Status     string `json:"status"`
	PaymentID  string `json:"payment_id"`
	TotalCents int64  `json:"total_cents"`
}

// OrderBody is the body of GET /orders/{id}.
type OrderBody struct {
	ID         string `json:"id"`
	CartID     string `json:"cart_id"`
	Status     string `json:"status"`
	PaymentID  string `json:"payment_id"`
	TotalCents int64  `json:"total_cents"`
}

func encodeCart(status int) kithttp.EncodeResponseFunc {
	return func(ctx context.Context, w http.ResponseWriter, response any) error {
		if f, ok := response.(endpoint.Failer); ok && f.Failed() != nil {
			encodeError(ctx, f.Failed(), w)
			return nil
		}
		c := response.(CartResponse).Cart
		b := cartBody{ID: c.ID, Items: make([]itemBody, len(c.Items)), TotalCents: c.TotalCents, Currency: c.Currency}
		for i, it := range c.Items {
			b.Items[i] = itemBody(it)
		}
		return writeJSON(w, status, b)
	}
}

func encodeCheckout(ctx context.Context, w http.ResponseWriter, response any) error {
	r := response.(OrderResponse)
	if r.Order.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if r.Err != nil {
		encodeError(ctx, r.Err, w)
		return nil
	}
	o := r.Order
	return writeJSON(w, http.StatusCreated, CheckoutBody{OrderID: o.ID, Status: string(o.Status), PaymentID: o.PaymentID, TotalCents: o.TotalCents})
}

func encodeOrder(ctx context.Context, w http.ResponseWriter, response any) error {
	r := response.(OrderResponse)
	if r.Err != nil {
		encodeError(ctx, r.Err, w)
		return nil
	}
	o := r.Order
	return writeJSON(w, http.StatusOK, OrderBody{ID: o.ID, CartID: o.CartID, Status: string(o.Status), PaymentID: o.PaymentID, TotalCents: o.TotalCents})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// statusOf maps a domain error to its HTTP status; 0 means "let
// transport.ProblemFor decide".
func statusOf(err error) int {
	var p *transport.Problem
	switch {
	case errors.As(err, &p):
		return p.StatusCode()
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUntrustedPrincipal):
		return http.StatusForbidden
	case errors.Is(err, ErrProductNotFound), errors.Is(err, ErrOrderNotFound), errors.Is(err, ErrCartNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrPaymentDeclined):
		return http.StatusPaymentRequired
	case errors.Is(err, ErrEmptyCart), errors.Is(err, ErrOutOfStock), errors.Is(err, ErrOrderCancelled),
		errors.Is(err, ErrCheckoutFailed), errors.Is(err, ErrCartCheckedOut), errors.Is(err, ErrCartFull),
		errors.Is(err, ErrCurrencyMismatch), errors.Is(err, ErrTotalTooLarge):
		return http.StatusConflict
	case errors.Is(err, ErrKeyReused):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrUpstream):
		return http.StatusBadGateway
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return 0
}

// ProblemFor maps a cart error to the problem+json body a client sees. Domain errors
// keep their message as the detail; 5xx details never carry internals.
func ProblemFor(err error, retryAfter time.Duration) *transport.Problem {
	var p *transport.Problem
	if errors.As(err, &p) {
		return transport.ProblemFor(err)
	}
	status := statusOf(err)
	switch {
	case status == 0:
		return transport.ProblemFor(err)
	case status == http.StatusServiceUnavailable:
		out := &transport.Problem{Status: status, Title: http.StatusText(status), Retry: retryAfter}
		var ue *UnavailableError
		if errors.As(err, &ue) {
			if ue.Retry > 0 {
				out.Retry = ue.Retry
			}
			out.Detail = ue.Dependency + " is unavailable"
			if ue.OrderID != "" {
				out.Detail = "order " + ue.OrderID + " is pending: " + ue.Dependency +
					" is unavailable; retry with the same Idempotency-Key to resume it"
			}
		}
		return out
	case status >= 500:
		return &transport.Problem{Status: status, Title: http.StatusText(status), Detail: "a dependency rejected the request"}
	}
	out := &transport.Problem{Status: status, Title: http.StatusText(status), Detail: err.Error()}
	var ie *InvalidError
	if errors.As(err, &ie) {
		out.Detail = "invalid request"
		for _, e := range unwrapAll(err) {
			if ie, ok := e.(*InvalidError); ok {
				out.Errors = append(out.Errors, transport.FieldError{Field: ie.Field, Detail: ie.Detail})
			}
		}
	}
	return out
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
		return out
	}
	return []error{err}
}

func encodeError(_ context.Context, err error, w http.ResponseWriter) {
	if errors.Is(err, ErrUnavailable) {
		// The cart's own client already retried the dependency within its budget:
		// tell the caller one hop up not to multiply the retries.
		w.Header().Set(transport.HeaderRetryExhausted, "1")
	}
	transport.WriteProblem(w, nil, ProblemFor(err, time.Second))
}
