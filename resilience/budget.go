package resilience

import (
	"math"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// millis is the fixed-point scale of budget tokens: one retry costs 1000.
const millis = 1000

// Budget is a retry budget in the style of Finagle, Linkerd and Envoy: every request
// deposits Ratio of a retry token and every retry withdraws a whole one, so retries
// stay at most Ratio of requests (10% by default, which caps the load an outage adds
// at 1.1x, as the Google SRE book recommends). A small floor of MinPerSecond retries
// per second, drawn from an x/time/rate limiter, lets low-traffic clients still retry.
// Credit banked during calm periods is capped at MaxBanked retries, so a storm after a
// long calm spell gets at most that many extra retries.
//
// Deposits are one atomic add, without reading the clock. A Budget is safe for
// concurrent use and is shared by every request of the Retry that owns it.
type Budget struct {
	name     string
	ratio    float64
	deposit  int64
	cap      int64
	balance  atomic.Int64
	floor    *rate.Limiter
	requests atomic.Uint64
	retries  atomic.Uint64
	denied   atomic.Uint64
}

func newBudget(name string, ratio, minPerSecond float64, maxBanked int) *Budget {
	b := &Budget{name: name, ratio: ratio, deposit: int64(math.Round(ratio * millis)), cap: int64(maxBanked) * millis}
	if minPerSecond > 0 {
		b.floor = rate.NewLimiter(rate.Limit(minPerSecond), max(1, int(math.Ceil(minPerSecond))))
	}
	return b
}

// onRequest records a logical request and deposits its share of a retry.
func (b *Budget) onRequest() {
	b.requests.Add(1)
	if b.balance.Load() < b.cap {
		b.balance.Add(b.deposit)
	}
}

// tryRetry withdraws one retry; false means the budget is exhausted.
func (b *Budget) tryRetry() bool {
	for {
		cur := b.balance.Load()
		if cur < millis {
			break
		}
		if b.balance.CompareAndSwap(cur, cur-millis) {
			b.retries.Add(1)
			return true
		}
	}
	if b.floor != nil && b.floor.Allow() {
		b.retries.Add(1)
		return true
	}
	b.denied.Add(1)
	return false
}

// BudgetState is a retry budget's snapshot for the debug handler.
type BudgetState struct {
	Name      string  `json:"name"`
	Ratio     float64 `json:"ratio"`
	Available float64 `json:"available_retries"`
	Requests  uint64  `json:"requests"`
	Retries   uint64  `json:"retries"`
	Denied    uint64  `json:"denied"`
}

// Snapshot returns the budget's counters.
func (b *Budget) Snapshot() BudgetState {
	return BudgetState{Name: b.name, Ratio: b.ratio, Available: float64(b.balance.Load()) / millis,
		Requests: b.requests.Load(), Retries: b.retries.Load(), Denied: b.denied.Load()}
}
