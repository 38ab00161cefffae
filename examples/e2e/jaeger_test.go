package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/examples/cart"
	"github.com/gantry-go/gantry/examples/internal/jaegertest"
	"github.com/gantry-go/gantry/examples/internal/shop"
	"github.com/gantry-go/gantry/examples/payment"
	"github.com/gantry-go/gantry/observability"
)

// failFirst is a payment processor that fails the next Left authorizations before any
// money moves (a 503 from payment, which the cart's client retries), then passes
// through. It is safe for concurrent use.
type failFirst struct {
	next payment.Processor
	Left atomic.Int32
}

func (f *failFirst) Authorize(ctx context.Context, key string, req payment.ChargeRequest) (payment.Decision, error) {
	for n := f.Left.Load(); n > 0; n = f.Left.Load() {
		if f.Left.CompareAndSwap(n, n-1) {
			return payment.Decision{}, &payment.UnavailableError{Retry: time.Millisecond}
		}
	}
	return f.next.Authorize(ctx, key, req)
}

func (f *failFirst) Refund(ctx context.Context, p payment.Payment) error {
	return f.next.Refund(ctx, p)
}

// jaegerShop is a running shop whose services export their telemetry to a real Jaeger.
type jaegerShop struct {
	*shop.Shop
	fail *failFirst
	tels map[string]*observability.Telemetry
	stop func() // stops the shop (every handler has returned); idempotent
}

// startJaegerShop runs the one-process shop with each service's telemetry built by
// observability.NewTelemetry from the OTEL_* variables a deployment would set: OTLP over
// HTTP to j, every trace sampled, exports bounded by exportTimeout. Payment's processor
// is wrapped in a failFirst. The shop stops, and the telemetry shuts down, when t ends.
func startJaegerShop(t *testing.T, j *jaegertest.Jaeger, exportTimeout time.Duration, o shop.Options) *jaegerShop {
	t.Helper()
	js := &jaegerShop{tels: map[string]*observability.Telemetry{}}
	o.DataDir = t.TempDir()
	o.Instrument = func(service string) observability.Instrumentation {
		env := map[string]string{
			"OTEL_SERVICE_NAME":           service,
			"OTEL_EXPORTER_OTLP_ENDPOINT": j.OTLPEndpoint(),
			"OTEL_EXPORTER_OTLP_PROTOCOL": observability.ProtocolHTTP,
			"OTEL_EXPORTER_OTLP_TIMEOUT":  strconv.Itoa(int(exportTimeout / time.Millisecond)),
			"OTEL_TRACES_SAMPLER":         observability.SamplerAlwaysOn,
		}
		s, err := config.Load[observability.TelemetrySettings](config.WithEnvironment(env))
		if err != nil {
			t.Fatalf("config.Load(%v) = %v", env, err)
		}
		tel, err := observability.NewTelemetry(context.Background(), s)
		if err != nil {
			t.Fatalf("NewTelemetry(%+v) = %v", s, err)
		}
		js.tels[service] = tel
		return tel.Instrumentation(nil)
	}
	s, err := shop.New(context.Background(), o)
	if err != nil {
		t.Fatalf("shop.New() = %v", err)
	}
	js.Shop = s
	// Before Run, so that no request reads the processor while it is replaced.
	js.fail = &failFirst{next: s.Processor.Next}
	s.Processor.Next = js.fail
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	js.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Shop.Run() = %v", err)
			}
		})
	}
	t.Cleanup(func() {
		js.stop()
		_ = js.shutdownTelemetry(5 * time.Second) // a no-op after the test's own
	})
	return js
}

// shutdownTelemetry shuts down every service's telemetry, which exports what is pending,
// within d in all, and returns the errors by service.
func (js *jaegerShop) shutdownTelemetry(d time.Duration) map[string]error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	errs := map[string]error{}
	for svc, tel := range js.tels {
		if err := tel.Shutdown(ctx); err != nil {
			errs[svc] = err
		}
	}
	return errs
}

