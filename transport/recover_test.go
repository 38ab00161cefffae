package transport_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

func TestRecover(t *testing.T) {
	var logs logBuffer
	mux := http.NewServeMux()
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		panic("db password is hunter2 at /srv/secret.go")
	})
	mux.HandleFunc("/partial", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "partial")
		panic("late")
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "fine")
	})
	h := transport.Chain(transport.Recover(newLogger(&logs)), transport.RequestID())(mux)
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/panic")
	if err != nil {
		t.Fatalf("GET /panic: %v", err)
	}
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("GET /panic status = %d, want 500", resp.StatusCode)
	}
	id := resp.Header.Get(transport.HeaderRequestID)
	p := decodeProblem(t, resp)
	if p.Status != 500 || p.Instance != id || id == "" {
		t.Errorf("problem = %+v, want status 500 and instance %q", p, id)
	}
	if strings.Contains(p.Detail, "hunter2") || strings.Contains(p.Detail, ".go") {
		t.Errorf("problem detail %q leaks the panic", p.Detail)
	}

	lines := logs.lines(t)
	if len(lines) != 1 {
		t.Fatalf("log has %d lines, want 1: %v", len(lines), lines)
	}
	if got := lines[0]["panic"]; got != "db password is hunter2 at /srv/secret.go" {
		t.Errorf("logged panic = %v", got)
	}
	if st, _ := lines[0]["stack"].(string); !strings.Contains(st, "recover_test.go") {
		t.Errorf("logged stack does not show the panicking handler: %q", st)
	}
	if lines[0]["request_id"] != id {
		t.Errorf("logged request_id = %v, want %q", lines[0]["request_id"], id)
	}

	// A response already started is not overwritten.
	resp, err = http.Get(srv.URL + "/partial")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || strings.Contains(string(body), "problem") {
			t.Errorf("GET /partial = %d %q, want 202 without a problem body", resp.StatusCode, body)
		}
	}

	// The server keeps serving.
	for i := 0; i < 3; i++ {
		resp, err := http.Get(srv.URL + "/ok")
		if err != nil {
			t.Fatalf("GET /ok after panic: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "fine" {
			t.Errorf("GET /ok = %d %q, want 200 fine", resp.StatusCode, body)
		}
	}
}

func TestRecoverRepanicsErrAbortHandler(t *testing.T) {
	h := transport.Recover(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler re-panicked", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	t.Errorf("ServeHTTP returned; want a re-panic of http.ErrAbortHandler")
}
