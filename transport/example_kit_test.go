package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/gantry-go/gantry/transport"
)

type reserveRequest struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

type reserveResponse struct {
	Reserved int   `json:"reserved"`
	Err      error `json:"-"` // a business error, reported through endpoint.Failer
}

func (r reserveResponse) Failed() error { return r.Err }

var errNoStock = &transport.Problem{Status: http.StatusConflict, Detail: "not enough stock"}

// ExampleKitServerOptions serves a go-kit endpoint with Gantry's codecs, error
// encoder and middleware.
func ExampleKitServerOptions() {
	reserve := func(_ context.Context, request any) (any, error) {
		req := request.(reserveRequest)
		if req.Quantity > 5 {
			return reserveResponse{Err: errNoStock}, nil
		}
		if req.SKU == "" {
			return nil, errors.New("inventory db: connection reset") // hidden from the caller
		}
		return reserveResponse{Reserved: req.Quantity}, nil
	}
	logger := slog.New(slog.DiscardHandler)
	kit := kithttp.NewServer(reserve, transport.DecodeJSONRequest[reserveRequest], transport.EncodeJSONResponse,
		transport.KitServerOptions(logger)...)
	srv := httptest.NewServer(transport.Chain(transport.Recover(logger), transport.BodyLimit(1<<10))(kit))
	defer srv.Close()

	for _, body := range []string{`{"sku":"a1","quantity":2}`, `{"sku":"a1","quantity":9}`, `{"quantity":1}`, `{"sku":"a1","qty":1}`} {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", strings.TrimSpace(string(b)), "\n")
	}
	// Output:
	// 200 {"reserved":2}
	// 409 {"title":"Conflict","status":409,"detail":"not enough stock"}
	// 500 {"title":"Internal Server Error","status":500,"detail":"the server could not complete the request"}
	// 400 {"title":"Bad Request","status":400,"detail":"field \"qty\": unknown field","errors":[{"field":"qty","detail":"field \"qty\": unknown field"}]}
}