// flush stops the shop, so every server span has ended, and exports every span
// (ForceFlush of each service's TracerProvider); it fails t when an export fails.
// (Telemetry.Shutdown would also collect the cart's order gauges, which fail once the
// shop has closed the cart's database; the test's cleanup shuts it down.)
func (js *jaegerShop) flush(t *testing.T) {
	t.Helper()
	js.stop()
	js.forceFlush(t)
}

// forceFlush exports every span ended so far; it fails t when an export fails.
func (js *jaegerShop) forceFlush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for svc, tel := range js.tels {
		tp, ok := tel.TracerProvider().(interface{ ForceFlush(context.Context) error })
		if !ok {
			t.Fatalf("%s TracerProvider %T has no ForceFlush", svc, tel.TracerProvider())
		}
		if err := tp.ForceFlush(ctx); err != nil {
			t.Fatalf("%s TracerProvider.ForceFlush() = %v, want nil (Jaeger runs)", svc, err)
		}
	}
}

// checkout puts one item in cart id through the gateway and checks it out, failing t
// unless the order is paid within 30s a request.
func checkout(t *testing.T, gw, bearer, id string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, gw+path, rd)
		req.Header.Set("Authorization", bearer)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if method == http.MethodPost {
			req.Header.Set("Idempotency-Key", id+"-key")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if st, b := do("PUT", "/api/carts/"+id+"/items/p01", `{"quantity":1}`); st != http.StatusOK {
		t.Fatalf("PUT /api/carts/%s/items/p01 = %d %s, want 200", id, st, b)
	}
	st, b := do("POST", "/api/carts/"+id+"/checkout", "")
	var co cart.CheckoutBody
	if st != http.StatusCreated || json.Unmarshal(b, &co) != nil || co.Status != "paid" {
		t.Fatalf("POST /api/carts/%s/checkout = %d %s, want 201 paid", id, st, b)
	}
}

