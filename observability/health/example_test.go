package health_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gantry-go/gantry/observability/health"
)

func ExampleNewRegistry() {
	reg := health.NewRegistry(health.Settings{}, // every 10s, 2s timeout
		health.Check{Name: "db", Func: func(ctx context.Context) error { return nil /* db.PingContext(ctx) */ }},
		health.Check{Name: "search", NonCritical: true, Func: func(ctx context.Context) error { return nil }},
		health.Check{Name: "migrations", Roles: health.Startup, Func: func(ctx context.Context) error { return nil }},
	)
	mux := http.NewServeMux()
	reg.Mount(mux)
	// In main: go reg.Run(ctx), or pass reg to gantry.Run as a Background runner and
	// as a Drainer.

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	fmt.Print(rec.Code, " ", rec.Body.String()) // nothing has run yet
	// Output:
	// 503 {"status":"fail","waiting_for_startup":true,"checks":[{"name":"db","status":"pending","critical":true},{"name":"search","status":"pending","critical":false}]}
}

func ExampleRegistry_Drain() {
	reg := health.NewRegistry(health.Settings{})
	fmt.Println(reg.Ready())
	reg.Drain(context.Background()) // first step of shutdown
	fmt.Println(reg.Ready())
	rec := httptest.NewRecorder()
	reg.ReadinessHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// true
	// false
	// 503 {"status":"fail","draining":true,"checks":[]}
}

func ExampleRegistry_Mount() {
	reg := health.NewRegistry(health.Settings{})
	mux := http.NewServeMux()
	reg.Mount(mux)
	for _, p := range []string{"/livez", "/readyz", "/startupz"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		fmt.Println(p, rec.Code)
	}
	// Output:
	// /livez 200
	// /readyz 200
	// /startupz 200
}
