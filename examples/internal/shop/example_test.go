package shop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"github.com/gantry-go/gantry/examples/internal/shop"
)

// ExampleNew runs the four services in one process on random loopback ports and
// browses the catalog through the gateway.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "shop-example")
	defer os.RemoveAll(dir)
	s, err := shop.New(context.Background(), shop.Options{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	resp, err := http.Get(s.URLs["gateway"] + "/api/products")
	if err != nil {
		fmt.Println(err)
		return
	}
	var products []struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&products)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, len(products), "products")

	cancel()
	fmt.Println(<-done)
	// Output:
	// 200 24 products
	// <nil>
}
