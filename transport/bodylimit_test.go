package transport_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

// onlyReader hides bytes.Reader's Len so that net/http cannot learn the length and
// sends the body chunked.
type onlyReader struct{ io.Reader }

func TestBodyLimit(t *testing.T) {
	const limit = 1024
	type order struct {
		Note string `json:"note"`
	}
	var handlerCalls int
	mux := http.NewServeMux()
	mux.HandleFunc("POST /raw", func(w http.ResponseWriter, r *http.Request) {
		handlerCalls++
		b, err := io.ReadAll(r.Body)
		if err != nil {
			transport.WriteError(w, r, err)
			return
		}
		_, _ = io.WriteString(w, strconv.Itoa(len(b)))
	})
	mux.HandleFunc("POST /json", func(w http.ResponseWriter, r *http.Request) {
		handlerCalls++
		o, err := transport.DecodeJSON[order](r, 0)
		if err != nil {
			transport.WriteError(w, r, err)
			return
		}
		_ = transport.WriteJSON(w, http.StatusOK, o)
	})
	srv := httptest.NewServer(transport.BodyLimit(limit)(mux))
	defer srv.Close()

	big := `{"note":"` + strings.Repeat("x", 4*limit) + `"}`
	small := `{"note":"hi"}`
	tests := []struct {
		name    string
		path    string
		body    string
		chunked bool
		want    int
		called  bool
	}{
		{"raw small", "/raw", small, false, 200, true},
		{"raw small chunked", "/raw", small, true, 200, true},
		{"raw big content-length", "/raw", big, false, 413, false},
		{"raw big chunked", "/raw", big, true, 413, true},
		{"json small chunked", "/json", small, true, 200, true},
		{"json big content-length", "/json", big, false, 413, false},
		{"json big chunked", "/json", big, true, 413, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handlerCalls = 0
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = onlyReader{bytes.NewReader([]byte(tt.body))}
			}
			req, _ := http.NewRequest("POST", srv.URL+tt.path, body)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			if tt.chunked && req.ContentLength != 0 {
				t.Fatalf("request was not chunked (ContentLength %d)", req.ContentLength)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("POST %s (%d bytes, chunked=%v) status = %d, want %d", tt.path, len(tt.body), tt.chunked, resp.StatusCode, tt.want)
			}
			if (handlerCalls > 0) != tt.called {
				t.Errorf("handler called = %v, want %v", handlerCalls > 0, tt.called)
			}
			if tt.want == 413 {
				p := decodeProblem(t, resp)
				if p.Status != 413 || !strings.Contains(p.Detail, "1024") {
					t.Errorf("problem = %+v, want 413 naming the 1024-byte limit", p)
				}
				return
			}
			resp.Body.Close()
		})
	}
}

func TestBodyLimitNoBodyPassesThrough(t *testing.T) {
	var same bool
	req := httptest.NewRequest("GET", "/", nil)
	transport.BodyLimit(0)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		same = r == req
	})).ServeHTTP(httptest.NewRecorder(), req)
	if !same {
		t.Errorf("BodyLimit copied a request without a body, want it passed as is")
	}
}
