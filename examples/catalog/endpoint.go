package catalog

import (
	"context"

	"github.com/go-kit/kit/endpoint"
)

// Endpoints collects the catalog's go-kit endpoints, one per operation, so that
// middleware (logging, metrics, breakers) can wrap each, and so that transports other
// than HTTP could serve them.
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

// ReserveResponse is a reservation and whether this call created it (201) or found
// it (200, a replay).
type ReserveResponse struct {
	Reservation Reservation
	Created     bool
}

type idRequest struct{ ID string }

type listProductsRequest struct{}

type inventoryRequest struct{}

// MakeListProductsEndpoint returns an endpoint taking any request and returning
// []Product.
func MakeListProductsEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		return svc.ListProducts(ctx)
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
// released Reservation.
func MakeReleaseEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return svc.Release(ctx, req.(idRequest).ID)
	}
}

// MakeInventoryEndpoint returns an endpoint taking any request and returning
// []StockLevel.
func MakeInventoryEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		return svc.Inventory(ctx)
	}
}