// awaitCheckoutTrace polls Jaeger's query API (GET /api/traces?service=gateway, then
// GET /api/traces/<id>) until the trace of the gateway's checkout of cart id appears
// with spans from every service, and returns it. Jaeger stores what it receives
// asynchronously, so polling is the only way to see it from outside.
func awaitCheckoutTrace(t *testing.T, j *jaegertest.Jaeger, id string) jaegertest.Trace {
	t.Helper()
	path := "/api/carts/" + id + "/checkout"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last jaegertest.Trace
	var lastErr error
	for {
		traces, err := j.Traces(ctx, "gateway")
		if err != nil && ctx.Err() == nil {
			lastErr = err
		}
		var ids []string
		for _, tr := range traces {
			for _, sp := range tr.Spans {
				if p, _ := sp.Tag("url.path"); p == path && sp.Kind() == "server" && tr.Service(sp) == "gateway" {
					ids = append(ids, tr.TraceID)
				}
			}
		}
		if len(ids) > 1 {
			t.Fatalf("Jaeger has %d traces with the gateway's server span for POST %s (%v), want 1", len(ids), path, ids)
		}
		if len(ids) == 1 {
			tr, err := j.Trace(ctx, ids[0])
			if err != nil && ctx.Err() == nil {
				lastErr = err
			}
			if err == nil {
				last = tr
				if seen := servicesOf(tr); len(seen) == len(shop.Services()) {
					return tr
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no complete trace of POST %s in Jaeger within 30s (last query error %v); last seen: services %v, %d spans\n%s",
				path, lastErr, servicesOf(last), len(last.Spans), j.Output())
		case <-tick.C:
		}
	}
}

func servicesOf(tr jaegertest.Trace) []string {
	var out []string
	for _, sp := range tr.Spans {
		if s := tr.Service(sp); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// describe lists a trace's spans for failure messages.
func describe(tr jaegertest.Trace) string {
	var b strings.Builder
	for _, sp := range tr.Spans {
		rc, _ := sp.Tag("http.request.resend_count")
		st, _ := sp.Tag("http.response.status_code")
		b.WriteString("  " + tr.Service(sp) + " " + sp.Kind() + " " + strings.TrimSpace(sp.OperationName) +
			" span=" + sp.SpanID + " parent=" + sp.Parent() + " status=" + st + " resend=" + rc + "\n")
	}
	return b.String()
}

// checkOneTrace asserts what a user looking at the checkout's trace in Jaeger relies
// on: every span in it, one root (the gateway's server span), every other span's parent
// present, server spans from the four services and client spans from both callers,
// server spans named by their route, and the saga's calls under the cart's checkout.
func checkOneTrace(t *testing.T, tr jaegertest.Trace, id string) {
	t.Helper()
	byID := map[string]jaegertest.Span{}
	for _, sp := range tr.Spans {
		if sp.TraceID != tr.TraceID {
			t.Errorf("span %q of %s has trace %s, want %s", sp.OperationName, tr.Service(sp), sp.TraceID, tr.TraceID)
		}
		byID[sp.SpanID] = sp
	}
	var roots []string
	for _, sp := range tr.Spans {
		p := sp.Parent()
		if p == "" {
			path, _ := sp.Tag("url.path")
			roots = append(roots, tr.Service(sp)+" "+sp.Kind()+" "+path)
			continue
		}
		if _, ok := byID[p]; !ok {
			t.Errorf("%s %s span %q (%s) has parent %s, which is not in the trace", tr.Service(sp), sp.Kind(), sp.OperationName, sp.SpanID, p)
		}
	}
	if want := "gateway server /api/carts/" + id + "/checkout"; len(roots) != 1 || roots[0] != want {
		t.Errorf("roots of the trace (service, kind, url.path) = %q, want [%q]", roots, want)
	}
	kinds := map[string]int{}
	for _, sp := range tr.Spans {
		kinds[tr.Service(sp)+" "+sp.Kind()]++
	}
	for _, want := range []string{"gateway server", "gateway client", "cart server", "cart client", "catalog server", "payment server"} {
		if kinds[want] == 0 {
			t.Errorf("no %s span in the trace; spans by service and kind: %v", want, kinds)
		}
	}

	// Server spans are named by the route, as the ServeMux pattern says, and carry it
	// as http.route.
	// (The gateway's are checked by checkGatewayRoute.)
	wantRoutes := map[string][]string{
		"cart":    {"POST /carts/{cart_id}/checkout"},
		"catalog": {"POST /reservations", "POST /reservations/{id}/confirm"},
		"payment": {"POST /payments"},
	}
	var checkout jaegertest.Span
	for svc, routes := range wantRoutes {
		var names []string
		for _, sp := range tr.Spans {
			if sp.Kind() == "server" && tr.Service(sp) == svc {
				names = append(names, sp.OperationName)
				route, _ := sp.Tag("http.route")
				if want := strings.SplitN(sp.OperationName, " ", 2); len(want) != 2 || route != want[1] {
					t.Errorf("%s server span %q has http.route %q, want the route of its name", svc, sp.OperationName, route)
				}
				if sp.OperationName == "POST /carts/{cart_id}/checkout" {
					checkout = sp
				}
			}
		}
		for _, want := range routes {
			if !slices.Contains(names, want) {
				t.Errorf("no %s server span named %q; its server spans: %q", svc, want, names)
			}
		}
	}
	if checkout.SpanID == "" {
		t.Fatalf("no cart server span for the checkout in the trace:\n%s", describe(tr))
	}
	if p, _ := checkout.Tag("url.path"); p != "/carts/"+id+"/checkout" {
		t.Errorf("cart checkout span url.path = %q, want /carts/%s/checkout", p, id)
	}
	// The saga's calls to catalog and payment descend from the cart's checkout span.
	for _, sp := range tr.Spans {
		if svc := tr.Service(sp); sp.Kind() != "server" || (svc != "catalog" && svc != "payment") {
			continue
		}
		under := false
		for p := sp.Parent(); p != "" && !under; p = byID[p].Parent() {
			under = p == checkout.SpanID
		}
		if !under {
			t.Errorf("%s server span %q (%s) is not under the cart's checkout span %s", tr.Service(sp), sp.OperationName, sp.SpanID, checkout.SpanID)
		}
	}
	if t.Failed() {
		t.Logf("trace %s:\n%s", tr.TraceID, describe(tr))
	}
}

// checkGatewayRoute asserts that the gateway's server span is named by its route,
// "POST /api/carts/" (the gateway's ServeMux pattern), and carries it as http.route,
// behind user authentication (transport/auth's middleware copies the request and
// must carry the pattern back out).
func checkGatewayRoute(t *testing.T, tr jaegertest.Trace) {
	t.Helper()
	for _, sp := range tr.Spans {
		if tr.Service(sp) != "gateway" || sp.Kind() != "server" {
			continue
		}
		route, _ := sp.Tag("http.route")
		if sp.OperationName != "POST /api/carts/" || route != "/api/carts/" {
			t.Errorf("gateway server span = %q with http.route %q, want \"POST /api/carts/\" with /api/carts/", sp.OperationName, route)
		}
	}
}

// paymentAttempts returns payment's server spans for POST /payments in tr, in start
// order, and the cart client span that is the parent of each.
func paymentAttempts(tr jaegertest.Trace) (servers, attempts []jaegertest.Span) {
	byID := map[string]jaegertest.Span{}
	for _, sp := range tr.Spans {
		byID[sp.SpanID] = sp
	}
	for _, sp := range tr.Spans {
		if sp.Kind() == "server" && tr.Service(sp) == "payment" && sp.OperationName == "POST /payments" {
			servers = append(servers, sp)
		}
	}
	slices.SortFunc(servers, func(a, b jaegertest.Span) int { return int(a.StartTime - b.StartTime) })
	for _, sp := range servers {
		attempts = append(attempts, byID[sp.Parent()])
	}
	return servers, attempts
}

// TestJaegerShowsACheckoutAsOneTrace exports the shop's telemetry over OTLP to a real
// Jaeger and reads two checkouts back through Jaeger's query API, as a user of its UI
// would: a clean one, and one whose first charge fails so that the cart's client retries
// it once, which shows as one client span per attempt, the retry's carrying
// http.request.resend_count.
func TestJaegerShowsACheckoutAsOneTrace(t *testing.T) {
	j := jaegertest.Start(t)
	s := startJaegerShop(t, j, 10*time.Second, shop.Options{})
	bearer := "Bearer " + token(t, s.Shop, "alice")

	checkout(t, s.URLs["gateway"], bearer, "jaeger-clean")
	s.fail.Left.Store(1)
	checkout(t, s.URLs["gateway"], bearer, "jaeger-retry")
	if n := s.fail.Left.Load(); n != 0 {
		t.Fatalf("the armed charge failure was not used (%d left)", n)
	}
	s.flush(t)

	clean := awaitCheckoutTrace(t, j, "jaeger-clean")
	retried := awaitCheckoutTrace(t, j, "jaeger-retry")
	t.Run("gateway route", func(t *testing.T) { checkGatewayRoute(t, clean) })
	t.Run("clean", func(t *testing.T) {
		checkOneTrace(t, clean, "jaeger-clean")
		servers, _ := paymentAttempts(clean)
		if len(servers) != 1 {
			t.Errorf("payment server spans for POST /payments = %d, want 1:\n%s", len(servers), describe(clean))
		}
		for _, sp := range clean.Spans {
			if rc, ok := sp.Tag("http.request.resend_count"); ok {
				t.Errorf("%s %s span %q has http.request.resend_count %s in a checkout without retries", clean.Service(sp), sp.Kind(), sp.OperationName, rc)
			}
		}
	})
	t.Run("retried", func(t *testing.T) {
		checkOneTrace(t, retried, "jaeger-retry")
		servers, attempts := paymentAttempts(retried)
		if len(servers) != 2 {
			t.Fatalf("payment server spans for POST /payments = %d, want 2 (a 503, then the retry):\n%s", len(servers), describe(retried))
		}
		var statuses, resends []string
		for i, sp := range servers {
			st, _ := sp.Tag("http.response.status_code")
			statuses = append(statuses, st)
			a := attempts[i]
			if retried.Service(a) != "cart" || a.Kind() != "client" {
				t.Errorf("parent of payment's attempt %d = %s %s %q, want a cart client span", i, retried.Service(a), a.Kind(), a.OperationName)
			}
			rc, ok := a.Tag("http.request.resend_count")
			if !ok {
				rc = "none"
			}
			resends = append(resends, rc)
		}
		if !slices.Equal(statuses, []string{"503", "201"}) {
			t.Errorf("payment POST /payments statuses = %v, want [503 201]", statuses)
		}
		if !slices.Equal(resends, []string{"none", "1"}) {
			t.Errorf("http.request.resend_count of the cart's attempt spans = %v, want [none 1]:\n%s", resends, describe(retried))
		}
		if attempts[0].SpanID == attempts[1].SpanID || attempts[0].Parent() != attempts[1].Parent() || attempts[0].Parent() == "" {
			t.Errorf("attempt spans %s (parent %s) and %s (parent %s), want two spans under one request span",
				attempts[0].SpanID, attempts[0].Parent(), attempts[1].SpanID, attempts[1].Parent())
		}
		var withResend int
		for _, sp := range retried.Spans {
			if _, ok := sp.Tag("http.request.resend_count"); ok {
				withResend++
			}
		}
		if withResend != 1 {
			t.Errorf("spans with http.request.resend_count = %d, want 1 (the one retry):\n%s", withResend, describe(retried))
		}
	})
}

// TestJaegerDownNeverFailsCheckouts stops Jaeger (by its pid) while checkouts run
// through the gateway, killed (connections refused) or frozen (connections accepted,
// never answered): exports fail, requests do not.
func TestJaegerDownNeverFailsCheckouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*jaegertest.Jaeger)
		// exportErr is the error every exporting service's Telemetry.Shutdown wraps.
		exportErr error
	}{
		{"killed", func(j *jaegertest.Jaeger) { j.Stop() }, syscall.ECONNREFUSED},
		{"frozen", func(j *jaegertest.Jaeger) {
			if err := j.Freeze(); err != nil {
				t.Errorf("Freeze() = %v", err)
			}
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) { checkJaegerDown(t, tc.stop, tc.exportErr) })
	}
}

