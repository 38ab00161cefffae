package transport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/gantry-go/gantry/transport"
)

// errOutOfStock is a business error: it knows its status.
type errOutOfStock struct{ sku string }

func (e errOutOfStock) Error() string   { return "sku " + e.sku + " is out of stock" }
func (e errOutOfStock) StatusCode() int { return http.StatusConflict }

type placeOrderResponse struct {
	OrderID string `json:"order_id,omitempty"`
	Err     error  `json:"-"`
}

func (r placeOrderResponse) Failed() error { return r.Err }

type createdResponse struct {
	ID string `json:"id"`
}

func (createdResponse) StatusCode() int { return http.StatusCreated }
func (createdResponse) Headers() http.Header {
	return http.Header{"Location": {"/orders/1"}}
}

func placeOrderEndpoint(ctx context.Context, request any) (any, error) {
	req := request.(orderReq)
	switch req.Customer {
	case "panic":
		panic("endpoint bug")
	case "db":
		return nil, errors.New("pq: connection refused at 10.0.0.3:5432")
	case "created":
		return createdResponse{ID: "1"}, nil
	case "deadline":
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("no deadline")
		}
		return placeOrderResponse{OrderID: "has-deadline"}, nil
	}
	for _, it := range req.Items {
		if it.SKU == "gone" {
			return placeOrderResponse{Err: errOutOfStock{sku: it.SKU}}, nil
		}
	}
	return placeOrderResponse{OrderID: "o-1"}, nil
}

func TestKitAdapters(t *testing.T) {
	var logs logBuffer
	logger := newLogger(&logs)
	kit := kithttp.NewServer(placeOrderEndpoint, transport.DecodeJSONRequest[orderReq], transport.EncodeJSONResponse,
		transport.KitServerOptions(logger)...)
	h := transport.Chain(transport.Recover(logger), transport.RequestID(), transport.BodyLimit(256), headerDeadline)(kit)
	srv := httptest.NewServer(h)
	defer srv.Close()

	tests := []struct {
		name       string
		body       string
		ct         string
		header     http.Header
		chunked    bool
		wantStatus int
		wantBody   string // for success
		wantDetail string // for problems; "" = don't check
		wantField  string
	}{
		{name: "ok", body: `{"customer":"ann","items":[{"sku":"a","quantity":1}]}`, wantStatus: 200, wantBody: `{"order_id":"o-1"}`},
		{name: "status and headers from the response", body: `{"customer":"created"}`, wantStatus: 201, wantBody: `{"id":"1"}`},
		{name: "deadline header reaches the endpoint", body: `{"customer":"deadline"}`, header: http.Header{transport.HeaderTimeout: {"5000"}}, wantStatus: 200, wantBody: `{"order_id":"has-deadline"}`},
		{name: "unknown field", body: `{"customer":"ann","coupon":"x"}`, wantStatus: 400, wantDetail: `field "coupon": unknown field`, wantField: "coupon"},
		{name: "wrong type", body: `{"items":[{"sku":"a","quantity":"1"}]}`, wantStatus: 400, wantDetail: `field "items.quantity": want number, got string`, wantField: "items.quantity"},
		{name: "wrong content type", body: `{}`, ct: "text/plain", wantStatus: 415},
		{name: "too large chunked", body: `{"customer":"` + strings.Repeat("a", 300) + `"}`, chunked: true, wantStatus: 413},
		{name: "business error via Failer", body: `{"items":[{"sku":"gone","quantity":1}]}`, wantStatus: 409, wantDetail: "sku gone is out of stock"},
		{name: "internal error hidden", body: `{"customer":"db"}`, wantStatus: 500, wantDetail: "the server could not complete the request"},
		{name: "panic recovered", body: `{"customer":"panic"}`, wantStatus: 500, wantDetail: "the server could not complete the request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = onlyReader{bytes.NewReader([]byte(tt.body))}
			}
			req, _ := http.NewRequest("POST", srv.URL, body)
			req.Header.Set("Content-Type", "application/json")
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus < 300 {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var got, want any
				_ = json.Unmarshal(b, &got)
				_ = json.Unmarshal([]byte(tt.wantBody), &want)
				if string(mustJSON(got)) != string(mustJSON(want)) {
					t.Errorf("body = %s, want %s", b, tt.wantBody)
				}
				if tt.wantStatus == 201 && resp.Header.Get("Location") != "/orders/1" {
					t.Errorf("Location = %q, want /orders/1", resp.Header.Get("Location"))
				}
				return
			}
			id := resp.Header.Get(transport.HeaderRequestID)
			p := decodeProblem(t, resp)
			if p.Status != tt.wantStatus || p.Instance != id {
				t.Errorf("problem = %+v, want status %d instance %q", p, tt.wantStatus, id)
			}
			if tt.wantDetail != "" && p.Detail != tt.wantDetail {
				t.Errorf("problem detail = %q, want %q", p.Detail, tt.wantDetail)
			}
			if tt.wantField != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.wantField) {
				t.Errorf("problem errors = %+v, want field %q", p.Errors, tt.wantField)
			}
		})
	}

	// The internal error reached the log, not the response.
	var found bool
	for _, l := range logs.lines(t) {
		if l["msg"] == "go-kit endpoint error" && l["level"] == "ERROR" && strings.Contains(l["error"].(string), "10.0.0.3") {
			found = true
		}
	}
	if !found {
		t.Errorf("the internal endpoint error was not logged at Error level")
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
