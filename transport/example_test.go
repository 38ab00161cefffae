package transport_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/gantry-go/gantry/transport"
)

func ExampleNewServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	})
	// The zero ServerSettings is safe; config.Load fills it from HTTP_* variables.
	srv := transport.NewServer(mux, transport.ServerSettings{Addr: "127.0.0.1:8080"})
	fmt.Println(srv.Addr, srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	// Output: 127.0.0.1:8080 5s 30s 1m0s 2m0s 65536
}

func ExampleChain() {
	trace := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Println(name, "in")
				next.ServeHTTP(w, r)
				fmt.Println(name, "out")
			})
		}
	}
	// The first middleware is the outermost. The order a service uses is
	// gantry.NewServer's (see its ExampleNewServer).
	h := transport.Chain(trace("recover"), trace("log"), trace("deadline"))(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { fmt.Println("handler") }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// Output:
	// recover in
	// log in
	// deadline in
	// handler
	// deadline out
	// log out
	// recover out
}

func ExampleRecover() {
	logger := slog.New(slog.DiscardHandler) // the panic and its stack go here
	h := transport.Recover(logger)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("nil map")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(rec.Body.String())
	// Output:
	// 500 application/problem+json
	// {"title":"Internal Server Error","status":500,"detail":"the server could not complete the request"}
}

func ExampleRequestID() {
	h := transport.RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("handler sees", transport.RequestIDFrom(r.Context()))
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Request-Id", "req-7f3a")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println("response carries", rec.Header().Get("X-Request-Id"))

	req.Header.Set("X-Request-Id", "bad id\nwith newline")
	rec = httptest.NewRecorder()
	transport.RequestID()(http.NotFoundHandler()).ServeHTTP(rec, req)
	fmt.Println("invalid id replaced by", len(rec.Header().Get("X-Request-Id")), "hex digits")
	// Output:
	// handler sees req-7f3a
	// response carries req-7f3a
	// invalid id replaced by 32 hex digits
}

func ExampleAccessLog() {
	// Drop the time and duration so the output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "item")
	})
	h := transport.Chain(transport.RequestID(), transport.AccessLog(logger))(mux)
	req := httptest.NewRequest("GET", "/items/42", nil)
	req.Header.Set("X-Request-Id", "req-1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// level=INFO msg="http request" method=GET route="GET /items/{id}" status=200 bytes=4 request_id=req-1
}

func ExampleBodyLimit() {
	h := transport.BodyLimit(16)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			transport.WriteError(w, r, err) // *http.MaxBytesError becomes 413
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	for _, n := range []int{10, 100} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", n)))
		req.ContentLength = -1 // as for a chunked body: only reading finds the size
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(n, "bytes:", rec.Code)
	}
	// Output:
	// 10 bytes: 200
	// 100 bytes: 413
}

func ExampleDecodeJSON() {
	type placeOrder struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		req, err := transport.DecodeJSON[placeOrder](r, 1<<20)
		if err != nil {
			transport.WriteError(w, r, err)
			return
		}
		_ = transport.WriteJSON(w, http.StatusCreated, req)
	}
	for _, body := range []string{`{"sku":"a1","quantity":2}`, `{"sku":"a1","quantity":"2"}`, `{"sku":"a1","coupon":"x"}`} {
		req := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
		if rec.Code >= 400 {
			fmt.Println()
		}
	}
	// Output:
	// 201 {"sku":"a1","quantity":2}
	// 400 {"title":"Bad Request","status":400,"detail":"field \"quantity\": want number, got string","errors":[{"field":"quantity","detail":"field \"quantity\": want number, got string"}]}
	// 400 {"title":"Bad Request","status":400,"detail":"field \"coupon\": unknown field","errors":[{"field":"coupon","detail":"field \"coupon\": unknown field"}]}
}

