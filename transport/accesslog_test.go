package transport_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/transport"
)

func TestAccessLog(t *testing.T) {
	var logs logBuffer
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "item "+r.PathValue("id"))
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		transport.WriteError(w, r, io.ErrUnexpectedEOF)
	})
	mux.HandleFunc("/boom", func(w http.ResponseWriter, r *http.Request) { panic("x") })
	// Every middleware that copies the request sits between the log and the mux, and
	// the route must still be reported.
	h := transport.Chain(
		transport.Recover(nil),
		transport.RequestID(),
		transport.AccessLog(newLogger(&logs)),
		transport.BodyLimit(0),
	)(mux)
	srv := httptest.NewServer(h)
	defer srv.Close()

	do := func(method, path string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("x"))
		req.Header.Set(transport.HeaderRequestID, "req-"+strings.Trim(path, "/"))
		req.Header.Set(transport.HeaderTimeout, "5000")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do("GET", "/items/7")
	do("POST", "/fail")
	do("GET", "/boom")
	do("GET", "/nowhere")

	lines := logs.lines(t)
	var got []map[string]any
	for _, l := range lines {
		if l["duration"] == nil || l["msg"] != "http request" {
			t.Errorf("log line %v lacks duration or msg", l)
		}
		got = append(got, map[string]any{
			"level": l["level"], "method": l["method"], "route": l["route"],
			"status": l["status"], "bytes": l["bytes"], "request_id": l["request_id"],
		})
	}
	want := []map[string]any{
		{"level": "INFO", "method": "GET", "route": "GET /items/{id}", "status": 200.0, "bytes": 6.0, "request_id": "req-items/7"},
		{"level": "ERROR", "method": "POST", "route": "POST /fail", "status": 500.0, "bytes": got[1]["bytes"], "request_id": "req-fail"},
		{"level": "ERROR", "method": "GET", "route": "/boom", "status": 500.0, "bytes": 0.0, "request_id": "req-boom"},
		{"level": "INFO", "method": "GET", "route": "/nowhere", "status": 404.0, "bytes": got[3]["bytes"], "request_id": "req-nowhere"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log mismatch (-want +got):\n%s", diff)
	}
}
