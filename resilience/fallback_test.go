package resilience

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

type priceReq struct{ SKU string }
type priceResp struct{ Cents int }

func TestFallbackEndpoint(t *testing.T) {
	fb := FallbackEndpoint(func(_ context.Context, r priceReq, err error) (priceResp, error) {
		return priceResp{Cents: -1}, nil
	})
	for _, tc := range []struct {
		name    string
		err     error
		want    any
		wantErr bool
	}{
		{"open breaker falls back", reject(ErrOpen, 0), priceResp{Cents: -1}, false},
		{"502 falls back", &transport.Problem{Status: 502}, priceResp{Cents: -1}, false},
		{"404 passes through", &transport.Problem{Status: 404}, nil, true},
		{"canceled passes through", context.Canceled, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := fb(func(context.Context, any) (any, error) { return nil, tc.err })
			got, err := ep(context.Background(), priceReq{SKU: "a"})
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("endpoint() = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestFallbackClientAndDo(t *testing.T) {
	rt := FallbackClient(func(req *http.Request, resp *http.Response, err error) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("cached"))}, nil
	})(transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Path == "/missing" {
			return &http.Response{StatusCode: 404, Body: http.NoBody}, nil
		}
		return &http.Response{StatusCode: 503, Body: http.NoBody}, nil
	}))
	resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://up/", nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("RoundTrip(503 upstream) = %v, %v; want the fallback's 200", resp, err)
	}
	resp, _ = rt.RoundTrip(httptest.NewRequest("GET", "http://up/missing", nil))
	if resp.StatusCode != 404 {
		t.Fatalf("RoundTrip(404 upstream) = %d, want 404 passed through", resp.StatusCode)
	}

	var f Fallback[[]string] = func(ctx context.Context, err error) ([]string, error) { return []string{"default"}, nil }
	got, err := f.Do(context.Background(), func(context.Context) ([]string, error) { return nil, errors.New("dial tcp: refused") })
	if err != nil || len(got) != 1 || got[0] != "default" {
		t.Fatalf("Fallback.Do() = %v, %v; want [default]", got, err)
	}
}