func ExampleWriteJSON() {
	rec := httptest.NewRecorder()
	_ = transport.WriteJSON(rec, http.StatusOK, map[string]int{"stock": 3})
	fmt.Print(rec.Code, " ", rec.Header().Get("Content-Type"), " ", rec.Body.String())
	// Output: 200 application/json {"stock":3}
}

func ExampleWriteError() {
	rec := httptest.NewRecorder()
	transport.WriteError(rec, nil, &transport.Problem{Status: http.StatusConflict, Detail: "order 7 was changed by someone else"})
	fmt.Println(rec.Code, rec.Body.String())
	// Output: 409 {"title":"Conflict","status":409,"detail":"order 7 was changed by someone else"}
}

func ExampleContextWithRequestID() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("upstream got request id", r.Header.Get("X-Request-Id"), "and a deadline:", r.Header.Get("Gantry-Timeout") != "")
	}))
	defer srv.Close()

	s := transport.ClientSettings{}
	client := &http.Client{Timeout: s.ExchangeTimeout(), Transport: transport.ClientChain(
		transport.PropagateDeadline(), transport.PropagateRequestID())(transport.NewRoundTripper(s))}
	defer client.CloseIdleConnections()

	ctx := transport.ContextWithRequestID(context.Background(), "req-42")
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	// Output: upstream got request id req-42 and a deadline: true
}

func ExampleNewRoundTripper() {
	tr := transport.NewRoundTripper(transport.ClientSettings{})
	defer tr.CloseIdleConnections()
	fmt.Println(tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.TLSHandshakeTimeout)
	// Output: 64 1m30s 5s
}

// echoTimeout is a RoundTripper standing in for the network in examples.
var echoTimeout = transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
	fmt.Printf("on the wire: Gantry-Timeout=%q X-Request-Id=%q\n", r.Header.Get("Gantry-Timeout"), r.Header.Get("X-Request-Id"))
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
})

func ExamplePropagateDeadline() {
	wire := transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		d, ok := transport.TimeoutFromHeader(r.Header)
		fmt.Println("Gantry-Timeout sent:", ok, "within 250ms:", d > 0 && d <= 250*time.Millisecond)
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	rt := transport.PropagateDeadline()(wire)
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://catalog/items", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		fmt.Println(err)
	}
	req, _ = http.NewRequest("GET", "http://catalog/items", nil) // no deadline: no header
	if _, err := rt.RoundTrip(req); err != nil {
		fmt.Println(err)
	}
	// Output:
	// Gantry-Timeout sent: true within 250ms: true
	// Gantry-Timeout sent: false within 250ms: false
}

func ExamplePropagateRequestID() {
	rt := transport.PropagateRequestID()(echoTimeout)
	ctx := transport.ContextWithRequestID(context.Background(), "req-9")
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://catalog/items", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		fmt.Println(err)
	}
	// Output: on the wire: Gantry-Timeout="" X-Request-Id="req-9"
}

func ExampleClientChain() {
	step := func(name string) func(http.RoundTripper) http.RoundTripper {
		return func(next http.RoundTripper) http.RoundTripper {
			return transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
				fmt.Println(name)
				return next.RoundTrip(r)
			})
		}
	}
	// First is outermost. The order a service uses is gantry.NewClient's (see its
	// ExampleNewClient).
	rt := transport.ClientChain(step("trace"), step("retry"), step("breaker"))(
		transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
			fmt.Println("transport")
			return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
		}))
	req, _ := http.NewRequest("GET", "http://x/", nil)
	_, _ = rt.RoundTrip(req)
	// Output:
	// trace
	// retry
	// breaker
	// transport
}

func ExampleSetTimeoutHeader() {
	h := http.Header{}
	transport.SetTimeoutHeader(h, 1200*time.Microsecond) // rounded up to whole ms
	d, ok := transport.TimeoutFromHeader(h)
	fmt.Println(h.Get("Gantry-Timeout"), d, ok)
	// Output: 2 2ms true
}
