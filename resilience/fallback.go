package resilience

import (
	"context"
	"net/http"

	"github.com/go-kit/kit/endpoint"

	"github.com/gantry-go/gantry/transport"
)

// shouldFallBack reports whether err calls for a fallback: a local rejection (open
// breaker, rate limit, full bulkhead, shed), a failure or an overload. Business
// answers (4xx) and the caller's own cancellation pass through unchanged.
func shouldFallBack(err error) bool {
	if err == nil {
		return false
	}
	if isRejection(err) {
		return true
	}
	o := transport.ClassifyError(err)
	return o == transport.Failure || o == transport.Overloaded
}

// Fallback is a typed fallback: it turns the error of a failed call into a degraded
// answer (a cached value, a default, an empty list) or a better error. It is called
// only for local rejections, failures and overloads, never for 4xx business errors or
// the caller's cancellation. A Fallback is safe for concurrent use if the function is.
type Fallback[T any] func(ctx context.Context, err error) (T, error)

// Do calls fn, and f when fn's error calls for a fallback.
func (f Fallback[T]) Do(ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	v, err := fn(ctx)
	if shouldFallBack(err) {
		return f(ctx, err)
	}
	return v, err
}

// FallbackEndpoint returns go-kit middleware that calls fb when the endpoint's error,
// or else the business error of a response implementing endpoint.Failer (written
// with its status by transport.EncodeJSONResponse), calls for a fallback (see
// Fallback), as FallbackClient does for the status. fb gets that error. Requests
// that are not a Req pass the result through unchanged.
func FallbackEndpoint[Req, Resp any](fb func(ctx context.Context, request Req, err error) (Resp, error)) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			resp, err := next(ctx, request)
			ferr := endpointErr(resp, err)
			if !shouldFallBack(ferr) {
				return resp, err
			}
			req, ok := request.(Req)
			if !ok {
				return resp, err
			}
			return fb(ctx, req, ferr)
		}
	}
}

// FallbackClient returns client middleware that calls fb when a round trip fails
// (an error that calls for a fallback) or answers with a failure or overload status
// (5xx, 408, 429). fb gets the response (nil after an error) and the error; when it
// returns a different response, the original one's body is closed for it.
func FallbackClient(fb func(req *http.Request, resp *http.Response, err error) (*http.Response, error)) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if err == nil {
				if o := transport.ClassifyStatus(resp.StatusCode); o != transport.Failure && o != transport.Overloaded {
					return resp, nil
				}
			} else if !shouldFallBack(err) {
				return resp, err
			}
			fresp, ferr := fb(req, resp, err)
			if resp != nil && fresp != resp {
				discard(resp)
			}
			return fresp, ferr
		})
	}
}
