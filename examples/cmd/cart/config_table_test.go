package main

import (
	"testing"

	"github.com/gantry-go/gantry/examples/internal/envtable"
)

// TestConfigTableMatchesLoad fails when docs/examples-config.md's table of cart,
// generated from this package's source, lists other variables than config.Load
// reads for Config.
func TestConfigTableMatchesLoad(t *testing.T) {
	envtable.CheckLoaded[Config](t, "cart", defaults)
}
