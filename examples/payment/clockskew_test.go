package payment_test

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-go/gantry/examples/payment"
)

// TestSkewedReplicaCannotTakeOverALiveClaim: two payment replicas share one ledger,
// and one's clock is an hour ahead of the other's (another host, or a forward step).
// A charge is stuck at the acquirer on the first replica; a retry that reaches the
// ahead replica must see the claim as live (409 in flight, Retry-After the lease
// left), not as an hour old: the lease is measured on the database's clock. Once
// the first call answers, the retry replays it: one authorization, one ledger row.
// In both directions: the claim holder behind or ahead.
func TestSkewedReplicaCannotTakeOverALiveClaim(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range []struct {
			name                  string
			holderSkew, retrySkew time.Duration
		}{
			{"retry an hour ahead", 0, time.Hour},
			{"holder an hour ahead", time.Hour, 0},
		} {
			t.Run(tc.name, func(t *testing.T) { testSkewedReplica(t, b, tc.holderSkew, tc.retrySkew) })
		}
	})
}

func testSkewedReplica(t *testing.T, b backend, holderSkew, retrySkew time.Duration) {
	o := b.place(t)
	proc := &stalling{entered: make(chan struct{}), release: make(chan struct{})}
	o.proc, o.set = proc, payment.Settings{Lease: 10 * time.Second}
	skewed := func(d time.Duration) *clock {
		c := &clock{}
		c.ns.Store(time.Now().Add(d).UnixNano())
		return c
	}
	o.clock = skewed(holderSkew)
	holder := newEnv(t, o)
	o.clock = skewed(retrySkew)
	retry := newEnv(t, o)

	var released atomic.Bool
	t.Cleanup(func() {
		if released.CompareAndSwap(false, true) {
			close(proc.release)
		}
	})
	first := make(chan result, 1)
	go func() { first <- holder.charge(t, "k-skew", "order-skew", 1700) }()
	<-proc.entered // the holder owns the claim and waits for the acquirer

	r := retry.charge(t, "k-skew", "order-skew", 1700)
	wantProblem(t, r, http.StatusConflict)
	if ra := r.header.Get("Retry-After"); ra != "10" && ra != "9" {
		t.Errorf("Retry-After from the replica %v ahead = %q, want the lease left (10)", retrySkew-holderSkew, ra)
	}
	if n := proc.calls.Load(); n != 1 {
		t.Errorf("acquirer calls after the skewed retry = %d, want 1 (the claim is live)", n)
	}

	released.Store(true)
	close(proc.release)
	answer := <-first
	if answer.status != http.StatusCreated {
		t.Fatalf("the holder's charge = %d %s, want 201", answer.status, answer.body)
	}
	r = retry.charge(t, "k-skew", "order-skew", 1700)
	if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(r.body, answer.body) {
		t.Errorf("retry after the holder answered = %d replayed=%q %s, want the holder's answer replayed %s",
			r.status, r.header.Get("Idempotent-Replayed"), r.body, answer.body)
	}
	if n := proc.calls.Load(); n != 1 {
		t.Errorf("acquirer calls = %d, want 1", n)
	}
	if got := holder.ledger(t, "order_id = 'order-skew'"); got != 1 {
		t.Errorf("ledger rows = %d, want 1", got)
	}
}
