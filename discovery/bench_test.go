package discovery

import (
	"fmt"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

func benchAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1)
	}
	return out
}

// BenchmarkPick measures Pick on a steady pick set: the request path's cost.
func BenchmarkPick(b *testing.B) {
	for _, p := range []string{PolicyRoundRobin, PolicyP2C} {
		for _, n := range []int{3, 50} {
			bal := NewBalancer(feedOf(benchAddrs(n)...), BalancerSettings{Policy: p})
			b.Run(fmt.Sprintf("policy=%s/n=%d", p, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, _ = bal.Pick()
				}
			})
		}
	}
}

// BenchmarkBalancedCall measures Pick, Begin and End around a successful call: the
// pick plus the outcome report, which reads the clock on sampled calls.
func BenchmarkBalancedCall(b *testing.B) {
	for _, p := range []string{PolicyRoundRobin, PolicyP2C} {
		bal := NewBalancer(feedOf(benchAddrs(3)...), BalancerSettings{Policy: p})
		b.Run("policy="+p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e, _ := bal.Pick()
				bal.End(e, bal.Begin(e), transport.Success)
			}
		})
	}
}
