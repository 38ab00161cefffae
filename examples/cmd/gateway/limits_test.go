package main

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGatewayEdgeLimitVariables starts the gateway's run and checks its edge limits
// as a client sees them: by default a client's 6th checkout in a row is the
// gateway's 429 (GATEWAY_CHECKOUT_BURST 5) while browsing goes on, and a client
// rejected more than 10 times in a row (RATELIMIT_CLOSE_AFTER) is told to close its
// connection; each can be changed or turned off.
func TestGatewayEdgeLimitVariables(t *testing.T) {
	stub := startCatalogStub(t, false)
	// No cart: a checkout the limit lets through is the gateway's 503.
	post := func(url string) int {
		resp, err := plainClient.Post(url, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("GATEWAY_CHECKOUT_RATE", func(t *testing.T) {
		for _, tc := range []struct {
			env  map[string]string
			want []int
		}{
			{nil, []int{503, 503, 503, 503, 503, 429, 429}},
			{map[string]string{"GATEWAY_CHECKOUT_BURST": "2", "GATEWAY_CHECKOUT_RATE": "0.001"}, []int{503, 503, 429}},
			{map[string]string{"GATEWAY_CHECKOUT_RATE": "-1"}, []int{503, 503, 503, 503, 503, 503, 503}},
		} {
			env := map[string]string{"DISCOVERY_STATIC": "catalog=" + stub.url}
			for k, v := range tc.env {
				env[k] = v
			}
			g := startGateway(t, env)
			var got []int
			for range tc.want {
				got = append(got, post(g.api+"/api/carts/c1/checkout"))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%v: checkouts = %v, want %v", tc.env, got, tc.want)
			}
			if code, _ := get(t, g.api+"/api/products/p01"); code != http.StatusOK {
				t.Errorf("%v: browsing after the checkouts = %d, want 200", tc.env, code)
			}
		}
	})
	t.Run("RATELIMIT_CLOSE_AFTER", func(t *testing.T) {
		for _, tc := range []struct {
			env       map[string]string
			firstShut int // the first request answered with Connection: close; 0 for none
		}{
			{nil, 12}, // 1 allowed, 10 rejections in a row tolerated
			{map[string]string{"RATELIMIT_CLOSE_AFTER": "2"}, 4},
			{map[string]string{"RATELIMIT_CLOSE_AFTER": "0"}, 0},
		} {
			env := map[string]string{"DISCOVERY_STATIC": "catalog=" + stub.url, "RATELIMIT_KEY_RATE": "0.001", "RATELIMIT_KEY_BURST": "1"}
			for k, v := range tc.env {
				env[k] = v
			}
			g := startGateway(t, env)
			keepAlive := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
			first := 0
			for i := 1; i <= 14 && first == 0; i++ {
				resp, err := keepAlive.Get(g.api + "/api/products/p01")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.Close || strings.EqualFold(resp.Header.Get("Connection"), "close") {
					first = i
				}
			}
			keepAlive.CloseIdleConnections()
			if first != tc.firstShut {
				t.Errorf("%v: first Connection: close on request %d, want %d", tc.env, first, tc.firstShut)
			}
		}
	})
}
