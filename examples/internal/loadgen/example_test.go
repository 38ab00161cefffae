package loadgen_test

import (
	"fmt"

	"github.com/gantry-go/gantry/examples/internal/loadgen"
)

func ExampleCheckLoopback() {
	fmt.Println(loadgen.CheckLoopback("http://127.0.0.1:8080"))
	fmt.Println(loadgen.CheckLoopback("http://shop.example.com") != nil)
	// Output:
	// <nil>
	// true
}
