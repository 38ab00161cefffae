package transport_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

func newUnmatchedServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = transport.WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("DELETE /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /dir/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	if err := transport.HandleUnmatched(mux); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHandleUnmatched(t *testing.T) {
	srv := newUnmatchedServer(t)
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	tests := []struct {
		method, path string
		status       int
		contentType  string
		allow        string
		pathValue    string
	}{
		{"GET", "/items/7", 200, "application/json", "", "7"},
		{"DELETE", "/items/7", 204, "", "", ""},
		{"GET", "/nowhere", 404, transport.ContentTypeProblem, "", ""},
		{"POST", "/items/7", 405, transport.ContentTypeProblem, "GET, HEAD, DELETE", ""},
		{"GET", "/dir", http.StatusTemporaryRedirect, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
			}
			if got := resp.Header.Get("Content-Type"); tt.contentType != "" && got != tt.contentType {
				t.Errorf("%s %s Content-Type = %q, want %q", tt.method, tt.path, got, tt.contentType)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("%s %s Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
			}
			if tt.contentType == transport.ContentTypeProblem {
				var p transport.Problem
				if err := json.Unmarshal(body, &p); err != nil || p.Status != tt.status || p.Detail == "" {
					t.Errorf("%s %s body = %s (%v), want a problem with status %d and a detail", tt.method, tt.path, body, err, tt.status)
				}
			}
			if tt.pathValue != "" {
				var m map[string]string
				_ = json.Unmarshal(body, &m)
				if m["id"] != tt.pathValue {
					t.Errorf("%s %s path value = %q, want %q (the mux must still set r.PathValue)", tt.method, tt.path, m["id"], tt.pathValue)
				}
			}
		})
	}
}

func TestHandleUnmatchedRootTaken(t *testing.T) {
	for _, pattern := range []string{"/", "GET /", "POST /{path...}"} {
		mux := http.NewServeMux()
		mux.HandleFunc(pattern, func(http.ResponseWriter, *http.Request) {})
		if err := transport.HandleUnmatched(mux); !errors.Is(err, transport.ErrRootTaken) {
			t.Errorf("HandleUnmatched(mux with %q) = %v, want ErrRootTaken", pattern, err)
		}
	}
}

func ExampleHandleUnmatched() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	if err := transport.HandleUnmatched(mux); err != nil {
		panic(err)
	}
	h := http.Handler(mux)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/items/1", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"), w.Header().Get("Allow"))
	_, _ = io.Copy(os.Stdout, w.Body)
	// Output:
	// 405 application/problem+json GET, HEAD
	// {"title":"Method Not Allowed","status":405,"detail":"POST is not allowed on /items/1; allowed: GET, HEAD"}
}
