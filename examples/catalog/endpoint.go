package catalog

import (
	"context"
	"net/http"

	"github.com/go-kit/kit/endpoint"
)

// Endpoints collects the catalog's go-kit endpoints, one per operation, so that
// middleware (logging, metrics, breakers) can wrap each, and so that transports other
// than HTTP could serve them. The endpoints are safe for concurrent use.
type Endpoints struct {
	ListProducts   endpoint.Endpoint
	GetProduct     endpoint.Endpoint
	Reserve        endpoint.Endpoint
	GetReservation endpoint.Endpoint
	Confirm        endpoint.Endpoint
	Release        endpoint.Endpoint
	Inventory      endpoint.Endpoint
}

// MakeEndpoints returns the endpoints of svc.
func MakeEndpoints(svc Service) Endpoints {
	return Endpoints{
		ListProducts:   MakeListProductsEndpoint(svc),
		GetProduct:     MakeGetProductEndpoint(svc),
		Reserve:        MakeReserveEndpoint(svc),
		GetReservation: MakeGetReservationEndpoint(svc),
		Confirm:        MakeConfirmEndpoint(svc),
		Release:        MakeReleaseEndpoint(svc),
		Inventory:      MakeInventoryEndpoint(svc),
	}
}

// ReserveRequest is the body of POST /reservations.
type ReserveRequest struct {
	OrderID string `json:"order_id"`
	Items   []Item `json:"items"`
}

// ReserveResponse is a reservation and whether this call created it (201, with a
// Location) or found it (200, marked Idempotent-Replayed: true). It encodes as the
// reservation.
type ReserveResponse struct {
	Reservation
	Created bool `json:"-"`
}

// StatusCode is 201 for a new reservation, 200 for a replay.
func (r ReserveResponse) StatusCode() int {
	if r.Created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// Headers returns Location for a new reservation, Idempotent-Replayed for a replay.
func (r ReserveResponse) Headers() http.Header {
	if r.Created {
		return http.Header{"Location": {"/reservations/" + r.ID}}
	}
	return http.Header{HeaderIdempotentReplayed: {"true"}}
}

// releaseResponse is the empty 204 answer to DELETE /reservations/{id}.
type releaseResponse struct{}

// StatusCode is 204.
func (releaseResponse) StatusCode() int { return http.StatusNoContent }

type idRequest struct{ ID string }

// ListRequest asks for every product, or for those of IDs.
type ListRequest struct{ IDs []string }

// MakeListProductsEndpoint returns an endpoint taking a ListRequest (or any other
// request: every product) and returning []Product.
func MakeListProductsEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		r, _ := req.(ListRequest)
		return svc.ListProducts(ctx, r.IDs...)
	}
}

// MakeGetProductEndpoint returns an endpoint taking an idRequest and returning a
// Product.
func MakeGetProductEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return svc.GetProduct(ctx, req.(idRequest).ID)
	}
}

// MakeReserveEndpoint returns an endpoint taking a ReserveRequest and returning a
// ReserveResponse.
func MakeReserveEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		r := req.(ReserveRequest)
		res, created, err := svc.Reserve(ctx, r.OrderID, r.Items)
		if err != nil {
			return nil, err
		}
		return ReserveResponse{Reservation: res, Created: created}, nil
	}
}

// MakeGetReservationEndpoint returns an endpoint taking an idRequest and returning a
// Reservation.
func MakeGetReservationEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return svc.GetReservation(ctx, req.(idRequest).ID)
	}
}

// MakeConfirmEndpoint returns an endpoint taking an idRequest and returning the
// confirmed Reservation.
func MakeConfirmEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return svc.Confirm(ctx, req.(idRequest).ID)
	}
}

// MakeReleaseEndpoint returns an endpoint taking an idRequest and returning the
// releaseResponse (204, no body).
func MakeReleaseEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		if _, err := svc.Release(ctx, req.(idRequest).ID); err != nil {
			return nil, err
		}
		return releaseResponse{}, nil
	}
}

// MakeInventoryEndpoint returns an endpoint taking any request and returning
// []StockLevel.
func MakeInventoryEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		return svc.Inventory(ctx)
	}
}
