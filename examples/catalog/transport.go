package catalog

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/gantry-go/gantry/transport"
)

// MaxBodyBytes bounds a request body; a reservation of MaxItems items fits easily.
const MaxBodyBytes = 64 << 10

// HeaderIdempotentReplayed marks a response that repeats an earlier one instead of
// doing the work again (POST /reservations for an order that already has one).
const HeaderIdempotentReplayed = "Idempotent-Replayed"

// Problem types, stable URIs that clients may branch on.
const (
	ProblemInsufficientStock = "urn:gantry:problem:insufficient-stock"
	ProblemOrderMismatch     = "urn:gantry:problem:order-mismatch"
	ProblemUnknownProduct    = "urn:gantry:problem:unknown-product"
	ProblemReleased          = "urn:gantry:problem:reservation-released"
)

// NewHTTPHandler returns the catalog's HTTP API (see the package documentation) over
// svc, served by go-kit with Gantry's adapters (transport.KitServerOptions,
// transport.EncodeJSONResponse). Errors leave as problem+json; 5xx errors are logged
// on logger (nil discards them). Unknown paths are 404 and wrong methods 405, both
// problem+json. Serve it with gantry.NewServer; the operational endpoints (/livez,
// /metrics, ...) belong on the admin server (gantry.NewAdmin). The handler is safe for
// concurrent use.
func NewHTTPHandler(svc Service, logger *slog.Logger) *http.ServeMux {
	e := MakeEndpoints(svc)
	opts := transport.KitServerOptions(logger)
	mux := http.NewServeMux()
	handle := func(pattern string, ep endpoint.Endpoint, dec httptransport.DecodeRequestFunc) {
		mux.Handle(pattern, httptransport.NewServer(problems(ep), dec, transport.EncodeJSONResponse, opts...))
	}
	handle("GET /products", e.ListProducts, decodeList)
	handle("GET /products/{id}", e.GetProduct, decodeID)
	handle("POST /reservations", e.Reserve, DecodeReserveRequest)
	handle("GET /reservations/{id}", e.GetReservation, decodeID)
	handle("POST /reservations/{id}/confirm", e.Confirm, decodeID)
	handle("DELETE /reservations/{id}", e.Release, decodeID)
	handle("GET /inventory", e.Inventory, noRequest)

	_ = transport.HandleUnmatched(mux) // 404 and 405 (with Allow) as problem+json; "/" is free here
	return mux
}

// Callers says which services may call each route of NewHTTPHandler, as the table of
// identity.NewPolicy: browsing comes from the gateway and the cart; reservations, which
// hold stock, only from the cart; the inventory report only from an operator, or the
// gateway acting for a user with the operator role (EdgeRoles). Unlisted patterns (the
// 404 and 405 answers) are open to all three.
func Callers() (routes map[string][]string, unlisted []string) {
	browse := []string{"gateway", "cart"}
	hold := []string{"cart"}
	return map[string][]string{
		"GET /products":                   browse,
		"GET /products/{id}":              browse,
		"POST /reservations":              hold,
		"GET /reservations/{id}":          hold,
		"POST /reservations/{id}/confirm": hold,
		"DELETE /reservations/{id}":       hold,
		"GET /inventory":                  {"operator", "gateway"},
	}, []string{"gateway", "cart", "operator"}
}

// EdgeRoles names the routes the gateway may call only for a user with a role: the
// inventory report, for an operator (the gateway's /api/inventory).
func EdgeRoles() map[string]string {
	return map[string]string{"GET /inventory": "operator"}
}

// problems maps the domain errors an endpoint returns to problems with the right
// status (see problemOf), so that KitServerOptions writes and logs them as 4xx.
func problems(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		resp, err := next(ctx, req)
		if err != nil {
			return nil, problemOf(err)
		}
		return resp, nil
	}
}

func noRequest(context.Context, *http.Request) (any, error) { return struct{}{}, nil }

// decodeList reads GET /products?id=p01&id=p02 (ids may also be comma-separated).
func decodeList(_ context.Context, r *http.Request) (any, error) {
	var ids []string
	for _, v := range r.URL.Query()["id"] {
		for id := range strings.SplitSeq(v, ",") {
			ids = append(ids, id)
		}
	}
	return ListRequest{IDs: ids}, nil
}

func decodeID(_ context.Context, r *http.Request) (any, error) {
	return idRequest{ID: r.PathValue("id")}, nil
}

// DecodeReserveRequest strictly decodes the body of POST /reservations (see
// transport.DecodeJSON) and validates it (see ValidateReservation). Errors carry a 4xx
// status for the error encoder.
func DecodeReserveRequest(_ context.Context, r *http.Request) (any, error) {
	req, err := transport.DecodeJSON[ReserveRequest](r, MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	if err := ValidateReservation(req.OrderID, req.Items); err != nil {
		return nil, problemOf(err)
	}
	return req, nil
}

// problemOf maps the domain errors to problems; other errors pass through to
// transport.ProblemFor, which hides the details of anything that is not a 4xx.
func problemOf(err error) error {
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		return &transport.Problem{Status: http.StatusBadRequest, Detail: inv.Field + ": " + inv.Reason,
			Errors: []transport.FieldError{{Field: inv.Field, Detail: inv.Reason}}}
	case errors.Is(err, ErrProductNotFound), errors.Is(err, ErrReservationNotFound):
		return &transport.Problem{Status: http.StatusNotFound, Detail: err.Error()}
	case errors.Is(err, ErrInsufficientStock):
		return &transport.Problem{Type: ProblemInsufficientStock, Status: http.StatusConflict, Detail: err.Error()}
	case errors.Is(err, ErrReservationReleased):
		return &transport.Problem{Type: ProblemReleased, Status: http.StatusConflict, Detail: err.Error()}
	case errors.Is(err, ErrOrderMismatch):
		return &transport.Problem{Type: ProblemOrderMismatch, Status: http.StatusUnprocessableEntity, Detail: err.Error()}
	case errors.Is(err, ErrUnknownProduct):
		return &transport.Problem{Type: ProblemUnknownProduct, Status: http.StatusUnprocessableEntity, Detail: err.Error()}
	}
	return err
}
