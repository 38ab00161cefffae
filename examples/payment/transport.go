package payment

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/gantry-go/gantry/transport"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 16 << 10

// HeaderIdempotentReplayed marks a response that repeats the stored answer to an
// earlier request with the same Idempotency-Key.
const HeaderIdempotentReplayed = "Idempotent-Replayed"

// Problem types, stable URIs that clients may branch on.
const (
	ProblemDeclined       = "urn:gantry:problem:payment-declined"
	ProblemKeyReused      = "urn:gantry:problem:idempotency-key-reused"
	ProblemInFlight       = "urn:gantry:problem:idempotency-key-in-flight"
	ProblemAlreadyCharged = "urn:gantry:problem:order-already-charged"
	ProblemNotRefundable  = "urn:gantry:problem:not-refundable"
	ProblemUnavailable    = "urn:gantry:problem:processor-unavailable"
	ProblemVoided         = "urn:gantry:problem:idempotency-key-voided"
)

// NewHTTPHandler returns the payment HTTP API over svc:
//
//	POST /payments               Idempotency-Key required; {"order_id","amount_cents","currency"}
//	                             201 payment; 402 declined; 400 no key; 409 in flight or
//	                             order already charged; 422 key reused; 503 processor down
//	GET  /payments/{id}          200 payment, 404
//	GET  /payments?order_id=...  200 [payment] (oldest first), 400 without order_id
//	POST /payments/{id}/refund   200 refunded payment (idempotent), 404, 409 declined, 503
//	POST /payments/void          Idempotency-Key and the charge's body: 200 {"voided":true}
//	                             when no charge used the key (a later one is 409 voided);
//	                             otherwise what POST /payments with it answers
//
// A replayed answer carries Idempotent-Replayed: true. It is served by go-kit with
// Gantry's adapters (transport.KitServerOptions, transport.EncodeJSONResponse).
// Errors leave as problem+json; 5xx errors are logged on logger (nil discards them).
// The handler is safe for concurrent use.
func NewHTTPHandler(svc Service, logger *slog.Logger) *http.ServeMux {
	e := MakeEndpoints(svc)
	opts := transport.KitServerOptions(logger)
	mux := http.NewServeMux()
	mux.Handle("POST /payments", httptransport.NewServer(problems(e.Charge), DecodeChargeRequest, encodeCharge, opts...))
	mux.Handle("POST /payments/void", httptransport.NewServer(problems(e.Void), DecodeChargeRequest, encodeVoid, opts...))
	mux.Handle("GET /payments/{id}", httptransport.NewServer(problems(e.Get), decodeID, transport.EncodeJSONResponse, opts...))
	mux.Handle("GET /payments", httptransport.NewServer(problems(e.ListByOrder), decodeOrder, transport.EncodeJSONResponse, opts...))
	mux.Handle("POST /payments/{id}/refund", httptransport.NewServer(problems(e.Refund), decodeID, transport.EncodeJSONResponse, opts...))
	_ = transport.HandleUnmatched(mux) // 404 and 405 (with Allow) as problem+json; "/" is free here
	return mux
}

// Callers says which services may call each route of NewHTTPHandler, as the table of
// identity.NewPolicy: charges come only from the cart; reading the ledger and refunds
// from the cart (its compensation), an operator, or the gateway acting for a user with
// the operator role (EdgeRoles). Unlisted patterns (the 404 and 405 answers) are open
// to all three.
func Callers() (routes map[string][]string, unlisted []string) {
	both := []string{"cart", "operator", "gateway"}
	return map[string][]string{
		"POST /payments":             {"cart"},
		"POST /payments/void":        {"cart"},
		"GET /payments/{id}":         both,
		"GET /payments":              both,
		"POST /payments/{id}/refund": both,
	}, both
}

// EdgeRoles names the routes the gateway may call only for a user with a role: the
// ledger and refunds, for an operator (the gateway's /api/payments).
func EdgeRoles() map[string]string {
	return map[string]string{"GET /payments/{id}": "operator", "GET /payments": "operator", "POST /payments/{id}/refund": "operator"}
}

// problems maps the domain errors an endpoint returns to problems with the right
// status (see problemOf), so that KitServerOptions writes and logs them as 4xx or 503.
func problems(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		resp, err := next(ctx, req)
		if err != nil {
			return nil, problemOf(err)
		}
		return resp, nil
	}
}

