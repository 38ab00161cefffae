package resilience

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-kit/kit/endpoint"
	"github.com/sony/gobreaker/v2"

	"github.com/gantry-go/gantry/internal/httpx"
	"github.com/gantry-go/gantry/transport"
)

// serve runs next through b, recording the status. A rejection writes the prebuilt
// 503 problem with Retry-After. It allocates nothing.
func (b *Breaker) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := b.sh.recs.Get().(*httpx.Recorder)
	rec.Reset(w)
	_, err := b.cb.Execute(func() (struct{}, error) {
		next.ServeHTTP(rec, r)
		o := transport.ClassifyStatus(rec.StatusOr(http.StatusOK))
		if o == transport.Success {
			return struct{}{}, nil
		}
		if o.BreakerFailure() && errors.Is(r.Context().Err(), context.Canceled) {
			o = transport.Canceled // the client went away; not the handler's fault
		}
		return struct{}{}, outcomeErr(o)
	})
	rec.Reset(nil)
	b.sh.recs.Put(rec)
	if err == gobreaker.ErrOpenState || err == gobreaker.ErrTooManyRequests {
		b.rejected.Add(1)
		b.sh.rejects.add(r.Context())
		b.sh.reply.write(w, b.retryAfter())
	}
}

// roundTrip runs one round trip through b.
func (b *Breaker) roundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	var (
		resp *http.Response
		err  error
	)
	_, cbErr := b.cb.Execute(func() (struct{}, error) {
		resp, err = next.RoundTrip(req)
		var o transport.Outcome
		if err != nil {
			o = classifyErr(err)
		} else {
			o = transport.ClassifyStatus(resp.StatusCode)
		}
		if o == transport.Success {
			return struct{}{}, nil
		}
		return struct{}{}, outcomeErr(o)
	})
	if cbErr == gobreaker.ErrOpenState || cbErr == gobreaker.ErrTooManyRequests {
		b.rejected.Add(1)
		b.sh.rejects.add(req.Context())
		return nil, reject(ErrOpen, b.retryAfter())
	}
	return resp, err
}

func (b *Breaker) endpoint(next endpoint.Endpoint, ctx context.Context, request any) (any, error) {
	var (
		resp any
		err  error
	)
	if !b.run(func() transport.Outcome {
		resp, err = next(ctx, request)
		o := classifyErr(endpointErr(resp, err))
		if o.BreakerFailure() && errors.Is(ctx.Err(), context.Canceled) {
			o = transport.Canceled // the caller went away; not the endpoint's fault
		}
		return o
	}) {
		b.sh.rejects.add(ctx)
		return nil, reject(ErrOpen, b.retryAfter())
	}
	return resp, err
}

// endpointErr is the error a go-kit endpoint's result stands for: err, else the
// business error of a response implementing endpoint.Failer, which
// transport.EncodeJSONResponse writes with that error's status. Classifying it makes
// an endpoint policy judge a call as its HTTP form judges the status written for it.
func endpointErr(resp any, err error) error {
	if err != nil {
		return err
	}
	if f, ok := resp.(endpoint.Failer); ok {
		return f.Failed()
	}
	return nil
}

// Server returns server middleware: the handler's status is classified with
// transport.ClassifyStatus (a canceled request is neutral); while the breaker is open
// the middleware answers 503 problem+json with Retry-After without calling the handler.
func (b *Breaker) Server() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.serve(next, w, r) })
	}
}

// Client returns client middleware: a rejected round trip returns a *RejectedError
// wrapping ErrOpen, with no response.
func (b *Breaker) Client() func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) { return b.roundTrip(next, req) })
	}
}

// Endpoint returns go-kit middleware that judges calls as Server judges responses:
// the endpoint's error, or else the business error of a response implementing
// endpoint.Failer, is classified with transport.ClassifyError, so errors carrying a
// 4xx status (transport.StatusCoder) are neutral, and a failure after the caller
// canceled the context is neutral too. While the breaker is open it returns a
// *RejectedError wrapping ErrOpen without calling the endpoint.
func (b *Breaker) Endpoint() endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) { return b.endpoint(next, ctx, request) }
	}
}

// Server returns server middleware using the breaker of each request's key.
func (s *BreakerSet) Server() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.Get(s.key(r)).serve(next, w, r) })
	}
}

// Client returns client middleware using the breaker of each request's key (by
// default its URL host).
func (s *BreakerSet) Client() func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			return s.Get(s.key(req)).roundTrip(next, req)
		})
	}
}

// Endpoint returns go-kit middleware using the breaker that key picks for each call
// (see Breaker.Endpoint). A nil key picks it as Server does: the set's KeyFunc
// applied to the *http.Request that ContextWithRequest put in the context
// (kithttp.ServerBefore(ContextWithRequest)), and the key "" for every call whose
// context carries no request.
func (s *BreakerSet) Endpoint(key func(ctx context.Context, request any) string) endpoint.Middleware {
	if key == nil {
		key = func(ctx context.Context, _ any) string { return keyOf(ctx, s.key) }
	}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			return s.Get(key(ctx, request)).endpoint(next, ctx, request)
		}
	}
}
