package transport_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

func TestEdge(t *testing.T) {
	var seen http.Header
	h := transport.Edge()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set(transport.HeaderRetryExhausted, "1")
		w.Header().Set("Gantry-Anything", "x")
		w.Header().Set("X-Kept", "yes")
		w.WriteHeader(http.StatusBadGateway)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/items/7", nil)
	for k, v := range map[string]string{transport.HeaderTimeout: "1", transport.HeaderCriticality: "critical",
		transport.HeaderAttempt: "2", "Baggage": "tenant=other", "X-Public": "kept"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, k := range []string{transport.HeaderTimeout, transport.HeaderCriticality, transport.HeaderAttempt, "Baggage"} {
		if v := seen.Get(k); v != "" {
			t.Errorf("handler saw inbound %s = %q, want it removed", k, v)
		}
	}
	if seen.Get("X-Public") != "kept" {
		t.Errorf("handler lost X-Public")
	}
	for k := range resp.Header {
		if len(k) > 7 && k[:7] == "Gantry-" {
			t.Errorf("response carries %s", k)
		}
	}
	if resp.Header.Get("X-Kept") != "yes" || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("response = %d X-Kept %q, want 502 and the handler's other headers", resp.StatusCode, resp.Header.Get("X-Kept"))
	}
}

func TestEdgeRefusesDotSegments(t *testing.T) {
	called := false
	h := transport.Edge()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/carts/c1", 200},
		{"/api/.well-known/x", 200},
		{"/api/carts/..hidden", 200},
		{"/api/%2e%2e/admin", 400},
		{"/api/%2E%2e/admin", 400},
		{"/api/carts/%2e", 400},
		{"/api/./carts", 400},
		{"/api/carts/..", 400},
	} {
		called = false
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.URL.Opaque = tc.path // sent as written, not cleaned by the client
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || called != (tc.want == 200) {
			t.Errorf("GET %s = %d (handler called %v), want %d", tc.path, resp.StatusCode, called, tc.want)
		}
		if tc.want == 400 && resp.Header.Get("Content-Type") != transport.ContentTypeProblem {
			t.Errorf("GET %s Content-Type = %q, want problem+json", tc.path, resp.Header.Get("Content-Type"))
		}
	}
}
