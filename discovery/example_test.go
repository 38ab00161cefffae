package discovery_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-kit/kit/sd"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/transport"
)

func ExampleParseStatic() {
	services, err := discovery.ParseStatic("catalog=http://127.0.0.1:8081;payment=http://127.0.0.1:8083,http://127.0.0.1:9083")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, in := range services["payment"] {
		fmt.Println(in.Scheme, in.Address)
	}
	_, err = discovery.ParseStatic("payment=127.0.0.1")
	fmt.Println(err)
	// Output:
	// http 127.0.0.1:8083
	// http 127.0.0.1:9083
	// DISCOVERY_STATIC: discovery: invalid static service list: service "payment": address "127.0.0.1": want host:port
}

func ExampleNewStatic() {
	r := discovery.NewStatic(map[string][]discovery.Instance{
		"catalog": {{ID: "c1", Address: "127.0.0.1:8081"}},
	})
	f, _ := r.Lookup("catalog")
	fmt.Println(f.Snapshot().Instances[0].Address)
	_, err := r.Lookup("cart")
	fmt.Println(err)
	// Output:
	// 127.0.0.1:8081
	// discovery: unknown service: "cart"
}

func ExampleNewMemory() {
	m := discovery.NewMemory()
	f, _ := m.Lookup("cart") // known to a Memory registry even before it registers
	m.Register("cart", discovery.Instance{ID: "cart-1", Address: "127.0.0.1:8082"})
	m.Register("cart", discovery.Instance{ID: "cart-2", Address: "127.0.0.1:9082"})
	m.Deregister("cart", "cart-1")
	for _, in := range f.Snapshot().Instances {
		fmt.Println(in.ID, in.Address)
	}
	// Output:
	// cart-2 127.0.0.1:9082
}

func ExampleNewBalancer() {
	m := discovery.NewMemory()
	m.Register("catalog", discovery.Instance{ID: "a", Address: "10.0.0.1:80"})
	m.Register("catalog", discovery.Instance{ID: "b", Address: "10.0.0.2:80"})
	f, _ := m.Lookup("catalog")

	b := discovery.NewBalancer(f, discovery.BalancerSettings{Policy: discovery.PolicyRoundRobin})
	defer b.Close()
	for range 4 {
		e, _ := b.Pick()
		start := b.Begin(e)
		// ... call e.Address() ...
		b.End(e, start, transport.Success)
		fmt.Println(e.Address())
	}
	// Output:
	// 10.0.0.2:80
	// 10.0.0.1:80
	// 10.0.0.2:80
	// 10.0.0.1:80
}

func ExampleNewRouter() {
	catalog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "catalog answered %s for host %s", r.URL.Path, r.Host)
	}))
	defer catalog.Close()

	services, _ := discovery.ParseStatic("catalog=" + catalog.URL)
	r := discovery.NewStatic(services)
	t := discovery.NewRouter(r, http.DefaultTransport, discovery.BalancerSettings{})
	defer t.Close()
	// RememberAttempts goes outermost, above any retry layer, so that retries pick
	// another instance.
	client := &http.Client{Transport: discovery.RememberAttempts()(t)}

	resp, err := client.Get("http://catalog/items/42")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// catalog answered /items/42 for host catalog
}

func ExampleDebugHandler() {
	r := discovery.NewStatic(map[string][]discovery.Instance{"catalog": {{ID: "c1", Address: "127.0.0.1:8081"}}})
	rec := httptest.NewRecorder()
	discovery.DebugHandler(r, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/discovery", nil))
	out := rec.Body.String()
	fmt.Println(rec.Code, strings.Contains(out, `"service": "catalog"`), strings.Contains(out, `"address": "127.0.0.1:8081"`))
	// Output:
	// 200 true true
}

func ExampleNewFeed() {
	f := discovery.NewFeed("catalog")
	// A Feed is a go-kit sd.Instancer: it sends the current set on Register.
	events := make(chan sd.Event, 2)
	f.Register(events)
	f.Update(discovery.Snapshot{Instances: []discovery.Instance{{ID: "c1", Address: "127.0.0.1:8081"}}})
	fmt.Println((<-events).Instances, (<-events).Instances)
	f.Deregister(events)
	// Output:
	// [] [127.0.0.1:8081]
}

func ExampleRememberAttempts() {
	var hits []string
	handler := func(name string, status int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits = append(hits, name)
			w.WriteHeader(status)
		})
	}
	down := httptest.NewServer(handler("down", http.StatusServiceUnavailable))
	defer down.Close()
	up := httptest.NewServer(handler("up", http.StatusOK))
	defer up.Close()
	r := discovery.NewStatic(map[string][]discovery.Instance{"pay": {
		{ID: "a", Address: strings.TrimPrefix(down.URL, "http://")},
		{ID: "b", Address: strings.TrimPrefix(up.URL, "http://")},
	}})
	t := discovery.NewRouter(r, nil, discovery.BalancerSettings{Policy: discovery.PolicyRoundRobin})
	defer t.Close()

	// retry stands in for the resilience retry layer: up to 3 attempts on a retryable outcome.
	retry := func(next http.RoundTripper) http.RoundTripper {
		return roundTrip(func(req *http.Request) (*http.Response, error) {
			for attempt := 0; ; attempt++ {
				r := req.Clone(req.Context())
				r.Header.Set(transport.HeaderAttempt, fmt.Sprint(attempt))
				resp, err := next.RoundTrip(r)
				if attempt == 2 || !transport.Classify(resp, err).Retryable() {
					return resp, err
				}
				resp.Body.Close()
			}
		})
	}
	client := &http.Client{Transport: discovery.RememberAttempts()(retry(t))}
	for range 2 {
		resp, err := client.Get("http://pay/charge")
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	fmt.Println(hits)
	// Output:
	// 200
	// 200
	// [up down up]
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func ExampleMemory_Registrar() {
	m := discovery.NewMemory()
	reg := m.Registrar("cart", discovery.Instance{ID: "cart-1", Address: "127.0.0.1:8082"})
	f, _ := m.Lookup("cart")

	registered := make(chan struct{}, 1)
	stop := f.Subscribe(func(s discovery.Snapshot) {
		if len(s.Instances) > 0 {
			select {
			case registered <- struct{}{}:
			default:
			}
		}
	})
	defer stop()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- reg.Run(ctx) }() // gantry.Options{Registrars: {reg}, Drainers: {reg}}
	<-registered
	fmt.Println(len(f.Snapshot().Instances))
	_ = reg.Drain(ctx)
	fmt.Println(len(f.Snapshot().Instances))
	cancel()
	fmt.Println(<-done)
	// Output:
	// 1
	// 0
	// <nil>
}