func checkJaegerDown(t *testing.T, stop func(*jaegertest.Jaeger), exportErr error) {
	j := jaegertest.Start(t)
	s := startJaegerShop(t, j, 500*time.Millisecond, shop.Options{})
	gw := s.URLs["gateway"]

	// Export works while Jaeger runs: a checkout's trace reaches it.
	checkout(t, gw, "Bearer "+token(t, s.Shop, "alice"), "jaeger-before")
	s.forceFlush(t)
	before := awaitCheckoutTrace(t, j, "jaeger-before")
	checkOneTrace(t, before, "jaeger-before")

	// Checkouts by two users (each within the gateway's per-user checkout burst), with
	// Jaeger stopped after the third.
	bearers := []string{"Bearer " + token(t, s.Shop, "alice"), "Bearer " + token(t, s.Shop, "bob")}
	const n, stopAfter = 8, 3
	for i := range n {
		if i == stopAfter {
			stop(j)
		}
		checkout(t, gw, bearers[i%2], "jaeger-down-"+strconv.Itoa(i))
	}
	orders, err := s.CartStore.CountOrders(context.Background())
	if err != nil || orders["paid"] != 1+n {
		t.Errorf("orders by status = %v (%v), want %d paid", orders, err, 1+n)
	}
	// Telemetry was live all along: its exports went to the stopped Jaeger, and failed.
	// (The cart's shutdown fails first on its order gauges, whose database the stopped
	// shop has closed.)
	s.stop()
	errs := s.shutdownTelemetry(2 * time.Second)
	for _, svc := range []string{"gateway", "catalog", "payment"} {
		if !errors.Is(errs[svc], exportErr) {
			t.Errorf("%s Telemetry.Shutdown() with Jaeger stopped = %v, want an error wrapping %v", svc, errs[svc], exportErr)
		}
	}
}
