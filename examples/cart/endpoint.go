package cart

import (
	"context"

	"github.com/go-kit/kit/endpoint"
)

// Endpoints collects the cart's go-kit endpoints, one per Service method. Business
// errors (4xx) travel in the response's Failed() so endpoint middleware such as a
// circuit breaker does not count them; infrastructure errors are returned as errors.
type Endpoints struct {
	PutItem    endpoint.Endpoint
	RemoveItem endpoint.Endpoint
	GetCart    endpoint.Endpoint
	Checkout   endpoint.Endpoint
	GetOrder   endpoint.Endpoint
}

// MakeEndpoints returns the endpoints of s.
func MakeEndpoints(s Service) Endpoints {
	return Endpoints{
		PutItem:    MakePutItemEndpoint(s),
		RemoveItem: MakeRemoveItemEndpoint(s),
		GetCart:    MakeGetCartEndpoint(s),
		Checkout:   MakeCheckoutEndpoint(s),
		GetOrder:   MakeGetOrderEndpoint(s),
	}
}

// PutItemRequest is the decoded PUT /carts/{cart_id}/items/{product_id}.
type PutItemRequest struct {
	Owner     string
	CartID    string
	ProductID string
	Quantity  int `json:"quantity"`
}

// ItemRequest names one cart line (DELETE /carts/{cart_id}/items/{product_id}).
type ItemRequest struct {
	Owner     string
	CartID    string
	ProductID string
}

// CartRequest names a cart (GET /carts/{cart_id}).
type CartRequest struct {
	Owner  string
	CartID string
}

// CheckoutRequest is the decoded POST /carts/{cart_id}/checkout.
type CheckoutRequest struct {
	Owner          string
	CartID         string
	IdempotencyKey string
}

// OrderRequest names an order (GET /orders/{id}).
type OrderRequest struct {
	Owner   string
	OrderID string
}

// CartResponse carries a cart or a business error.
type CartResponse struct {
	Cart Cart
	Err  error
}

// Failed implements endpoint.Failer.
func (r CartResponse) Failed() error { return r.Err }

// OrderResponse carries an order or a business error.
type OrderResponse struct {
	Order Order
	Err   error
}

// Failed implements endpoint.Failer.
func (r OrderResponse) Failed() error { return r.Err }

// MakePutItemEndpoint returns an endpoint for Service.PutItem.
func MakePutItemEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(PutItemRequest)
		c, err := s.PutItem(ctx, req.Owner, req.CartID, req.ProductID, req.Quantity)
		return cartResult(c, err)
	}
}

// MakeRemoveItemEndpoint returns an endpoint for Service.RemoveItem.
func MakeRemoveItemEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(ItemRequest)
		c, err := s.RemoveItem(ctx, req.Owner, req.CartID, req.ProductID)
		return cartResult(c, err)
	}
}

// MakeGetCartEndpoint returns an endpoint for Service.GetCart.
func MakeGetCartEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(CartRequest)
		c, err := s.GetCart(ctx, req.Owner, req.CartID)
		return cartResult(c, err)
	}
}

// MakeCheckoutEndpoint returns an endpoint for Service.Checkout.
func MakeCheckoutEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(CheckoutRequest)
		o, err := s.Checkout(ctx, req.Owner, req.CartID, req.IdempotencyKey)
		return orderResult(o, err)
	}
}

// MakeGetOrderEndpoint returns an endpoint for Service.GetOrder.
func MakeGetOrderEndpoint(s Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(OrderRequest)
		o, err := s.GetOrder(ctx, req.Owner, req.OrderID)
		return orderResult(o, err)
	}
}

func cartResult(c Cart, err error) (any, error) {
	if err != nil && !isBusiness(err) {
		return nil, err
	}
	return CartResponse{Cart: c, Err: err}, nil
}

func orderResult(o Order, err error) (any, error) {
	if err != nil && !isBusiness(err) {
		return nil, err
	}
	return OrderResponse{Order: o, Err: err}, nil
}

// isBusiness reports whether err is a 4xx answer rather than a failure of this
// service or its dependencies.
func isBusiness(err error) bool {
	s := statusOf(err)
	return s >= 400 && s < 500
}
