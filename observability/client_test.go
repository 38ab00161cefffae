package observability_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/observability"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

func TestClientSpansAndPropagation(t *testing.T) {
	r := newRig(t)
	var gotTraceparent string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, req *http.Request) { gotTraceparent = req.Header.Get("Traceparent") })
	mux.HandleFunc("GET /busy", func(w http.ResponseWriter, req *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	// The server is instrumented too, so the two spans must join into one trace.
	srv := httptest.NewServer(observability.Server(r.inst)(mux))
	defer srv.Close()
	client := &http.Client{Transport: observability.Client(r.inst)(srv.Client().Transport)}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	tracer := r.inst.TracerProvider.Tracer("test")
	tests := []struct {
		name, path, attempt string
		wantCode            codes.Code
		want                map[string]string
		absent              []string
	}{
		{"first attempt", "/ok", "", codes.Unset, map[string]string{
			"http.request.method": "GET", "server.address": "127.0.0.1", "server.port": port,
			"url.full": srv.URL + "/ok", "http.response.status_code": "200", "network.protocol.version": "1.1",
		}, []string{"http.request.resend_count", "error.type"}},
		{"attempt 0 has no resend count", "/ok", "0", codes.Unset, nil, []string{"http.request.resend_count"}},
		{"third attempt", "/ok", "2", codes.Unset, map[string]string{"http.request.resend_count": "2"}, nil},
		{"503", "/busy", "", codes.Error, map[string]string{"http.response.status_code": "503", "error.type": "503"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, parent := tracer.Start(context.Background(), "caller")
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+tt.path, nil)
			if tt.attempt != "" {
				req.Header.Set("Gantry-Attempt", tt.attempt)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			parent.End()
			if req.Header.Get("Traceparent") != "" {
				t.Errorf("caller's request headers were modified: %v", req.Header)
			}
			// The server span ends before the client reads the (buffered) response:
			// net/http sends it when the outermost handler, the middleware, returns.
			var client, server trace.SpanContext
			ended := r.spans.Ended()
			for _, s := range ended {
				if s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == parent.SpanContext().SpanID() {
					client = s.SpanContext()
					if s.Name() != "GET" || s.Status().Code != tt.wantCode {
						t.Errorf("client span %q status %v, want GET %v", s.Name(), s.Status().Code, tt.wantCode)
					}
					got := attrs(s.Attributes())
					for k, v := range tt.want {
						if got[k] != v {
							t.Errorf("client attribute %s = %q, want %q (all %v)", k, got[k], v, got)
						}
					}
					for _, k := range tt.absent {
						if _, ok := got[k]; ok {
							t.Errorf("client attribute %s present, want absent", k)
						}
					}
				}
			}
			for _, s := range ended {
				if s.SpanKind() == trace.SpanKindServer && s.Parent().SpanID() == client.SpanID() && client.IsValid() {
					server = s.SpanContext()
				}
			}
			if !client.IsValid() || !server.IsValid() || server.TraceID() != parent.SpanContext().TraceID() {
				t.Errorf("client span %v, server span %v: want both in the caller's trace, server child of client", client, server)
			}
			if tt.path == "/ok" && !strings.Contains(gotTraceparent, client.SpanID().String()) {
				t.Errorf("server got traceparent %q, want the client span id %s", gotTraceparent, client.SpanID())
			}
		})
	}
	dps := histogram(t, r.reader, "http.client.request.duration")
	var n uint64
	for _, dp := range dps {
		n += dp.Count
	}
	if n != uint64(len(tests)) {
		t.Errorf("http.client.request.duration count = %d, want %d", n, len(tests))
	}
}

func TestClientTransportError(t *testing.T) {
	r := newRig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused from now on
	client := &http.Client{Transport: observability.Client(r.inst)(http.DefaultTransport.(*http.Transport).Clone())}
	_, err = client.Get("http://user:secret@" + addr + "/x")
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("Get(closed port) error = %v, want the transport's *net.OpError unchanged", err)
	}
	s := r.spans.Ended()[0]
	got := attrs(s.Attributes())
	if s.Status().Code != codes.Error || got["error.type"] != "*net.OpError" {
		t.Errorf("span status %v error.type %q, want Error and *net.OpError", s.Status().Code, got["error.type"])
	}
	if strings.Contains(got["url.full"], "secret") || !strings.Contains(got["url.full"], "REDACTED") {
		t.Errorf("url.full = %q, want the password redacted", got["url.full"])
	}
}
