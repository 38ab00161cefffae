package transport

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/go-kit/kit/endpoint"
	kittransport "github.com/go-kit/kit/transport"
	kithttp "github.com/go-kit/kit/transport/http"
)

// KitServerOptions returns the go-kit server options that make a
// kithttp.Server answer like every other Gantry handler: errors leave through
// KitErrorEncoder as problem+json, and each error is logged once to logger (5xx at
// Error level with the full error, which never reaches the response; others at Debug).
// A nil logger discards. Serve the kithttp.Server through the same Chain as plain
// handlers to get recovery, request ids, access logs, body limits and deadlines.
func KitServerOptions(logger *slog.Logger) []kithttp.ServerOption {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return []kithttp.ServerOption{
		kithttp.ServerErrorEncoder(KitErrorEncoder),
		kithttp.ServerErrorHandler(kitErrorLogger{logger}),
	}
}

// KitErrorEncoder is a kithttp.ErrorEncoder that writes err with WriteError: a
// problem+json body whose status ProblemFor chooses, with internals hidden.
func KitErrorEncoder(_ context.Context, err error, w http.ResponseWriter) {
	WriteError(w, nil, err)
}

// DecodeJSONRequest is a kithttp.DecodeRequestFunc that strictly decodes the body
// into a T with DecodeJSON (limit defaultMaxBodyBytes; put BodyLimit in front for
// another limit). It returns a T, so the endpoint asserts request.(T). Failures are
// *DecodeError values, which KitErrorEncoder turns into 400, 413 or 415.
func DecodeJSONRequest[T any](_ context.Context, r *http.Request) (any, error) {
	return DecodeJSON[T](r, 0)
}

// EncodeJSONResponse is a kithttp.EncodeResponseFunc. A response that implements
// go-kit's endpoint.Failer and reports an error is a business error: it is written
// with WriteError (give such errors a StatusCode method, or make them a *Problem, to
// choose the 4xx status). Otherwise the response is written with WriteJSON, with the
// status of its StatusCode method when it has one (200 otherwise) and the headers of
// its Headers method (kithttp.Headerer). A nil response, or a 204, has no body.
func EncodeJSONResponse(_ context.Context, w http.ResponseWriter, response any) error {
	if f, ok := response.(endpoint.Failer); ok && f.Failed() != nil {
		WriteError(w, nil, f.Failed())
		return nil
	}
	if h, ok := response.(kithttp.Headerer); ok {
		for k, vs := range h.Headers() {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
	status := http.StatusOK
	if sc, ok := response.(kithttp.StatusCoder); ok {
		status = sc.StatusCode()
	}
	if response == nil || status == http.StatusNoContent {
		w.WriteHeader(status)
		return nil
	}
	return WriteJSON(w, status, response)
}

// kitErrorLogger is a go-kit transport.ErrorHandler over slog.
type kitErrorLogger struct{ logger *slog.Logger }

var _ kittransport.ErrorHandler = kitErrorLogger{}

func (l kitErrorLogger) Handle(ctx context.Context, err error) {
	p := ProblemFor(err)
	level := slog.LevelDebug
	if p.Status >= 500 {
		level = slog.LevelError
	}
	l.logger.LogAttrs(ctx, level, "go-kit endpoint error",
		slog.Int("status", p.Status), slog.String("error", err.Error()),
		slog.String("request_id", RequestIDFrom(ctx)))
}
