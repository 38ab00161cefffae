package loadgen_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gantry-go/gantry/examples/internal/loadgen"
)

func ExampleCheckLoopback() {
	fmt.Println(loadgen.CheckLoopback("http://127.0.0.1:8080"))
	fmt.Println(loadgen.CheckLoopback("http://shop.example.com") != nil)
	// Output:
	// <nil>
	// true
}

// ExampleRun runs checkout flows against a stand-in for the gateway.
func ExampleRun() {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
		default:
			w.Write([]byte(`{}`))
		}
	}))
	defer gw.Close()
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		Target: gw.URL, Rate: 10, Duration: 300 * time.Millisecond, Products: []string{"p01"},
	})
	fmt.Println(rep.Scheduled, rep.Succeeded, rep.Failed, err)
	// Output: 3 3 0 <nil>
}
