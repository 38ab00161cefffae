package upstream_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/examples/internal/upstream"
	"github.com/gantry-go/gantry/observability"
)

// ExampleNew calls a service by its discovery name through the whole client chain.
func ExampleNew() {
	catalog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s (Host %s)", r.Method, r.URL.Path, r.Host)
	}))
	defer catalog.Close()
	r := discovery.NewStatic(map[string][]discovery.Instance{
		"catalog": {{Address: strings.TrimPrefix(catalog.URL, "http://")}},
	})
	stack, err := upstream.New("example", upstream.Settings{}, r, observability.Instrumentation{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stack.Close()

	resp, err := stack.Client.Get("http://catalog/products")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), len(stack.Breakers.Snapshot()))
	// Output: 200 GET /products (Host catalog) 1
}
