package resilience

import (
	"math"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// millis is the fixed-point scale of budget tokens: one retry costs 1000.
const millis = 1000

// retryBudget is a retry budget in the style of Finagle, Linkerd and Envoy: every request
// deposits Ratio of a retry token and every retry withdraws a whole one, so retries
// stay at most Ratio of requests (10% by default, which caps the load an outage adds
// at 1.1x, as the Google SRE book recommends). A small floor of MinPerSecond retries
// per second, drawn from an x/time/rate limiter, lets low-traffic clients still retry.
// Credit banked during calm periods is capped at MaxBanked retries, so a storm after a
// long calm spell gets at most that many extra retries.
//
// A deposit is one atomic add, without reading the clock: the balance is computed
// when a retry asks for it (requests x deposit - spent), and credit above the cap is
// written off then. A retryBudget is safe for concurrent use and is shared by every
// request of the Retry that owns it.
type retryBudget struct {
	name     string
	ratio    float64
	deposit  int64
	cap      int64
	requests atomic.Int64
	spent    atomic.Int64 // milli-tokens withdrawn by retries or written off by the cap
	floor    *rate.Limiter
	retries  atomic.Uint64
	denied   atomic.Uint64
}

func newBudget(name string, ratio, minPerSecond float64, maxBanked int) *retryBudget {
	b := &retryBudget{name: name, ratio: ratio, deposit: int64(math.Round(ratio * millis)), cap: int64(maxBanked) * millis}
	if minPerSecond > 0 {
		b.floor = rate.NewLimiter(rate.Limit(minPerSecond), max(1, int(math.Ceil(minPerSecond))))
	}
	return b
}

// onRequest records a logical request, depositing its share of a retry.
func (b *retryBudget) onRequest() { b.requests.Add(1) }

// balance returns the available milli-tokens and the spent value it was computed
// from, after writing off credit above the cap.
func (b *retryBudget) balance() (avail, spent int64) {
	for {
		spent = b.spent.Load()
		avail = b.requests.Load()*b.deposit - spent
		if avail <= b.cap {
			return avail, spent
		}
		if b.spent.CompareAndSwap(spent, spent+avail-b.cap) {
			return b.cap, spent + avail - b.cap
		}
	}
}

// tryRetry withdraws one retry; false means the budget is exhausted.
func (b *retryBudget) tryRetry() bool {
	for {
		avail, spent := b.balance()
		if avail < millis {
			break
		}
		if b.spent.CompareAndSwap(spent, spent+millis) {
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

// BudgetState is a retry budget's snapshot for the debug handler. It is a plain value.
type BudgetState struct {
	Name      string  `json:"name"`
	Ratio     float64 `json:"ratio"`
	Available float64 `json:"available_retries"`
	Requests  uint64  `json:"requests"`
	Retries   uint64  `json:"retries"`
	Denied    uint64  `json:"denied"`
}

// snapshot returns the budget's counters.
func (b *retryBudget) snapshot() BudgetState {
	avail, _ := b.balance()
	return BudgetState{Name: b.name, Ratio: b.ratio, Available: float64(avail) / millis,
		Requests: uint64(b.requests.Load()), Retries: b.retries.Load(), Denied: b.denied.Load()}
}
