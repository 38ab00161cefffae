package resilience

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestBudgetRatioCapAndFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget("b", 0.1, 3, 10)
		// A calm spell banks at most 10 retries, plus the floor's burst of 3.
		for range 1000 {
			b.onRequest()
		}
		granted := 0
		for b.tryRetry() {
			granted++
		}
		if granted != 13 {
			t.Fatalf("retries after 1000 calm requests = %d, want 10 banked + 3 floor", granted)
		}
		// In a storm (every request fails and asks for a retry): 10% of the
		// requests, plus the floor's 3 per second.
		time.Sleep(time.Second)
		granted = 0
		for range 200 {
			b.onRequest()
			if b.tryRetry() {
				granted++
			}
		}
		if granted != 20+3 {
			t.Fatalf("retries for 200 failing requests = %d, want 20 + 3", granted)
		}
		if s := b.snapshot(); s.Requests != 1200 || s.Retries != 36 || s.Denied != 1+200-23 {
			t.Fatalf("Snapshot() = %+v, want 1200 requests, 36 retries, 178 denied", s)
		}
	})
}
