package envtable

import (
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/gantry-go/gantry/config"
)

// CheckLoaded fails t unless what envtable reads from the source of service's main
// package is what config.Load reads for its Config type T: the same variables in the
// same order (config.Describe walks T as Load does), the same secret and required
// flags, and the same envDefault tags. When defaults is not nil it must be the map
// envtable found passed to platform.Environ. Call it from a test in the service's
// main package, where T and the defaults are visible.
func CheckLoaded[T any](t testing.TB, service string, defaults map[string]string) {
	t.Helper()
	i := slices.IndexFunc(Shipped(), func(s Spec) bool { return s.Name == service })
	if i < 0 {
		t.Fatalf("envtable: %q is not a shipped service (envtable.Shipped)", service)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := FindRoots(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := Scan(roots, Shipped()[i])
	if err != nil {
		t.Fatal(err)
	}
	var zero T
	dump, err := config.Describe(zero)
	if err != nil {
		t.Fatal(err)
	}
	names := func(n int, name func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = name(i)
		}
		return out
	}
	got := names(len(svc.Vars), func(i int) string { return svc.Vars[i].Name })
	want := names(len(dump), func(i int) string { return dump[i].Name })
	if !slices.Equal(got, want) {
		for _, n := range want {
			if !slices.Contains(got, n) {
				t.Errorf("%s: config.Load reads %s, which the table (envtable.Scan) lacks", service, n)
			}
		}
		for _, n := range got {
			if !slices.Contains(want, n) {
				t.Errorf("%s: the table (envtable.Scan) lists %s, which config.Load does not read", service, n)
			}
		}
		if !t.Failed() {
			t.Errorf("%s: envtable.Scan lists the variables in the order\n\t%v\nconfig.Describe in\n\t%v", service, got, want)
		}
		return
	}
	for i, d := range dump {
		v := svc.Vars[i]
		if v.Secret != d.Secret || v.Required != d.Required {
			t.Errorf("%s: %s: envtable.Scan says secret=%v required=%v, config.Describe secret=%v required=%v",
				service, v.Name, v.Secret, v.Required, d.Secret, d.Required)
		}
		if d.Default != "" && !d.Secret && d.Default != v.Default {
			t.Errorf("%s: %s: envtable.Scan gives the default %q, the envDefault tag is %q", service, v.Name, v.Default, d.Default)
		}
	}
	if defaults != nil && !maps.Equal(defaults, svc.Defaults) {
		t.Errorf("%s: main.go's defaults are %v, envtable.Scan found %v passed to platform.Environ", service, defaults, svc.Defaults)
	}
}
