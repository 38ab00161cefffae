package resilience

import (
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

func TestKeyedIdleEvictionAndCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKeyed(100, time.Minute, func(string) *int { return new(int) })
		for i := range 10 {
			k.get("old-" + strconv.Itoa(i))
		}
		hot := k.get("hot")
		time.Sleep(40 * time.Second)
		k.get("hot") // used during the first half
		k.get("trigger-1")
		time.Sleep(40 * time.Second)
		k.get("hot")
		k.get("trigger-2") // sweeps: old-* last seen used at 40s, kept
		if got := k.len(); got != 13 {
			t.Fatalf("len() 80s in = %d, want 13", got)
		}
		time.Sleep(40 * time.Second)
		k.get("hot")
		k.get("trigger-3") // sweeps: old-* unused since 0s, seen idle for 80s > 1m
		if got := k.len(); got != 4 {
			t.Fatalf("len() after the idle sweep = %d, want 4 (hot, trigger-1..3)", got)
		}
		if k.get("hot") != hot {
			t.Fatalf("the key in use was evicted")
		}
		for i := range 1000 {
			k.get("new-" + strconv.Itoa(i))
		}
		if got := k.len(); got != 100 {
			t.Fatalf("len() after 1000 inserts = %d, want the bound 100", got)
		}
	})
}
