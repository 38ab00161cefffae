package gantry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/observability"
)

// TestEdgeStartsANewTraceLinkedToTheCaller: behind ServerSettings.Edge, a request
// with a public traceparent gets a server span of a new trace, with one link to
// the caller's span context (OTel's public-endpoint behaviour), and the handler
// sees that new trace; a server behind the edge continues the caller's trace.
func TestEdgeStartsANewTraceLinkedToTheCaller(t *testing.T) {
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	callerTrace, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	callerSpan, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	for _, tc := range []struct {
		name    string
		edge    bool
		header  string
		newRoot bool
		links   int
	}{
		{"edge with traceparent", true, caller, true, 1},
		{"edge without traceparent", true, "", true, 0},
		{"internal with traceparent", false, caller, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			var seen trace.SpanContext
			api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = trace.SpanContextFromContext(r.Context())
			})
			srv, err := gantry.NewServer(api, gantry.ServerSettings{Edge: tc.edge}, observability.Instrumentation{TracerProvider: tp})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler)
			defer ts.Close()
			req, _ := http.NewRequest("GET", ts.URL+"/x", nil)
			if tc.header != "" {
				req.Header.Set("Traceparent", tc.header)
			}
			req.Header.Set("X-Forwarded-For", "203.0.113.9") // a client's claim
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("recorded %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.SpanKind != trace.SpanKindServer {
				t.Errorf("span kind = %v, want server", s.SpanKind)
			}
			if got := s.SpanContext.TraceID() == callerTrace; got == tc.newRoot && tc.header != "" {
				t.Errorf("span trace id %s, caller's %s: same = %v, want %v", s.SpanContext.TraceID(), callerTrace, got, !tc.newRoot)
			}
			if tc.newRoot && s.Parent.IsValid() {
				t.Errorf("span parent = %v, want none (a new root)", s.Parent)
			}
			if !tc.newRoot && s.Parent.SpanID() != callerSpan {
				t.Errorf("span parent = %v, want the caller's span %s", s.Parent.SpanID(), callerSpan)
			}
			if len(s.Links) != tc.links {
				t.Fatalf("span links = %d, want %d", len(s.Links), tc.links)
			}
			if tc.links == 1 {
				l := s.Links[0].SpanContext
				if l.TraceID() != callerTrace || l.SpanID() != callerSpan || !l.IsRemote() {
					t.Errorf("link = trace %s span %s remote %v, want the caller's %s %s, remote", l.TraceID(), l.SpanID(), l.IsRemote(), callerTrace, callerSpan)
				}
			}
			// client.address: the connection's at the edge, the proxy-set header inside.
			wantClient := "127.0.0.1"
			if !tc.edge {
				wantClient = "203.0.113.9"
			}
			var client string
			for _, kv := range s.Attributes {
				if kv.Key == "client.address" {
					client = kv.Value.AsString()
				}
			}
			if client != wantClient {
				t.Errorf("client.address = %q, want %q", client, wantClient)
			}
			if seen.TraceID() != s.SpanContext.TraceID() || seen.SpanID() != s.SpanContext.SpanID() {
				t.Errorf("handler's span context = %s/%s, want the server span's %s/%s", seen.TraceID(), seen.SpanID(), s.SpanContext.TraceID(), s.SpanContext.SpanID())
			}
		})
	}
}