// DecodeChargeRequest reads the Idempotency-Key header and strictly decodes and
// validates the body of POST /payments. A missing key is checked first, so a request
// without one is 400 whatever its body.
func DecodeChargeRequest(_ context.Context, r *http.Request) (any, error) {
	key := r.Header.Get(transport.HeaderIdempotencyKey)
	if err := ValidateKey(key); err != nil {
		return nil, problemOf(err)
	}
	req, err := transport.DecodeJSON[ChargeRequest](r, MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	if err := ValidateCharge(req); err != nil {
		return nil, problemOf(err)
	}
	return ChargeEndpointRequest{Key: key, ChargeRequest: req}, nil
}

func decodeID(_ context.Context, r *http.Request) (any, error) {
	return idRequest{ID: r.PathValue("id")}, nil
}

func decodeOrder(_ context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	if len(q["order_id"]) != 1 {
		return nil, problemOf(&InvalidError{Field: "order_id", Reason: "exactly one order_id query parameter is required"})
	}
	return orderRequest{OrderID: q.Get("order_id")}, nil
}

// encodeCharge renders a charge result. It is a function of the stored payment
// alone, so a replay renders the same status and body as the first answer.
func encodeCharge(_ context.Context, w http.ResponseWriter, resp any) error {
	res := resp.(ChargeResult)
	if res.Replayed {
		w.Header().Set(HeaderIdempotentReplayed, "true")
	}
	p := res.Payment
	if p.Status == StatusDeclined {
		transport.WriteProblem(w, nil, &transport.Problem{
			Type:   ProblemDeclined,
			Status: http.StatusPaymentRequired,
			Detail: "payment " + p.ID + " for order " + p.OrderID + " declined: " + p.DeclineReason,
		})
		return nil
	}
	w.Header().Set("Location", "/payments/"+p.ID)
	return transport.WriteJSON(w, http.StatusCreated, p)
}

// encodeVoid renders a void: 200 {"voided":true}, or the charge the key made.
func encodeVoid(ctx context.Context, w http.ResponseWriter, resp any) error {
	res := resp.(VoidResult)
	if res.Voided {
		return transport.WriteJSON(w, http.StatusOK, map[string]bool{"voided": true})
	}
	return encodeCharge(ctx, w, res.ChargeResult)
}

// problemOf maps the domain errors to problems; other errors pass through to
// transport.ProblemFor, which hides the details of anything that is not a 4xx.
func problemOf(err error) error {
	var inv *InvalidError
	var ra transport.RetryAfterer
	switch {
	case errors.As(err, &inv):
		return &transport.Problem{Status: http.StatusBadRequest, Detail: inv.Field + ": " + inv.Reason,
			Errors: []transport.FieldError{{Field: inv.Field, Detail: inv.Reason}}}
	case errors.Is(err, ErrKeyRequired):
		return &transport.Problem{Status: http.StatusBadRequest, Detail: "the Idempotency-Key header is required",
			Errors: []transport.FieldError{{Field: "Idempotency-Key", Detail: "is required"}}}
	case errors.Is(err, ErrNotFound):
		return &transport.Problem{Status: http.StatusNotFound, Detail: err.Error()}
	case errors.Is(err, ErrVoided):
		return &transport.Problem{Type: ProblemVoided, Status: http.StatusConflict, Detail: err.Error()}
	case errors.Is(err, ErrKeyReused):
		return &transport.Problem{Type: ProblemKeyReused, Status: http.StatusUnprocessableEntity, Detail: err.Error()}
	case errors.Is(err, ErrInFlight):
		// Retry-After is the time left on the other request's claim (a claim left by a
		// killed replica expires then), rounded up to whole seconds, at least 1.
		p := &transport.Problem{Type: ProblemInFlight, Status: http.StatusConflict, Detail: err.Error(), Retry: time.Second}
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			p.Retry = ra.RetryAfter()
		}
		return p
	case errors.Is(err, ErrAlreadyCharged):
		return &transport.Problem{Type: ProblemAlreadyCharged, Status: http.StatusConflict, Detail: err.Error()}
	case errors.Is(err, ErrNotRefundable):
		return &transport.Problem{Type: ProblemNotRefundable, Status: http.StatusConflict, Detail: err.Error()}
	case errors.Is(err, ErrUnavailable):
		p := &transport.Problem{Type: ProblemUnavailable, Status: http.StatusServiceUnavailable, Detail: err.Error(), Retry: time.Second}
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			p.Retry = ra.RetryAfter()
		}
		return p
	}
	return err
}
