package payment

import (
	"context"

	"github.com/go-kit/kit/endpoint"
)

// Endpoints collects the payment service's go-kit endpoints, one per operation. The
// endpoints are safe for concurrent use.
type Endpoints struct {
	Charge      endpoint.Endpoint
	Void        endpoint.Endpoint
	Get         endpoint.Endpoint
	ListByOrder endpoint.Endpoint
	Refund      endpoint.Endpoint
}

// MakeEndpoints returns the endpoints of svc.
func MakeEndpoints(svc Service) Endpoints {
	return Endpoints{
		Charge:      MakeChargeEndpoint(svc),
		Void:        MakeVoidEndpoint(svc),
		Get:         MakeGetEndpoint(svc),
		ListByOrder: MakeListByOrderEndpoint(svc),
		Refund:      MakeRefundEndpoint(svc),
	}
}

// ChargeEndpointRequest is a charge and the idempotency key it came with.
type ChargeEndpointRequest struct {
	Key string
	ChargeRequest
}

type idRequest struct{ ID string }

type orderRequest struct{ OrderID string }

// MakeChargeEndpoint returns an endpoint taking a ChargeEndpointRequest and
// returning a ChargeResult.
func MakeChargeEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		r := req.(ChargeEndpointRequest)
		return svc.Charge(ctx, r.Key, r.ChargeRequest)
	}
}

// MakeVoidEndpoint returns an endpoint taking a ChargeEndpointRequest and returning
// a VoidResult.
func MakeVoidEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		r := req.(ChargeEndpointRequest)
		return svc.Void(ctx, r.Key, r.ChargeRequest)
	}
}

// MakeGetEndpoint returns an endpoint taking an idRequest and returning a Payment.
func MakeGetEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return svc.Get(ctx, req.(idRequest).ID)
	}
}

// MakeListByOrderEndpoint returns an endpoint taking an orderRequest and returning
// []Payment.
func MakeListByOrderEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return svc.ListByOrder(ctx, req.(orderRequest).OrderID)
	}
}

// MakeRefundEndpoint returns an endpoint taking an idRequest and returning the
// refunded Payment.
func MakeRefundEndpoint(svc Service) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		return svc.Refund(ctx, req.(idRequest).ID)
	}
}
